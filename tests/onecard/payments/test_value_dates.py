"""The bank's own date on its results (入账日期): the ledger, the arrival notice and the resident see when the
money actually moved, not when the bureau got round to importing the file."""
from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa

from onecard.payments import bankformats
from onecard.payments.models import ArrivalEvent, Batch, BatchLine, LedgerEntry
from onecard.people.models import Resident
from onecard.timeutil import local_today, to_local, utcnow
from tests.fixtures_payments import PERIOD, parse_bank_file
from tests.onecard.payments.test_flow import API, post, run_to_approved


def _sent_batch(client, db, pay, *, days_ago: int):
    """The pension batch, exported by the bank ``days_ago`` days before today (local)."""
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    batch = r.json
    run_to_approved(client, pay, batch["id"])
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb)
    assert r.status_code == 200
    _, details, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok
    # The file went to the bank some days ago; the results come back today.
    row = db.session.get(Batch, batch["id"])
    row.sent_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return batch, details, row.sent_at


def _answer(batch, details, dates: dict[int, object], *, fail: dict[int, str] | None = None) -> bytes:
    fail = fail or {}
    return bankformats.write_result_file(bankformats.RCB, batch["number"], [
        (int(d[1]), int(d[4].replace(".", "")), "F" if int(d[1]) in fail else "S", fail.get(int(d[1]), ""), "",
         dates.get(int(d[1]))) for d in details])


def _import(client, pay, batch, data: bytes, key: str):
    return client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": key},
                       data={"file": (io.BytesIO(data), "result.txt")})


def test_the_banks_value_date_is_when_the_ledger_says_the_money_moved(client, db, pay, pension_list, citizen_login):
    batch, details, sent_at = _sent_batch(client, db, pay, days_ago=3)
    ids = [int(d[1]) for d in details]
    sent_day, today = to_local(sent_at).date(), local_today()
    dates = {ids[0]: sent_day + timedelta(days=1), ids[1]: sent_day, ids[2]: today}   # ids[3], ids[4]: no date
    before = utcnow()
    r = _import(client, pay, batch, _answer(batch, details, dates, fail={ids[2]: "frozen"}), "vd1")
    assert r.status_code == 200, r.json
    entries = {e.line_id: e for e in db.session.execute(sa.select(LedgerEntry)).scalars()}
    # A later day: that day's start, local time.
    assert to_local(entries[ids[0]].occurred_at).date() == sent_day + timedelta(days=1)
    assert to_local(entries[ids[0]].occurred_at).strftime("%H:%M") == "00:00"
    # The day the file was sent: not before it was sent.
    assert entries[ids[1]].occurred_at == sent_at
    # A refusal carries its date too; no date at all keeps the import's time.
    assert to_local(entries[ids[2]].occurred_at).date() == today and entries[ids[2]].outcome == "failed"
    for line_id in ids[3:]:
        assert entries[line_id].occurred_at >= before
    # The import itself is still recorded as now, for every line.
    assert all(e.recorded_at >= before for e in entries.values())
    # The arrival notice says the bank's day; the line shows it to staff.
    events = {int(e.payment_key.split(":")[1]): e for e in db.session.execute(sa.select(ArrivalEvent)).scalars()}
    assert events[ids[0]].paid_at == entries[ids[0]].occurred_at and ids[2] not in events
    lines = {x["id"]: x for x in client.get(f"{API}/batches/{batch['id']}/lines", headers=pay.operator.auth).json}
    assert lines[ids[0]]["bank_date"] == (sent_day + timedelta(days=1)).isoformat()
    assert lines[ids[3]]["bank_date"] is None
    # The resident sees the day the bank paid.
    resident = db.session.get(Resident, db.session.get(BatchLine, ids[0]).resident_id)
    mine = client.get("/api/citizen/v1/subsidies", headers=citizen_login(resident)).json
    assert [x["date"] for x in mine["items"]] == [(sent_day + timedelta(days=1)).isoformat()]


def test_a_value_date_outside_sent_day_to_today_refuses_the_whole_file(client, db, pay, pension_list):
    batch, details, sent_at = _sent_batch(client, db, pay, days_ago=2)
    ids = [int(d[1]) for d in details]
    sent_day = to_local(sent_at).date()
    for n, wrong in enumerate((sent_day - timedelta(days=1), local_today() + timedelta(days=1))):
        r = _import(client, pay, batch, _answer(batch, details, {ids[1]: wrong}), f"bad{n}")
        assert r.status_code == 409 and r.json["error"]["code"] == "result_rejected", r.json
        assert f"第3行入账日期 {wrong.isoformat()} 不在代发文件发送之日" in r.json["error"]["message"]
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar() == 0
    assert db.session.get(Batch, batch["id"]).status == "sent"


def test_a_malformed_value_date_is_named_by_its_line(client, db, pay, pension_list):
    batch, details, _ = _sent_batch(client, db, pay, days_ago=1)
    good = _answer(batch, details, {}).decode("gb18030").split("\r\n")
    good[2] += "|2026-11-05"       # the second detail line, a date in the wrong form
    body = "\r\n".join(good[1:]).encode("gb18030")
    import hashlib
    header = good[0].split("|")
    header[4] = hashlib.sha256(body).hexdigest()
    r = _import(client, pay, batch, ("|".join(header) + "\r\n").encode("gb18030") + body, "fmt")
    assert r.status_code == 422 and r.json["error"]["message"] == "第3行入账日期应为8位日期，如 20261105"
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar() == 0


def test_the_bank_api_takes_the_value_date_too(client, db, pay, pension_list):
    batch, details, sent_at = _sent_batch(client, db, pay, days_ago=1)
    results = [{"line_id": int(d[1]), "amount_fen": int(d[4].replace(".", "")), "outcome": "paid",
                "value_date": to_local(sent_at).date().isoformat()} for d in details]
    body = {"batch_number": batch["number"], "count": len(results), "total_fen": sum(x["amount_fen"] for x in results)}
    r = post(client, f"/batches/{batch['id']}/results", pay.rcb, **body,
             results=[{**results[0], "value_date": "2026-02-30"}, *results[1:]])
    assert r.status_code == 422 and r.json["error"]["field"] == "results.0.value_date"
    r = post(client, f"/batches/{batch['id']}/results", pay.rcb, **body, results=results)
    assert r.status_code == 200, r.json
    assert {e.occurred_at for e in db.session.execute(sa.select(LedgerEntry)).scalars()} == {sent_at}
