"""What every disbursement use case shares: the permissions, loading a batch in the actor's scope, the batch
and line totals, the driver-level bulk writes and the batch and line views.

The use cases themselves live by reason to change: agreements.py (代发协议, 一本通), batches.py (make and approve a
batch), exports.py (the payment file), results.py (the bank's answer, the ledger write, reconciliation),
reissues.py (failures and 补发). Unsafe calls take an idempotency key: a retry with the same key returns the first
answer and changes nothing (see idempotency.py).
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.db import bulk_insert
from onecard.errors import Conflict, NotFound
from onecard.extensions import db
from onecard.payments import routing
from onecard.payments.lifecycle import BATCH_MACHINE
from onecard.payments.models import Agreement, Batch, BatchLine
from onecard.privacy import mask_last4
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import to_local
from onecard.validation import format_yuan

permissions.register({
    "agreement.manage": {"admin", "dept_operator"},
    "agreement.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "passbook.manage": {"admin", "dept_operator"},
    "batch.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "batch.create": {"dept_operator"},
    "batch.submit": {"dept_operator"},
    "batch.review": {"dept_reviewer"},
    "batch.approve": {"finance"},
    "batch.return": {"dept_reviewer", "finance"},
    "batch.cancel": {"dept_operator"},
    "batch.export": {"bank_operator"},
    "batch.results": {"bank_operator"},
    "batch.reconcile": {"dept_operator", "finance"},
    "batch.close": {"finance"},
    "payment.failures": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "payment.reissue": {"dept_operator"},
    "ledger.export": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
    "ledger.supervise": {"admin", "finance", "auditor"},
})

# counted in a batch's totals (a returned line was sent and paid: it stays in its batch's totals)
PAYABLE_LINE_STATES = ("pending", "sent", "paid", "failed", "superseded", "returned", "written_off")
CHUNK = 5000
_lines = BatchLine.__table__


def batch_view(b: Batch) -> dict:
    project = db.session.get(Project, b.project_id)
    return {
        "id": b.id, "number": b.number, "kind": b.kind, "project_id": b.project_id,
        "project_name": project.name if project else None, "department_id": b.department_id,
        "bank_id": b.bank_id, "agreement_id": b.agreement_id, "period": b.period, "status": b.status,
        "status_label": BATCH_MACHINE.label(b.status), "line_count": b.line_count, "total_fen": b.total_fen,
        "total_yuan": format_yuan(b.total_fen or 0), "held_count": b.held_count,
        "submitted_count": b.submitted_count, "submitted_fen": b.submitted_fen, "paid_count": b.paid_count,
        "paid_fen": b.paid_fen, "failed_count": b.failed_count, "failed_fen": b.failed_fen,
        "file_sha256": b.file_sha256, "bank_layout": b.bank_layout, "return_reason": b.return_reason,
        "created_by": b.created_by, "submitted_by": b.submitted_by, "reviewed_by": b.reviewed_by,
        "approved_by": b.approved_by,
        "approved_at": b.approved_at.isoformat() if b.approved_at else None,
    }



def load_batch(actor: Actor, batch_id: int, action: str, *, for_update: bool = False) -> Batch:
    stmt = sa.select(Batch).where(Batch.id == batch_id)
    if for_update and db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    batch = db.session.execute(stmt).scalar_one_or_none()
    # Out of scope looks like absent: a bank or department learns nothing of others' batches.
    if batch is None or not permissions.in_scope(actor, batch):
        raise NotFound("发放批次不存在", code="batch_not_found")
    permissions.require(actor, action, batch)
    return batch



def line_totals(batch_id: int) -> tuple[int, int]:
    count, fen = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_lines.c.amount_fen), 0))
        .where(_lines.c.batch_id == batch_id, _lines.c.status.in_(PAYABLE_LINE_STATES))
    ).one()
    return int(count), int(fen)


def check_totals(batch: Batch) -> None:
    """Totals fixed at submission must still equal the lines (recomputed in SQL) at every later step."""
    count, fen = line_totals(batch.id)
    if (count, fen) != (batch.submitted_count, batch.submitted_fen):
        raise Conflict(f"批次明细合计（{count}笔，{format_yuan(fen)}）与提交时确定的合计（{batch.submitted_count}笔，"
                       f"{format_yuan(batch.submitted_fen or 0)}）不一致，已停止办理，请联系管理员核查",
                       code="totals_mismatch", field="batch",
                       details={"lines": {"count": count, "fen": fen},
                                "fixed": {"count": batch.submitted_count, "fen": batch.submitted_fen}})


def new_batch(actor: Actor, project: Project, period: str, agreement: Agreement, kind: str,
               list_id: int | None) -> Batch:
    batch = Batch(kind=kind, project_id=project.id, department_id=project.department_id, bank_id=project.bank_id,
                  agreement_id=agreement.id, list_id=list_id, period=period, status="draft", created_by=actor.id)
    db.session.add(batch)
    db.session.flush()
    prefix = "BF" if kind == "reissue" else "PB"
    batch.number = f"{prefix}{period.replace('-', '')}{project.code or project.id}{batch.id:06d}"
    return batch


def insert_lines(batch: Batch, project: Project, source: list[dict], routed: list[dict], now) -> None:
    rows = []
    for src, r in zip(source, routed, strict=True):
        rows.append({
            "batch_id": batch.id, "recipient_row_id": src.get("recipient_row_id"), "resident_id": src["resident_id"],
            "project_id": project.id, "department_id": project.department_id,
            "period": src.get("period") or batch.period,      # a late payment keeps its own period
            "name": src["name"], "amount_fen": src["amount_fen"], "status": r["status"], "route": r["route"],
            "route_reason": r["route_reason"], "payee_resident_id": r["payee_resident_id"],
            "payee_name": r["payee_name"], "bank_id": r["bank_id"], "account": r["account"],
            "account_last4": r["account_last4"], "account_bidx": r["account_bidx"],
            "proxy_appointment_id": r["proxy_appointment_id"], "household_id": r.get("household_id"),
            "town_id": r["town_id"], "village_id": r["village_id"], "outcome": None, "failure_code": None,
            "failure_reason": None, "reissue_of_line_id": src.get("reissue_of_line_id"),
            "late_of_line_id": src.get("late_of_line_id"), "result_at": None,
            "created_at": now})
    if rows:
        columns = list(rows[0])
        bulk_insert(_lines, columns, [tuple(r[c] for c in columns) for r in rows])


BULK_CACHE_KIB = 65536


def _bulk_cache() -> None:
    """A bigger SQLite page cache for the bulk steps (fixed size, whatever the batch size).

    The default 2 MiB cache cannot hold the index pages a million-line insert or update walks through (the
    ledger's account index is in random order), and every miss is a read from the OS. The setting stays on
    the pooled connection; PostgreSQL sizes its buffers itself.
    """
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")


def refresh_counts(batch: Batch) -> None:
    count, fen = line_totals(batch.id)
    held = db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch.id,
                                                               _lines.c.status.in_(("held", "disputed")))).scalar()
    batch.line_count, batch.total_fen, batch.held_count = count, fen, int(held)



def line_view(x: BatchLine) -> dict:
    return {"id": x.id, "batch_id": x.batch_id, "resident_id": x.resident_id, "name": x.name,
            "project_id": x.project_id, "period": x.period, "amount_fen": x.amount_fen,
            "amount_yuan": format_yuan(x.amount_fen), "status": x.status, "route": x.route,
            "route_label": routing.ROUTE_LABELS.get(x.route or "", None), "route_reason": x.route_reason,
            "payee_name": x.payee_name, "bank_id": x.bank_id,
            "account_masked": mask_last4(x.account_last4),
            "outcome": x.outcome, "failure_code": x.failure_code, "failure_reason": x.failure_reason,
            "reissue_of_line_id": x.reissue_of_line_id, "late_of_line_id": x.late_of_line_id, "town_id": x.town_id, "village_id": x.village_id,
            "bank_date": to_local(x.bank_at).date().isoformat() if x.bank_at else None}

