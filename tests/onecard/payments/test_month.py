"""One month for a payment, everywhere it is reported: the month is the Asia/Shanghai month of the day the
money moved. A payment the bank dates the 1st of a month is stored as 16:00 UTC on the last day of the month
before; every report must still file it under the 1st's month."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from onecard import dashboard
from onecard.payments.models import Batch, BatchLine
from onecard.people.models import Resident
from onecard.timeutil import SHANGHAI, local_today
from tests.fixtures_payments import PERIOD, parse_bank_file
from tests.onecard.payments.test_flow import API, post, run_to_approved
from tests.onecard.payments.test_value_dates import _answer, _import


def test_a_payment_dated_the_first_of_a_month_is_in_that_month_in_every_report(
        client, db, pay, pension_list, finance, citizen_login):
    first = local_today().replace(day=1)
    month = first.strftime("%Y-%m")
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    batch = r.json
    run_to_approved(client, pay, batch["id"])
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb)
    assert r.status_code == 200
    _, details, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok
    # Sent two days before the 1st (local), so the 1st is a date the bank may give.
    sent_local = datetime.combine(first - timedelta(days=2), time(10, 0), tzinfo=SHANGHAI)
    row = db.session.get(Batch, batch["id"])
    row.sent_at = sent_local.astimezone(UTC).replace(tzinfo=None)
    db.session.commit()
    ids = [int(d[1]) for d in details]
    r = _import(client, pay, batch, _answer(batch, details, {i: first for i in ids}), "month1")
    assert r.status_code == 200, r.json
    paid_fen = 18300 * len(ids)

    # Finance's supervision report (资金监管).
    sup = client.get(f"{API}/ledger/supervision", headers=finance.auth).json
    assert {x["month"] for x in sup} == {month}
    assert sum(x["paid_fen"] for x in sup) == paid_fen
    filtered = client.get(f"{API}/ledger/supervision?month={month}", headers=finance.auth).json
    assert sum(x["paid_fen"] for x in filtered) == paid_fen

    # The oversight statistics by month.
    stats = client.get(f"{API}/oversight/stats?dimension=month", headers=finance.auth).json
    by_month = {x["key"]: x for x in stats["dimensions"]["month"] if x["paid_fen"]}
    assert list(by_month) == [month] and by_month[month]["paid_fen"] == paid_fen

    # The console dashboard's amounts by month.
    board = dashboard.paid_by_month_and_project(_actor(finance))
    assert board["months"][-1] == month
    assert sum(values[-1] for _, values in board["projects"]) == paid_fen

    # The resident's own page.
    resident = db.session.get(Resident, db.session.get(BatchLine, ids[0]).resident_id)
    mine = client.get("/api/citizen/v1/subsidies", headers=citizen_login(resident)).json
    assert [x["date"][:7] for x in mine["items"]] == [month]


def _actor(staff):
    from onecard.staff import service as staff_service
    return staff_service.authenticate(staff.auth["Authorization"][7:], ip=None, channel="api")
