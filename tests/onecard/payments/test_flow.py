"""A department pays a month of 城乡居民基础养老金 and a household subsidy end to end, through the HTTP API."""
from __future__ import annotations

import io
import uuid

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.payments import bankformats
from onecard.payments.models import ArrivalEvent, BatchLine, LedgerEntry
from tests.fixtures_payments import PERIOD, make_list, parse_bank_file

API = "/api/staff/v1"


def post(client, url, staff, **body):
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    return client.post(API + url, headers=staff.auth, json=body)


def run_to_approved(client, pay, batch_id, operator=None, reviewer=None):
    operator, reviewer = operator or pay.operator, reviewer or pay.reviewer
    for url, who in (("submit", operator), ("review", reviewer), ("approve", pay.finance)):
        r = post(client, f"/batches/{batch_id}/{url}", who)
        assert r.status_code == 200, r.json
    return r.json


def result_file(layout, number, details, fail: dict[int, str]):
    """details: rows of the payment file -> the bank's answer, failing the line ids in ``fail``."""
    money = lambda s: layout.parse_money(s, "")  # noqa: E731
    return bankformats.write_result_file(layout, number, [
        (int(d[1]), money(d[4]), "F" if int(d[1]) in fail else "S", fail.get(int(d[1]), ""), "")
        for d in details])


def test_department_pays_a_month_with_failures_reissue_and_reconciliation(client, db, pay, pension_list):
    # 1. The operator creates the batch: usable people routed, the rest held with the reason.
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026年10月")
    assert r.status_code == 201, r.json
    batch = r.json
    assert batch["status"] == "draft" and batch["line_count"] == 5 and batch["held_count"] == 2
    assert batch["total_fen"] == 5 * 18300
    lines = client.get(f"{API}/batches/{batch['id']}/lines", headers=pay.operator.auth).json
    by_name = {x["name"]: x for x in lines}
    assert by_name["王秀英"]["route"] == "own_card" and by_name["王秀英"]["account_masked"].endswith(
        by_name["王秀英"]["account_masked"][-4:])
    assert by_name["周明华"]["route"] == "proxy" and by_name["周明华"]["payee_name"] == "周海燕"
    assert "法定代管代持人" in by_name["周明华"]["route_reason"]
    assert by_name["孙玉凤"]["status"] == "held" and "挂失" in by_name["孙玉凤"]["route_reason"]
    assert by_name["无此人"]["status"] == "held"

    # 2. Submit, review, approve (three different people).
    approved = run_to_approved(client, pay, batch["id"])
    assert approved["status"] == "approved" and approved["submitted_fen"] == 5 * 18300

    # 3. Only the agent bank (RCB) may export; the file is GB18030, pipe-separated, with a checksum.
    assert post(client, f"/batches/{batch['id']}/bank-file", pay.abc).status_code == 404
    key = uuid.uuid4().hex
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb, idempotency_key=key)
    assert r.status_code == 200, r.data[:300]
    data = r.data
    header, details, ok = parse_bank_file(data, "gb18030", "|")
    assert ok and header[0] == "HEAD" and header[1] == batch["number"] and header[2] == "5"
    assert header[3] == "915.00" and len(details) == 5
    assert post(client, f"/batches/{batch['id']}/bank-file", pay.rcb, idempotency_key=key).data == data
    assert client.get(f"{API}/batches/{batch['id']}", headers=pay.rcb.auth).json["status"] == "sent"

    # 4. The bank answers: 张桂兰's account is frozen.
    failed_id = by_name["张桂兰"]["id"]
    answer = result_file(bankformats.RCB, batch["number"], details, {failed_id: "frozen"})
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "res1"},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "feedback_received" and r.json["paid_count"] == 4 and r.json["failed_count"] == 1
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar() == 5
    events = db.session.execute(sa.select(ArrivalEvent)).scalars().all()
    assert len(events) == 4 and all(e.payment_key.startswith("line:") for e in events)
    assert {e.amount_fen for e in events} == {18300}
    # A replayed import (same key) changes nothing.
    r2 = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "res1"},
                     data={"file": (io.BytesIO(answer), "result.txt")})
    assert r2.status_code == 200 and db.session.execute(sa.select(sa.func.count(ArrivalEvent.id))).scalar() == 4

    # 5. The worklist shows the failure with the bank's reason; re-issue is refused until the account is fixed.
    fails = client.get(f"{API}/payment-failures", headers=pay.operator.auth).json
    assert [f["id"] for f in fails] == [failed_id] and "账户冻结" in fails[0]["failure_reason"]
    assert client.get(f"{API}/payment-failures", headers=pay.agri_operator.auth).json == []
    from onecard.cards.models import Card
    card = db.session.execute(sa.select(Card).where(Card.resident_id == pay.people["张桂兰"].id)).scalar_one()
    card.status = "lost"
    db.session.commit()
    r = post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 409 and r.json["error"]["code"] == "nothing_to_reissue"
    # The card is replaced (补换卡): the old one cancelled, a new one active.
    card.status = "cancelled"
    db.session.commit()
    from tests.factories import make_card
    new_card = make_card(pay.people["张桂兰"], pay.county["banks"]["RCB"])
    r = post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    reissue = r.json
    assert reissue["kind"] == "reissue" and reissue["line_count"] == 1 and reissue["total_fen"] == 18300
    rlines = client.get(f"{API}/batches/{reissue['id']}/lines", headers=pay.operator.auth).json
    assert rlines[0]["reissue_of_line_id"] == failed_id
    assert db.session.get(BatchLine, rlines[0]["id"]).account_last4 == new_card.account_last4
    assert db.session.get(BatchLine, failed_id).status == "superseded"
    run_to_approved(client, pay, reissue["id"])
    r = post(client, f"/batches/{reissue['id']}/bank-file", pay.rcb)
    _, rdetails, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok and len(rdetails) == 1
    # The bank answers through the API this time.
    r = post(client, f"/batches/{reissue['id']}/results", pay.rcb, batch_number=reissue["number"], count=1,
             total_fen=18300, results=[{"line_id": rlines[0]["id"], "amount_fen": 18300, "outcome": "paid"}])
    assert r.status_code == 200, r.json

    # 6. Both batches reconcile to the fen; the ledger and the supervision report agree.
    for b in (batch["id"], reissue["id"]):
        r = post(client, f"/batches/{b}/reconcile", pay.operator)
        assert r.status_code == 200, r.json
        rec = r.json["reconciliation"]
        assert rec["sent_count"] == rec["paid_count"] + rec["failed_count"]
        assert rec["sent_fen"] == rec["paid_fen"] + rec["failed_fen"] == rec["ledger_fen"]
        assert post(client, f"/batches/{b}/close", pay.finance).json["status"] == "closed"
    paid = db.session.execute(sa.select(sa.func.sum(LedgerEntry.amount_fen))
                              .where(LedgerEntry.outcome == "paid")).scalar()
    assert paid == 5 * 18300        # everyone routed was paid exactly once for the month
    assert db.session.execute(sa.select(sa.func.count(ArrivalEvent.id))).scalar() == 5
    sup = client.get(f"{API}/ledger/supervision", headers=pay.finance.auth).json
    assert sum(r["paid_fen"] for r in sup) == 5 * 18300 and sum(r["failed_count"] for r in sup) == 1
    x = client.get(f"{API}/ledger/export.xlsx?project_id={pay.pension.id}", headers=pay.operator.auth)
    assert x.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(x.data)).get_sheet_by_index(0).to_python()
    assert len(rows) == 1 + 6 and rows[0][0] == "项目编码"
    assert client.get(f"{API}/ledger/export.xlsx", headers=pay.agri_operator.auth).status_code == 200
    x = client.get(f"{API}/ledger/supervision.xlsx", headers=pay.finance.auth)
    assert x.status_code == 200
    assert client.get(f"{API}/ledger/supervision.xlsx", headers=pay.operator.auth).status_code == 403


def test_household_subsidy_goes_to_head_card_or_passbook_in_the_parallel_period(client, db, pay):
    p = pay.people
    make_list(pay.household, [(p["孔德福"], 12050, "usable"), (p["颜庆云"], 8800, "not_activated")])
    r = post(client, "/batches", pay.agri_operator, project_id=pay.household.id, period=PERIOD)
    assert r.status_code == 201, r.json
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{r.json['id']}/lines",
                                                headers=pay.agri_operator.auth).json}
    assert lines["孔德福"]["route"] == "head_card"
    assert lines["颜庆云"]["route"] == "passbook" and "一本通" in lines["颜庆云"]["route_reason"]
    run_to_approved(client, pay, r.json["id"], pay.agri_operator, pay.agri_reviewer)
    f = post(client, f"/batches/{r.json['id']}/bank-file", pay.abc)
    header, details, ok = parse_bank_file(f.data, "gbk", ",")
    assert ok and header[0] == "H" and header[3] == str(12050 + 8800)


def test_household_member_listed_is_paid_to_the_head(client, db, pay):
    p = pay.people
    make_list(pay.household, [(p["孔春生"], 5000, "usable")])
    r = post(client, "/batches", pay.agri_operator, project_id=pay.household.id, period=PERIOD)
    line = client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.agri_operator.auth).json[0]
    assert line["route"] == "head_card" and line["payee_name"] == "孔德福"


def test_batch_creation_is_driven_from_the_list_not_from_every_card_in_the_county(client, db, pay, pension_list):
    """A planner trap found at a million lines: the set-based INSERT ... SELECT must look each listed person's
    card up by resident, never walk the cards table (SQLite plans without statistics here)."""
    import pytest
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from statistics; the trap was SQLite's")
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO BATCH_LINES") and "SELECT" in statement.upper():
            seen.append((statement, parameters))
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD).status_code == 201
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert seen, "batch creation no longer inserts set-based"
    for statement, parameters in seen:
        select = statement[statement.upper().index("SELECT"):]
        plan = [row[-1] for row in db.session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + select, tuple(parameters)).all()]
        assert not any(step.startswith(("SCAN c", "SCAN cards")) or "ix_cards_status" in step for step in plan), plan
        assert any("cards" in step or step.startswith("SEARCH c ") for step in plan), plan
