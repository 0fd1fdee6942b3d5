"""Failed payments (发放失败) and their re-issue (补发) once the account problem is fixed.

A re-issue pays the account as it is now (routing.route_rows). A line the bank refused for a reason about the
account (ACCOUNT_FAILURES: frozen, closed, lost, name mismatch, no such account, not activated) does not go back
to that account while it is unchanged: same account, no card change recorded since the failure, same payee name.
It stays in the worklist as 账户未变更 until the account changes (补换卡, activation, a corrected name), or
until staff record why it may go again (``allow_resend``: a reason, audited).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.payments import idempotency, routing
from onecard.payments.agreements import valid_agreement
from onecard.payments.common import _lines, batch_view, insert_lines, line_view, new_batch, refresh_counts
from onecard.payments.lifecycle import move_lines
from onecard.payments.models import Batch, BatchLine
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import normalize_text, parse_period

# Bank failure codes (bankformats.FAILURE_CODES) that are about the account itself: sending the money again to
# the same account would fail again (or worse, land on an account the bank has frozen or closed).
ACCOUNT_FAILURES = frozenset({"frozen", "closed", "lost", "name_mismatch", "no_account", "inactive"})
UNCHANGED = "账户未变更"


def _unchanged(failed: BatchLine, routed: dict, card_changes: dict) -> bool:
    """Whether a failed line would go again to the very account the bank refused for an account reason."""
    if failed.failure_code not in ACCOUNT_FAILURES or failed.resend_reason:
        return False
    if routed.get("status") != "pending" or routed.get("account_bidx") != failed.account_bidx:
        return False                                    # another account (or none yet): not the refused one
    if (routed.get("payee_name") or "") != (failed.payee_name or ""):
        return False                                    # the name the bank compared has been corrected
    changed_at = card_changes.get(failed.account_bidx)
    return not (changed_at and failed.result_at and changed_at > failed.result_at)


def _card_changes(account_bidxs) -> dict:
    """Latest card status change per account (blind index): a change after the failure counts as fixed."""
    from onecard.cards.models import Card
    keys = sorted({b for b in account_bidxs if b})
    if not keys:
        return {}
    return dict(db.session.execute(sa.select(Card.account_bidx, sa.func.max(Card.status_changed_at))
                                   .where(Card.account_bidx.in_(keys)).group_by(Card.account_bidx)).all())


def _unchanged_reason(failed: BatchLine) -> str:
    from onecard.payments.bankformats import FAILURE_CODES
    why = FAILURE_CODES.get(failed.failure_code, failed.failure_reason or "")
    return (f"{UNCHANGED}：上次因“{why}”发放失败，收款账户至今未变更。请协助群众办理（解冻、补换卡、激活或更正姓名）"
            "后再补发，或登记可以再次发放的理由")


def _routed_now(lines: list[BatchLine], on: date) -> dict[int, dict]:
    """How each failed line would be routed today (line id -> routed fields), project by project."""
    out: dict[int, dict] = {}
    by_project: dict[tuple, list[BatchLine]] = {}
    for x in lines:
        by_project.setdefault((x.project_id, x.period), []).append(x)
    for (project_id, period), group in by_project.items():
        project = db.session.get(Project, project_id)
        source = [{"reissue_of_line_id": x.id, "resident_id": x.resident_id, "name": x.name,
                   "match_result": "usable"} for x in group]
        for x, r in zip(group, routing.route_rows(project, source, on, period), strict=True):
            out[x.id] = r
    return out

# Lines a re-issue pays again: failed by the bank, or paid and then sent back by it (退汇).
REISSUABLE = ("failed", "returned")


def failures(actor: Actor, *, project_id: int | None = None, period: str | None = None,
             limit: int = 500) -> list[dict]:
    """The worklist of failed and returned (退汇) payments not yet re-issued, with the bank's reason, in scope.

    Each line says whether it can go now: ``account_unchanged`` (with ``blocked_reason``) when the bank refused
    the account and it has not changed since; ``resend_reason`` when staff recorded why it may go anyway.
    """
    permissions.require(actor, "payment.failures")
    stmt = (sa.select(BatchLine).join(Batch, Batch.id == BatchLine.batch_id)
            .where(BatchLine.status.in_(REISSUABLE),
                   permissions.scope_filter(actor, BatchLine, bank_col=Batch.bank_id)))
    if project_id:
        stmt = stmt.where(BatchLine.project_id == project_id)
    if period:
        stmt = stmt.where(BatchLine.period == parse_period(period))
    lines = db.session.execute(stmt.order_by(BatchLine.id).limit(limit)).scalars().all()
    account_failed = [x for x in lines if x.failure_code in ACCOUNT_FAILURES and not x.resend_reason]
    routed = _routed_now(account_failed, local_today()) if account_failed else {}
    changes = _card_changes(x.account_bidx for x in account_failed)
    out = []
    for x in lines:
        unchanged = x.id in routed and _unchanged(x, routed[x.id], changes)
        out.append({**line_view(x), "account_unchanged": unchanged,
                    "blocked_reason": _unchanged_reason(x) if unchanged else None,
                    "resend_reason": x.resend_reason})
    return out


def allow_resend(actor: Actor, line_id: int, *, reason: str) -> dict:
    """Staff record why a line the bank refused for an account reason may go again to the same account (e.g. the
    bank confirmed the freeze was lifted). The reason is kept on the line and audited; the next re-issue sends it."""
    permissions.require(actor, "payment.reissue")
    line = db.session.get(BatchLine, line_id)
    if line is None or not permissions.in_scope(actor, line):
        raise NotFound("失败明细不存在", code="line_not_found")
    if line.status != "failed":
        raise Conflict("只有发放失败、尚未补发的明细可以登记再次发放的理由", code="line_not_failed", field="status")
    text = normalize_text(reason, field="reason", max_len=200, label="理由")
    if len(text) < 4:
        raise Invalid("请填写可以再次发放到原账户的理由（至少4个字），如“银行已确认解除冻结”", code="reason_required",
                      field="reason")
    before = {"resend_reason": line.resend_reason}
    line.resend_reason, line.resend_by, line.resend_at = text, actor.id, utcnow()
    audit.record("line.resend_allowed", actor=actor, entity_type="batch_line", entity_id=line.id, before=before,
                 after={"resend_reason": text, "failure_code": line.failure_code})
    db.session.commit()
    return {**line_view(line), "account_unchanged": False, "blocked_reason": None, "resend_reason": text}


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
        stmt = (sa.select(BatchLine)
                .join(Batch, Batch.id == BatchLine.batch_id)
                .where(BatchLine.project_id == project.id, BatchLine.period == period,
                       BatchLine.status.in_(REISSUABLE),
                       Batch.status.in_(("feedback_received", "reconciled", "closed"))).order_by(BatchLine.id))
        if line_ids:
            stmt = stmt.where(BatchLine.id.in_(line_ids))
        failed = db.session.execute(stmt).scalars().all()
        if not failed:
            raise Conflict("没有待补发的失败明细", code="nothing_to_reissue")
        source = [{"reissue_of_line_id": f.id, "resident_id": f.resident_id, "name": f.name,
                   "amount_fen": f.amount_fen, "recipient_row_id": f.recipient_row_id, "match_result": "usable"}
                  for f in failed]
        routed = routing.route_rows(project, source, on, period)
        changes = _card_changes(f.account_bidx for f in failed if f.failure_code in ACCOUNT_FAILURES)
        ready, blocked = [], []
        for f, s, r in zip(failed, source, routed, strict=True):
            if r["status"] != "pending":
                blocked.append({"line_id": f.id, "reason": r["route_reason"]})
            elif _unchanged(f, r, changes):
                blocked.append({"line_id": f.id, "reason": _unchanged_reason(f), "code": "account_unchanged"})
            else:
                ready.append((s, r))
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
                     after={"number": batch.number, "reissue_of": ids, "blocked": len(blocked),
                            "resend_reasons": {f.id: f.resend_reason for f in failed
                                               if f.resend_reason and f.id in ids}})
        return {**batch_view(batch), "blocked": blocked}
    return idempotency.run(actor, "payment.reissue", idempotency_key,
                           {"project_id": project_id, "period": period, "line_ids": sorted(line_ids or [])}, work)

