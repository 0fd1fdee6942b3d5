"""Races with real concurrency: threads with their own app context and session, started by a barrier.

Each asserts on the database afterwards; they run on SQLite and PostgreSQL.
"""
from __future__ import annotations

import io
import threading
import uuid

import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.extensions import db as _db
from onecard.payments import bankformats
from onecard.payments.models import ArrivalEvent, Batch, BatchLine, LedgerEntry
from tests.fixtures_payments import PERIOD, parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved


def race(app, calls):
    """calls: (url, headers, json) posted at the same moment from separate threads; returns (status, json)."""
    _db.session.commit()
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(i, url, headers, body):
        with app.app_context():
            client = app.test_client()
            try:
                barrier.wait(timeout=20)
                r = client.post(API + url, headers=headers, json=body)
                results[i] = (r.status_code, r.get_json())
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results[i] = (0, repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _db.session.expire_all()
    return results


def _count(stmt):
    return _db.session.execute(stmt).scalar()


def _created(client, pay):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    return r.json


def test_two_finance_staff_approving_at_once_approve_once(app, client, db, pay, pension_list, make_staff):
    b = _created(client, pay)
    post(client, f"/batches/{b['id']}/submit", pay.operator)
    post(client, f"/batches/{b['id']}/review", pay.reviewer)
    other = make_staff("finance", "finance_2")
    results = race(app, [(f"/batches/{b['id']}/approve", s.auth, {"idempotency_key": uuid.uuid4().hex})
                         for s in (pay.finance, other)])
    assert sorted(r[0] for r in results) == [200, 409], results
    assert _count(sa.select(sa.func.count()).where(AuditEntry.action == "batch.approved")) == 1
    assert db.session.get(Batch, b["id"]).status == "approved"


def test_double_click_submit_with_one_key_submits_once(app, client, db, pay, pension_list):
    b = _created(client, pay)
    body = {"idempotency_key": "double-click"}
    results = race(app, [(f"/batches/{b['id']}/submit", pay.operator.auth, body)] * 3)
    assert [r[0] for r in results] == [200, 200, 200], results
    assert results[0][1] == results[1][1] == results[2][1]
    assert _count(sa.select(sa.func.count()).where(AuditEntry.action == "batch.submitted")) == 1


def test_two_batches_created_at_once_from_one_list_pay_each_person_once(app, client, db, pay, pension_list,
                                                                       make_staff):
    other = make_staff("dept_operator", "rs_jb2", department_id=pay.operator.department_id)
    body = {"project_id": pay.pension.id, "period": PERIOD}
    results = race(app, [("/batches", s.auth, {**body, "idempotency_key": uuid.uuid4().hex})
                         for s in (pay.operator, other)])
    assert sorted(r[0] for r in results) == [201, 409], results
    assert _count(sa.select(sa.func.count(Batch.id))) == 1
    live = _db.session.execute(sa.select(BatchLine.resident_id, sa.func.count()).where(
        BatchLine.status.in_(("pending", "sent", "paid", "failed"))).group_by(BatchLine.resident_id)).all()
    assert len(live) == 5 and all(n == 1 for _, n in live)


def test_two_exports_at_once_send_the_batch_once(app, client, db, pay, pension_list, make_staff):
    b = _created(client, pay)
    run_to_approved(client, pay, b["id"])
    other = make_staff("bank_operator", "bank_rcb2", bank_id=pay.rcb.bank_id)
    results = race(app, [(f"/batches/{b['id']}/bank-file", s.auth, {"idempotency_key": uuid.uuid4().hex})
                         for s in (pay.rcb, other)])
    assert sorted(r[0] for r in results) == [200, 409], results
    # the second click is told the batch was already exported, not that the file's totals are wrong (issue #16)
    refused = next(body for status, body in results if status == 409)
    assert refused["error"]["code"] == "batch_already_sent" and "已导出" in refused["error"]["message"], refused
    assert _count(sa.select(sa.func.count()).where(AuditEntry.action == "batch.sent")) == 1


def _failed_batch(client, pay):
    b = _created(client, pay)
    run_to_approved(client, pay, b["id"])
    r = post(client, f"/batches/{b['id']}/bank-file", pay.rcb)
    _, details, _ = parse_bank_file(r.data, "gb18030", "|")
    failed = int(details[0][1])
    answer = result_file(bankformats.RCB, b["number"], details, {failed: "frozen"})
    r = client.post(f"{API}/batches/{b['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "r"},
                    data={"file": (io.BytesIO(answer), "r.txt")})
    assert r.status_code == 200, r.json
    # The account is unchanged since the freeze: the bank's confirmation is recorded so the line may go again.
    r = client.post(f"{API}/payment-failures/{failed}/allow-resend", headers=pay.operator.auth,
                    json={"reason": "银行已确认解除冻结"})
    assert r.status_code == 200, r.json
    return b, failed


def test_overlapping_reissues_created_and_approved_at_once_pay_once(app, client, db, pay, pension_list,
                                                                   make_staff):
    b, failed = _failed_batch(client, pay)
    other = make_staff("dept_operator", "rs_jb3", department_id=pay.operator.department_id)
    body = {"project_id": pay.pension.id, "period": PERIOD}
    results = race(app, [("/reissues", s.auth, {**body, "idempotency_key": uuid.uuid4().hex})
                         for s in (pay.operator, other)])
    assert sorted(r[0] for r in results) == [201, 409], results
    resident = db.session.get(BatchLine, failed).resident_id
    live = _count(sa.select(sa.func.count()).where(BatchLine.resident_id == resident,
                                                   BatchLine.status.in_(("pending", "sent", "paid", "failed"))))
    assert live == 1
    reissue_id = next(r[1]["id"] for r in results if r[0] == 201)
    post(client, f"/batches/{reissue_id}/submit", pay.operator)
    post(client, f"/batches/{reissue_id}/review", pay.reviewer)
    second = make_staff("finance", "finance_3")
    results = race(app, [(f"/batches/{reissue_id}/approve", s.auth, {"idempotency_key": uuid.uuid4().hex})
                         for s in (pay.finance, second)])
    assert sorted(r[0] for r in results) == [200, 409], results
    # Paid at most once: one paid ledger entry per person for the period, whatever happens next.
    assert _count(sa.select(sa.func.count(ArrivalEvent.id)).where(ArrivalEvent.resident_id == resident)) == 0
    assert _count(sa.select(sa.func.count(LedgerEntry.id)).where(LedgerEntry.resident_id == resident)) == 1
