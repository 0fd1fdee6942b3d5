"""Returns after payment (退票/退汇) through the HTTP API: the bank sends a credited payment back; the ledger is
reversed (never edited), the line is owed again, the resident is told and sees it, the statistics show it, the
re-issue pays it once, and both batches reconcile."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.notices import service as notice_service
from onecard.notices.models import Notice
from onecard.oversight import stats
from onecard.payments import bankformats
from onecard.payments.models import ArrivalEvent, BatchLine, LedgerEntry, PaymentReturn
from onecard.timeutil import local_today
from tests.fixtures_payments import PERIOD, parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved
from tests.onecard.payments.test_races import race


def paid_batch(client, pay, *, fail=None):
    """The pension month created, approved, sent and answered (everyone paid, or ``fail`` names failing)."""
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    batch = r.json
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{batch['id']}/lines", headers=pay.operator.auth).json}
    run_to_approved(client, pay, batch["id"])
    data = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb).data
    _, details, _ = parse_bank_file(data, "gb18030", "|")
    failing = {lines[n]["id"]: "frozen" for n in (fail or [])}
    answer = result_file(bankformats.RCB, batch["number"], details, failing)
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "r"},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json
    return batch, lines


def give_back(client, staff, line_id, amount_fen=18300, *, key=None, **extra):
    body = {"line_id": line_id, "amount_fen": amount_fen, "reason": "账户已销户", "reason_code": "account_closed",
            "returned_on": local_today().isoformat(), **extra}
    return post(client, "/payment-returns", staff, idempotency_key=key or uuid.uuid4().hex, **body)


def test_a_returned_payment_is_reversed_owed_told_repaid_once_and_both_batches_reconcile(
        client, db, pay, pension_list, citizen_login):
    batch, lines = paid_batch(client, pay)
    wang = lines["王秀英"]
    # The resident saw the money arrive.
    auth = citizen_login(pay.people["王秀英"])
    before = client.get("/api/citizen/v1/subsidies", headers=auth).json
    assert before["year_total_fen"] == 18300 and before["items"][0]["outcome_label"] == "已到账"

    # 1. The bank reports the return (retried with the same key: one return).
    key = uuid.uuid4().hex
    r = give_back(client, pay.rcb, wang["id"], key=key)
    assert r.status_code == 201, r.json
    assert give_back(client, pay.rcb, wang["id"], key=key).json == r.json
    assert db.session.execute(sa.select(sa.func.count(PaymentReturn.id))).scalar() == 1

    # 2. The ledger has a reversal beside the untouched paid entry; the line is owed again with the reason.
    entries = db.session.execute(sa.select(LedgerEntry.outcome, LedgerEntry.amount_fen, LedgerEntry.failure_reason)
                                 .where(LedgerEntry.line_id == wang["id"]).order_by(LedgerEntry.id)).all()
    assert [(e.outcome, e.amount_fen) for e in entries] == [("paid", 18300), ("returned", 18300)]
    assert "账户已销户" in entries[1].failure_reason
    line = db.session.get(BatchLine, wang["id"])
    assert line.status == "returned" and "账户已销户" in line.failure_reason
    owed = client.get(f"{API}/owed-payments", headers=pay.operator.auth).json
    assert [(o["id"], o["status_label"]) for o in owed if o["id"] == wang["id"]] == [(wang["id"], "已退汇")]
    worklist = client.get(f"{API}/payment-failures", headers=pay.operator.auth).json
    assert wang["id"] in {f["id"] for f in worklist}
    audit = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "payment.returned")).scalar_one()
    assert audit.entity_id == str(wang["id"])

    # 3. The resident's page (API and H5) shows it came back, and the year's total is what they kept.
    page = client.get("/api/citizen/v1/subsidies", headers=auth).json
    assert page["year_total_fen"] == 0
    returned = next(i for i in page["items"] if i["outcome"] == "returned")
    assert returned["outcome_label"] == "已退回" and "银行" in returned["what_to_do"]
    # 4. A notice in plain words, on its own channel.
    events = db.session.execute(sa.select(ArrivalEvent).where(ArrivalEvent.kind == "return")).scalars().all()
    assert [e.payment_key for e in events] == [f"return:{wang['id']}"]
    notice_service.enqueue_arrivals()
    notice = db.session.execute(sa.select(Notice).where(Notice.channel == "sms_ret")).scalar_one()
    assert notice.resident_id == pay.people["王秀英"].id
    assert "被银行退回" in notice.body and "已销户" in notice.body and "183.00" in notice.body
    assert db.session.execute(sa.select(sa.func.count(Notice.id)).where(Notice.channel == "sms")).scalar() == 5
    # 5. Statistics show the returned money (the summary agrees with the ledger).
    figures = stats.compute(pay.finance.actor, ["project"])["project"]
    row = next(x for x in figures if x["key"] == str(pay.pension.id))
    assert (row["returned_count"], row["returned_fen"], row["paid_count"], row["failed_count"]) == (1, 18300, 5, 0)
    assert stats.compute(pay.finance.actor, ["project"], source="direct") == stats.compute(
        pay.finance.actor, ["project"])
    assert client.get(f"{API}/oversight/stats?dimension=town", headers=pay.finance.auth).status_code == 200

    # 6. The original batch reconciles with the return counted.
    r = post(client, f"/batches/{batch['id']}/reconcile", pay.operator)
    assert r.status_code == 200, r.json
    rec = r.json["reconciliation"]
    assert rec["balanced"] and rec["sent_count"] == rec["paid_count"] + rec["failed_count"] == 5
    assert (rec["returned_count"], rec["returned_repaid_count"], rec["received_fen"]) == (1, 0, 4 * 18300)

    # 7. Re-issued once the account is fixed: paid again, once; the original is superseded.
    r = post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    reissue = r.json
    assert post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD).status_code == 409
    assert db.session.get(BatchLine, wang["id"]).status == "superseded"
    run_to_approved(client, pay, reissue["id"])
    post(client, f"/batches/{reissue['id']}/bank-file", pay.rcb)
    rline = client.get(f"{API}/batches/{reissue['id']}/lines", headers=pay.operator.auth).json[0]
    r = post(client, f"/batches/{reissue['id']}/results", pay.rcb, batch_number=reissue["number"], count=1,
             total_fen=18300, results=[{"line_id": rline["id"], "amount_fen": 18300, "outcome": "paid"}])
    assert r.status_code == 200, r.json
    r = post(client, f"/batches/{reissue['id']}/reconcile", pay.operator)
    assert r.status_code == 200 and r.json["reconciliation"]["balanced"]
    rec = client.get(f"{API}/batches/{batch['id']}/reconciliation", headers=pay.finance.auth).json
    assert rec["balanced"] and (rec["returned_repaid_count"], rec["received_fen"]) == (1, 5 * 18300)
    kept = db.session.execute(sa.select(sa.func.sum(sa.case((LedgerEntry.outcome == "returned",
                                                              -LedgerEntry.amount_fen), else_=LedgerEntry.amount_fen)))
                              .where(LedgerEntry.resident_id == pay.people["王秀英"].id)).scalar()
    assert kept == 18300          # paid, returned, paid again: the month once
    assert client.get("/api/citizen/v1/subsidies", headers=auth).json["year_total_fen"] == 18300
    assert post(client, f"/batches/{batch['id']}/close", pay.finance).status_code == 200


def test_returns_are_refused_for_unpaid_lines_twice_other_banks_and_other_amounts(client, db, pay, pension_list):
    batch, lines = paid_batch(client, pay, fail=["张桂兰"])
    wang, zhang, held = lines["王秀英"], lines["张桂兰"], lines["孙玉凤"]
    r = give_back(client, pay.rcb, zhang["id"])       # failed: never paid
    assert r.status_code == 409 and r.json["error"]["code"] == "line_not_paid"
    r = give_back(client, pay.rcb, held["id"])        # held: never sent
    assert r.status_code == 409 and r.json["error"]["code"] == "line_not_paid"
    r = give_back(client, pay.abc, wang["id"])        # another bank: as if absent
    assert r.status_code == 404 and r.json["error"]["code"] == "line_not_found"
    r = give_back(client, pay.rcb, wang["id"], amount_fen=18200)
    assert r.status_code == 409 and r.json["error"]["code"] == "amount_mismatch"
    r = give_back(client, pay.rcb, wang["id"], returned_on=(local_today() + timedelta(days=1)).isoformat())
    assert r.status_code == 409 and r.json["error"]["code"] == "return_date_invalid"
    r = give_back(client, pay.operator, wang["id"])   # a department does not report returns
    assert r.status_code == 403
    r = post(client, "/payment-returns", pay.rcb, line_id=wang["id"], amount_fen=18300)
    assert r.status_code == 422
    r = client.post(API + "/payment-returns", headers=pay.rcb.auth, json={
        "line_id": wang["id"], "amount_fen": 18300, "reason": "x", "returned_on": local_today().isoformat()})
    assert r.status_code == 422 and r.json["error"]["code"] == "idempotency_key_required"
    assert give_back(client, pay.rcb, wang["id"]).status_code == 201
    r = give_back(client, pay.rcb, wang["id"])        # twice
    assert r.status_code == 409 and r.json["error"]["code"] == "already_returned"
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))
                              .where(LedgerEntry.outcome == "returned")).scalar() == 1


def _csv(rows):
    text = "明细号,金额,退汇原因代码,退汇原因,退汇日期\r\n" + "".join(",".join(map(str, r)) + "\r\n" for r in rows)
    return text.encode("utf-8-sig")


def test_a_return_file_is_taken_whole_or_refused_whole(client, db, pay, pension_list):
    batch, lines = paid_batch(client, pay)
    today = local_today().isoformat()
    good = [lines["王秀英"]["id"], "183.00", "account_frozen", "入账后账户冻结", today]
    bad = [lines["李建国"]["id"], "180.00", "", "户名不符", today]

    def upload(rows, key):
        return client.post(f"{API}/payment-returns/file", headers={**pay.rcb.auth, "Idempotency-Key": key},
                           data={"file": (io.BytesIO(_csv(rows)), "退汇.csv")})
    r = upload([good, bad], "f1")
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"
    assert r.json["error"]["details"]["errors"][0]["row"] == 3
    assert db.session.execute(sa.select(sa.func.count(PaymentReturn.id))).scalar() == 0
    assert db.session.get(BatchLine, lines["王秀英"]["id"]).status == "paid"
    r = upload([good], "f2")
    assert r.status_code == 201, r.json
    assert [x["line_id"] for x in r.json["returns"]] == [lines["王秀英"]["id"]]
    assert r.json["returns"][0]["source"] == "file"
    assert db.session.get(BatchLine, lines["王秀英"]["id"]).status == "returned"
    r = client.post(f"{API}/payment-returns/file", headers={**pay.rcb.auth, "Idempotency-Key": "f3"},
                    data={"file": (io.BytesIO(b"a,b\r\n1,2\r\n"), "x.csv")})
    assert r.status_code == 422 and r.json["error"]["field"] == "file"


def test_two_return_reports_of_one_line_at_once_reverse_it_once(app, client, db, pay, pension_list):
    batch, lines = paid_batch(client, pay)
    line_id = lines["王秀英"]["id"]
    body = {"line_id": line_id, "amount_fen": 18300, "reason": "账户已销户", "returned_on": local_today().isoformat()}
    results = race(app, [("/payment-returns", pay.rcb.auth, {**body, "idempotency_key": uuid.uuid4().hex}),
                         ("/payment-returns", pay.rcb.auth, {**body, "idempotency_key": uuid.uuid4().hex})])
    assert sorted(s for s, _ in results) == [201, 409], results
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id)).where(LedgerEntry.outcome == "returned",
                                                                            LedgerEntry.line_id == line_id)).scalar() == 1
    assert db.session.execute(sa.select(sa.func.count(ArrivalEvent.id)).where(ArrivalEvent.kind == "return")).scalar() == 1


def test_a_cancelled_reissue_gives_the_return_back_and_the_department_may_write_it_off(client, db, pay, pension_list):
    batch, lines = paid_batch(client, pay)
    wang = lines["王秀英"]["id"]
    assert give_back(client, pay.rcb, wang).status_code == 201
    reissue = post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD).json
    assert db.session.get(BatchLine, wang).status == "superseded"
    assert post(client, f"/batches/{reissue['id']}/cancel", pay.operator).status_code == 200
    assert db.session.get(BatchLine, wang).status == "returned"        # owed again, not "failed"
    r = post(client, f"/owed-payments/{wang}/cancel", pay.rcb, reason="x")
    assert r.status_code == 403
    r = post(client, f"/owed-payments/{wang}/cancel", pay.operator, reason="经核实本人已于当月死亡，不再补发")
    assert r.status_code == 200 and r.json["status"] == "written_off"
    # Written off, it stays in its batch's totals: the batch still reconciles.
    rec = post(client, f"/batches/{batch['id']}/reconcile", pay.operator)
    assert rec.status_code == 200 and rec.json["reconciliation"]["balanced"]
    assert post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD).status_code == 409
