"""The statistics summaries: the report read from them equals the report aggregated straight from the ledger
and the lists, after failures, re-issues, re-matching, card changes, withdrawals and a rebuild."""
from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from onecard.actors import SYSTEM
from onecard.cards.models import Card
from onecard.lists.models import RecipientList
from onecard.oversight import stats, summary
from onecard.oversight.models import LedgerStat, ListStatState
from onecard.payments import bankformats
from onecard.timeutil import utcnow
from tests.factories import make_card, make_resident
from tests.fixtures_payments import PERIOD, parse_bank_file


def same(actor=SYSTEM) -> dict:
    from_summary = stats.compute(actor)
    assert from_summary == stats.compute(actor, source="direct")
    return from_summary


def age_cards(db):
    """Card changes older than the refresh margin (a fresh fixture's cards were all written just now)."""
    db.session.execute(sa.update(Card).values(status_changed_at=utcnow() - timedelta(days=2)))
    db.session.commit()


def by_key(report, dim):
    return {r["key"]: r for r in report[dim]}


def test_summary_report_equals_direct_aggregation(db, ov, county, make_staff):
    t0, t1 = county["towns"]
    v0, v1 = county["villages"]
    r1, r2 = make_resident(t0, v0, name="张三明"), make_resident(t0, v0, name="李四光")
    r3, r4 = make_resident(t1, None, name="王五"), make_resident(t1, v1, name="赵六一")
    make_card(r1, ov.bank(), "active")
    card2 = make_card(r2, ov.bank(), "issued")
    make_card(r4, ov.bank(), "active")
    a = ov.project("县民政局", "高龄津贴")
    b = ov.project("县残疾人联合会", "重度残疾人护理补贴")
    la = ov.recipient_list(a, "2026-03", [(r1, 10000, "usable"), (r2, 10000, "not_activated"),
                                          (r3, 10000, "not_applied")])
    ov.recipient_list(b, "2026-03", [(r4, 9000, "usable")])
    ov.pay(r1, a, "2026-03", 10000, batch_id=1)
    failed = ov.pay(r2, a, "2026-03", 10000, batch_id=1, outcome="failed", failure_code="E01",
                    failure_reason="账户未激活")
    ov.pay(r3, a, "2026-03", 10000, batch_id=1, outcome="failed", failure_reason="户名不符")
    report = same()
    assert db.session.execute(sa.select(sa.func.count()).select_from(LedgerStat)).scalar() > 0

    # A re-issue, a payment in another month (local time crosses midnight) and one without a village.
    ov.pay(r2, a, "2026-03", 10000, batch_id=2, reissue_of=failed.line_id, approved_at=datetime(2026, 3, 10),
           occurred_at=datetime(2026, 3, 11, 7, 33, 20))
    ov.pay(r3, a, "2026-04", 10000, batch_id=4, occurred_at=datetime(2026, 4, 30, 17, 0), approved_at=None)
    ov.pay(r4, b, "2026-03", 9000, batch_id=3, occurred_at=datetime(2026, 3, 5, 2, 0))
    report = same()
    dept = by_key(report, "department")[str(ov.dept("县民政局"))]
    assert (dept["batches"], dept["paid_count"], dept["failed_count"], dept["reissued_paid"]) == (3, 3, 2, 1)
    assert "2026-05" in by_key(report, "month") and "none" in by_key(report, "village")
    assert sorted((f["code"], f["count"]) for f in dept["failures"]) == [("", 1), ("E01", 1)]

    # The per-list summaries, then every kind of change they must notice.
    assert summary.refresh_lists() == 2
    db.session.commit()
    assert summary.fresh_lists() == set()       # cards written within the margin before the refresh
    age_cards(db)
    assert summary.refresh_lists() == 0
    assert summary.fresh_lists() == {la.id, la.id + 1}
    assert same() == report
    card2.status, card2.status_changed_at = "active", utcnow()        # activated after the refresh
    db.session.commit()
    assert summary.fresh_lists() == {la.id + 1}
    assert by_key(same(), "department")[str(ov.dept("县民政局"))]["activated"] == 2
    db.session.execute(sa.update(RecipientList).where(RecipientList.id == la.id + 1)
                       .values(status="withdrawn", matched_at=utcnow()))
    db.session.commit()
    assert summary.fresh_lists() == set()
    assert str(ov.dept("县残疾人联合会")) not in {k for k, v in by_key(same(), "department").items()
                                                   if v["recipients"]}
    age_cards(db)     # (pretends the activation was older than the margin: so refresh everything)
    assert summary.refresh_lists(everything=True) == 2
    db.session.commit()
    assert summary.fresh_lists() == {la.id, la.id + 1}
    same()

    # A department sees the same figures for its own projects, from either source.
    operator = make_staff("dept_operator", department_id=ov.dept("县民政局"))
    assert set(by_key(same(operator.actor), "department")) == {str(ov.dept("县民政局"))}

    # A rebuild from scratch gives the same figures.
    age_cards(db)
    summary.rebuild()
    db.session.commit()
    assert same() == stats.compute(SYSTEM, source="direct")
    assert db.session.execute(sa.select(sa.func.count()).select_from(ListStatState)).scalar() == 2


def test_list_summary_older_than_the_margin_notices_card_changes(db, ov, county):
    t0, _ = county["towns"]
    v0, _ = county["villages"]
    r1 = make_resident(t0, v0)
    card = make_card(r1, ov.bank(), "issued")
    a = ov.project()
    lst = ov.recipient_list(a, "2026-03", [(r1, 10000, "not_activated")])
    summary.refresh_lists()
    db.session.execute(sa.update(ListStatState).values(cards_as_of=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert summary.fresh_lists() == set()          # the card was written within the margin: not trusted
    summary.refresh_lists()
    age_cards(db)
    db.session.execute(sa.update(ListStatState).values(cards_as_of=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert summary.fresh_lists() == {lst.id}
    card.status, card.status_changed_at = "active", utcnow()
    db.session.commit()
    assert summary.fresh_lists() == set()
    assert same()["project"][0]["activated"] == 1


def _post(client, url, staff, **body):
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    return client.post("/api/staff/v1" + url, headers=staff.auth, json=body)


def test_payments_import_and_reissue_keep_the_summary_exact(client, db, pay, pension_list):
    """The hook in the payments service: a real import with a failure, then the re-issue's import."""
    r = _post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026年10月")
    batch = r.json
    for url, who in (("submit", pay.operator), ("review", pay.reviewer), ("approve", pay.finance)):
        assert _post(client, f"/batches/{batch['id']}/{url}", who).status_code == 200
    r = _post(client, f"/batches/{batch['id']}/bank-file", pay.rcb)
    _, details, _ = parse_bank_file(r.data, "gb18030", "|")
    failed_id = int(details[0][1])
    answer = bankformats.write_result_file(bankformats.RCB, batch["number"], [
        (int(d[1]), int(d[4].replace(".", "")), "F" if int(d[1]) == failed_id else "S",
         "frozen" if int(d[1]) == failed_id else "", "") for d in details])
    r = client.post(f"/api/staff/v1/batches/{batch['id']}/result-file",
                    headers={**pay.rcb.auth, "Idempotency-Key": "res1"},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json
    report = same()
    assert sum(x["paid_count"] for x in report["department"]) == len(details) - 1
    from onecard.payments.models import BatchLine
    line = db.session.get(BatchLine, failed_id)
    card = db.session.execute(sa.select(Card).where(Card.resident_id == line.resident_id)).scalar_one()
    card.status = "cancelled"
    db.session.commit()
    make_card(db.session.get(type(pay.people["张桂兰"]), line.resident_id), pay.county["banks"]["RCB"])
    r = _post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    reissue = r.json
    for url, who in (("submit", pay.operator), ("review", pay.reviewer), ("approve", pay.finance)):
        assert _post(client, f"/batches/{reissue['id']}/{url}", who).status_code == 200
    _post(client, f"/batches/{reissue['id']}/bank-file", pay.rcb)
    rline = client.get(f"/api/staff/v1/batches/{reissue['id']}/lines", headers=pay.operator.auth).json[0]
    r = _post(client, f"/batches/{reissue['id']}/results", pay.rcb, batch_number=reissue["number"], count=1,
              total_fen=rline["amount_fen"], results=[{"line_id": rline["id"], "amount_fen": rline["amount_fen"],
                                                       "outcome": "paid"}])
    assert r.status_code == 200, r.json
    report = same()
    dept = by_key(report, "department")[str(pay.pension.department_id)]
    assert (dept["paid_count"], dept["failed_count"], dept["reissued_paid"], dept["batches"]) == \
        (len(details), 1, 1, 2)


def test_rebuild_command_and_check(app, db, ov, county):
    t0, _ = county["towns"]
    v0, _ = county["villages"]
    r1 = make_resident(t0, v0)
    a = ov.project()
    ov.recipient_list(a, "2026-03", [(r1, 10000, "usable")])
    ov.pay(r1, a, "2026-03", 10000)
    from onecard.oversight.cli import rebuild_summary_command
    result = app.test_cli_runner().invoke(rebuild_summary_command, [])
    assert result.exit_code == 0, result.output
    assert '"lists": 1' in result.output
    db.session.execute(sa.update(LedgerStat).values(paid_n=LedgerStat.paid_n + 1))   # damage it
    db.session.commit()
    result = app.test_cli_runner().invoke(rebuild_summary_command, ["--check"])
    assert result.exit_code == 1 and '"consistent": false' in result.output
    assert app.test_cli_runner().invoke(rebuild_summary_command, []).exit_code == 0
    assert '"consistent": true' in app.test_cli_runner().invoke(rebuild_summary_command, ["--check"]).output
