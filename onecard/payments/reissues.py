"""Failed payments (发放失败) and their re-issue (补发) once the account problem is fixed."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, NotFound
from onecard.extensions import db
from onecard.payments import idempotency, routing
from onecard.payments.agreements import valid_agreement
from onecard.payments.common import _lines, batch_view, insert_lines, line_view, new_batch, refresh_counts
from onecard.payments.lifecycle import move_lines
from onecard.payments.models import Batch, BatchLine
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import parse_period

# Lines a re-issue pays again: failed by the bank, or paid and then sent back by it (退汇).
REISSUABLE = ("failed", "returned")


def failures(actor: Actor, *, project_id: int | None = None, period: str | None = None,
             limit: int = 500) -> list[dict]:
    """The worklist of failed and returned (退汇) payments not yet re-issued, with the bank's reason, in scope."""
    permissions.require(actor, "payment.failures")
    stmt = (sa.select(BatchLine).join(Batch, Batch.id == BatchLine.batch_id)
            .where(BatchLine.status.in_(REISSUABLE),
                   permissions.scope_filter(actor, BatchLine, bank_col=Batch.bank_id)))
    if project_id:
        stmt = stmt.where(BatchLine.project_id == project_id)
    if period:
        stmt = stmt.where(BatchLine.period == parse_period(period))
    return [line_view(x) for x in db.session.execute(stmt.order_by(BatchLine.id).limit(limit)).scalars()]


def reissue(actor: Actor, project_id: int, period: str, *, line_ids: list[int] | None = None,
            idempotency_key: str | None, today: date | None = None) -> dict:
    """补发: a re-issue batch for failed lines whose account is now fixed; each new line refers to its original.

    The original failed line is superseded (compare-and-set) in the same transaction, so the person never has
    two live lines for the period. Lines still unroutable stay on the worklist and are reported.
    """
    period = parse_period(period)

    def work():
        permissions.require(actor, "payment.reissue")
        project = db.session.get(Project, project_id)
        if project is None:
            raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
        permissions.require(actor, "payment.reissue", project)
        on = today or local_today()
        agreement = valid_agreement(project, on)
        stmt = (sa.select(BatchLine.id, BatchLine.resident_id, BatchLine.name, BatchLine.amount_fen,
                          BatchLine.recipient_row_id)
                .join(Batch, Batch.id == BatchLine.batch_id)
                .where(BatchLine.project_id == project.id, BatchLine.period == period,
                       BatchLine.status.in_(REISSUABLE),
                       Batch.status.in_(("feedback_received", "reconciled", "closed"))).order_by(BatchLine.id))
        if line_ids:
            stmt = stmt.where(BatchLine.id.in_(line_ids))
        failed = db.session.execute(stmt).all()
        if not failed:
            raise Conflict("没有待补发的失败明细", code="nothing_to_reissue")
        source = [{"reissue_of_line_id": f.id, "resident_id": f.resident_id, "name": f.name,
                   "amount_fen": f.amount_fen, "recipient_row_id": f.recipient_row_id, "match_result": "usable"}
                  for f in failed]
        routed = routing.route_rows(project, source, on)
        ready = [(s, r) for s, r in zip(source, routed, strict=True) if r["status"] == "pending"]
        blocked = [{"line_id": s["reissue_of_line_id"], "reason": r["route_reason"]}
                   for s, r in zip(source, routed, strict=True) if r["status"] != "pending"]
        if not ready:
            raise Conflict("失败明细的账户问题尚未解决，暂不能补发：" + blocked[0]["reason"], code="nothing_to_reissue",
                           details={"blocked": blocked[:50]})
        batch = new_batch(actor, project, period, agreement, "reissue", None)
        ids = [s["reissue_of_line_id"] for s, _ in ready]
        changed = move_lines("superseded", _lines.c.id.in_(ids))
        if changed != len(ids):
            raise Conflict("失败明细已被他人补发，请刷新后重试", code="reissue_concurrent_change")
        try:
            insert_lines(batch, project, [s for s, _ in ready], [r for _, r in ready], utcnow())
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("该明细已在其他补发批次中", code="already_in_batch") from None
        refresh_counts(batch)
        audit.record("batch.reissue_created", actor=actor, entity_type="batch", entity_id=batch.id,
                     after={"number": batch.number, "reissue_of": ids, "blocked": len(blocked)})
        return {**batch_view(batch), "blocked": blocked}
    return idempotency.run(actor, "payment.reissue", idempotency_key,
                           {"project_id": project_id, "period": period, "line_ids": sorted(line_ids or [])}, work)

