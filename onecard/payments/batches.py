"""Batches (发放批次): made from a matched list, then submitted, reviewed and approved by different people
(maker-checker), returned or cancelled, with lines taken out; the batch page and the steps an actor may take.
Each public function is one transaction."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden, NotFound
from onecard.exclusions import service as exclusions
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments import idempotency, owed, routing
from onecard.payments.agreements import valid_agreement
from onecard.payments.common import (
    CHUNK,
    _bulk_cache,
    _lines,
    batch_view,
    check_totals,
    insert_lines,
    line_totals,
    line_view,
    load_batch,
    new_batch,
    refresh_counts,
)
from onecard.payments.lifecycle import BATCH_LABELS, BATCH_MACHINE, move_lines
from onecard.payments.models import LIVE_LINE_STATES, Batch, BatchLine
from onecard.payments.results import reconcile
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import format_yuan, normalize_text, parse_period


def get_batch(actor: Actor, batch_id: int) -> dict:
    return batch_view(load_batch(actor, batch_id, "batch.read"))


def list_batches(actor: Actor, *, status: str | None = None, project_id: int | None = None,
                 period: str | None = None) -> list[dict]:
    permissions.require(actor, "batch.read")
    stmt = sa.select(Batch).where(permissions.scope_filter(actor, Batch))
    if status:
        stmt = stmt.where(Batch.status == status)
    if project_id:
        stmt = stmt.where(Batch.project_id == project_id)
    if period:
        stmt = stmt.where(Batch.period == parse_period(period))
    return [batch_view(b) for b in db.session.execute(stmt.order_by(Batch.id.desc()).limit(500)).scalars()]



def create_batch(actor: Actor, project_id: int, period: str, *, list_id: int | None = None,
                 idempotency_key: str | None, today: date | None = None) -> dict:
    """A department operator makes a draft batch from the matched list(s) of a project and period.

    Everyone listed who has no live line yet for the project and period is routed; those who cannot be
    routed are held with the reason. Refuses without a valid agreement, and refuses a batch with nothing
    to pay (everyone already in a batch or held). Two operators at once: the second is refused by the
    never-twice index (409 already_in_batch) or finds nobody left (409 nothing_to_pay).
    """
    permissions.require(actor, "batch.create")
    period = parse_period(period)
    return idempotency.run(actor, "batch.create", idempotency_key,
                           {"project_id": project_id, "period": period, "list_id": list_id},
                           lambda: _create_batch(actor, project_id, period, list_id, today))


def batchable_lists(actor: Actor) -> list[dict]:
    """Matched lists of the operator's projects a batch can be made from (the console's list picker)."""
    permissions.require(actor, "batch.create")
    rows = db.session.execute(
        sa.select(RecipientList.id, RecipientList.period, RecipientList.row_count, RecipientList.total_fen,
                  RecipientList.file_name, Project.id, Project.name)
        .join(Project, Project.id == RecipientList.project_id)
        .where(RecipientList.status == "matched", permissions.scope_filter(actor, RecipientList))
        .order_by(RecipientList.id.desc()).limit(200)).all()
    return [{"id": i, "period": per, "row_count": n, "total_yuan": format_yuan(fen or 0), "file_name": f,
             "project_id": pid, "project_name": pname} for i, per, n, fen, f, pid, pname in rows]


def create_batch_from_list(actor: Actor, list_id: int, *, idempotency_key: str | None) -> dict:
    """create_batch for one chosen matched list (its project and period are the list's)."""
    permissions.require(actor, "batch.create")
    recipient_list = db.session.get(RecipientList, list_id)
    if recipient_list is None or not permissions.in_scope(actor, recipient_list):
        raise NotFound("发放名单不存在", code="list_not_found", field="list_id")
    return create_batch(actor, recipient_list.project_id, recipient_list.period, list_id=list_id,
                        idempotency_key=idempotency_key)


def _create_batch(actor: Actor, project_id: int, period: str, list_id: int | None, today: date | None) -> dict:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
    permissions.require(actor, "batch.create", project)
    if project.status != "coded":
        raise Conflict("项目尚未编码或已停用，不能发放", code="project_not_payable", field="project_id")
    today = today or local_today()
    agreement = valid_agreement(project, today)
    batch = new_batch(actor, project, period, agreement, "regular", list_id)
    # Uncorrelated on purpose: evaluated once (hashed), not once per row (a correlated NOT EXISTS was quadratic
    # on SQLite, whose planner chose the project/period index for each row).
    live = sa.select(_lines.c.resident_id).where(_lines.c.project_id == project.id, _lines.c.period == period,
                                                 _lines.c.resident_id.is_not(None),
                                                 _lines.c.status.in_(LIVE_LINE_STATES))
    listed = (sa.select(RecipientRow.id, RecipientRow.resident_id, RecipientRow.match_result, RecipientRow.name,
                        RecipientRow.amount_fen)
              .join(RecipientList, RecipientList.id == RecipientRow.list_id)
              .where(RecipientList.project_id == project.id, RecipientList.period == period,
                     RecipientList.status == "matched")
              .order_by(RecipientRow.id))
    stmt = listed.where(sa.or_(RecipientRow.resident_id.is_(None), RecipientRow.resident_id.not_in(live)))
    # The usual first batch of a period finds no live line: the set-based insert then leaves the filter out,
    # because an INSERT whose SELECT reads batch_lines makes SQLite stage every selected row in a temporary
    # table first (a third slower at scale). Same rows either way; a line made meanwhile by a concurrent batch
    # still meets the never-twice index (409 already_in_batch), as with the filter.
    any_live = db.session.execute(sa.select(sa.exists(live))).scalar()
    if list_id:
        stmt = stmt.where(RecipientList.id == list_id)
        listed = listed.where(RecipientList.id == list_id)
    now = utcnow()
    _bulk_cache()
    try:
        inserted = routing.OWN_CARD.set_based(batch, project, (stmt if any_live else listed)
                                                   .with_only_columns(RecipientRow.id).order_by(None), now)
        listed_count = db.session.execute(listed.with_only_columns(sa.func.count(RecipientRow.id))
                                          .order_by(None)).scalar()
        # Each listed row gives at most one line (one active card per person; a second would break the
        # never-twice index), so when every listed row got its line nobody is left to route one by one.
        last_id = 0 if inserted < listed_count else None
        while last_id is not None:
            chunk = db.session.execute(stmt.where(RecipientRow.id > last_id).limit(CHUNK)).all()
            if not chunk:
                break
            last_id = chunk[-1].id
            source = [{"recipient_row_id": r.id, "resident_id": r.resident_id, "match_result": r.match_result,
                       "name": r.name, "amount_fen": r.amount_fen} for r in chunk]
            insert_lines(batch, project, source, routing.route_rows(project, source, today, period), now)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("名单中有人已在其他发放批次中（同一项目同一期间每人只能发放一次）", code="already_in_batch") from None
    # Held lines of earlier batches whose person is now in this one are closed as rejoined.
    move_lines("rejoined", _lines.c.project_id == project.id, _lines.c.period == period,
               _lines.c.batch_id != batch.id,
               _lines.c.recipient_row_id.in_(sa.select(_lines.c.recipient_row_id).where(_lines.c.batch_id == batch.id)))
    # Owed lines of earlier periods whose reason went away are paid late in this batch, each in its own period.
    owed.join_batch(batch, project, today, now)
    # Someone listed or paid in a project excluding this one for the period waits for the department's decision.
    exclusions.hold_conflicts(batch)
    refresh_counts(batch)
    if batch.line_count == 0 and not exclusions.disputed_count(batch.id):   # disputed ones await a decision
        raise Conflict("没有可发放的明细：名单中的人员已在其他批次中，或全部暂缓（见暂缓原因）", code="nothing_to_pay")
    audit.record("batch.created", actor=actor, entity_type="batch", entity_id=batch.id,
                 after={"number": batch.number, "lines": batch.line_count, "fen": batch.total_fen,
                        "held": batch.held_count})
    return batch_view(batch)


def _is_maker(actor: Actor, batch: Batch, *, step: str) -> bool:
    makers = {batch.submitted_by} if step == "review" else {batch.submitted_by, batch.reviewed_by}
    return actor.id is not None and actor.id in makers


def _returner_role(status: str) -> str:
    """Who sends a batch back: the department reviewer before review, finance after."""
    return "dept_reviewer" if status == "submitted" else "finance"


def _maker_checker(actor: Actor, batch: Batch, *, step: str) -> None:
    if _is_maker(actor, batch, step=step):
        raise Forbidden("经办与审核、审批须由不同人员办理：您已办理过该批次的前一环节", code="maker_checker")


def submit(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The department operator submits a draft (or corrected) batch; its totals are fixed now."""
    def work():
        batch = load_batch(actor, batch_id, "batch.submit", for_update=True)
        count, fen = line_totals(batch.id)
        if count == 0:
            raise Conflict("批次没有可发放的明细", code="nothing_to_pay")
        if exclusions.disputed_count(batch.id):
            raise Conflict("批次中有互斥待定的明细，请先逐条决定发放或移出", code="batch_has_disputed_lines")
        BATCH_MACHINE.transition(batch, "submitted", actor, extra_values={
            "submitted_by": actor.id, "submitted_count": count, "submitted_fen": fen, "line_count": count,
            "total_fen": fen, "reviewed_by": None, "approved_by": None},
            audit_after={"count": count, "fen": fen})
        return batch_view(batch)
    return idempotency.run(actor, "batch.submit", idempotency_key, {"batch_id": batch_id}, work)


def review(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The department reviewer checks a submitted batch (never one they submitted)."""
    def work():
        batch = load_batch(actor, batch_id, "batch.read", for_update=True)
        _maker_checker(actor, batch, step="review")
        permissions.require(actor, "batch.review", batch)
        check_totals(batch)
        BATCH_MACHINE.transition(batch, "reviewed", actor, extra_values={"reviewed_by": actor.id})
        return batch_view(batch)
    return idempotency.run(actor, "batch.review", idempotency_key, {"batch_id": batch_id}, work)


def approve(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """Finance approves a reviewed batch (never one they submitted or reviewed); the agreement must still be valid."""
    def work():
        batch = load_batch(actor, batch_id, "batch.read", for_update=True)
        _maker_checker(actor, batch, step="approve")
        permissions.require(actor, "batch.approve", batch)
        check_totals(batch)
        valid_agreement(db.session.get(Project, batch.project_id), local_today())
        BATCH_MACHINE.transition(batch, "approved", actor, extra_values={"approved_by": actor.id})
        return batch_view(batch)
    return idempotency.run(actor, "batch.approve", idempotency_key, {"batch_id": batch_id}, work)


def return_batch(actor: Actor, batch_id: int, reason: str, *, idempotency_key: str | None) -> dict:
    """退回修改: the reviewer (submitted) or finance (reviewed, approved) sends a batch back with the reason."""
    reason = normalize_text(reason, field="reason", max_len=300)

    def work():
        batch = load_batch(actor, batch_id, "batch.return", for_update=True)
        if batch.status in ("submitted", "reviewed", "approved") and actor.role != _returner_role(batch.status):
            raise Forbidden("当前环节不由您的岗位退回", code="forbidden_role")
        BATCH_MACHINE.transition(batch, "returned", actor, extra_values={"return_reason": reason}, note=reason)
        return batch_view(batch)
    return idempotency.run(actor, "batch.return", idempotency_key, {"batch_id": batch_id, "reason": reason}, work)


def remove_line(actor: Actor, line_id: int, reason: str) -> dict:
    """The operator takes a line out of a draft or returned batch (correction); the person may join a later batch."""
    line = db.session.get(BatchLine, line_id)
    if line is None:
        raise NotFound("明细不存在", code="line_not_found")
    batch = load_batch(actor, line.batch_id, "batch.submit")
    if batch.status not in ("draft", "returned"):
        raise Conflict("只有草稿或退回的批次可以调整明细", code="batch_not_editable")
    if line.status not in ("pending", "held"):
        raise Conflict("该明细不能移出", code="line_not_removable")
    reason = normalize_text(reason, field="reason", max_len=200)
    move_lines("cancelled", _lines.c.id == line.id)
    _restore_superseded([line.id])
    refresh_counts(batch)
    audit.record("batch.line_removed", actor=actor, entity_type="batch", entity_id=batch.id,
                 after={"line_id": line.id}, note=reason)
    db.session.commit()
    return batch_view(batch)


def _restore_superseded(cancelled_line_ids: list[int] | None = None, batch_id: int | None = None) -> None:
    """A cancelled re-issue line gives its original failure back to the worklist (it becomes live again)."""
    src = sa.select(_lines.c.reissue_of_line_id).where(_lines.c.reissue_of_line_id.is_not(None))
    src = src.where(_lines.c.id.in_(cancelled_line_ids)) if cancelled_line_ids else src.where(
        _lines.c.batch_id == batch_id, _lines.c.status == "cancelled")
    # by what the bank said of the original: a failure goes back to the worklist, a paid-then-returned line to owed
    move_lines("failed", _lines.c.id.in_(src), _lines.c.outcome == "failed", only_from=("superseded",))
    move_lines("returned", _lines.c.id.in_(src), _lines.c.outcome == "paid", only_from=("superseded",))
    owed.restore_late(cancelled_line_ids, batch_id)


def cancel(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """作废 a draft or returned batch: its lines leave the never-twice index and may be paid in another batch."""
    def work():
        batch = load_batch(actor, batch_id, "batch.cancel", for_update=True)
        BATCH_MACHINE.transition(batch, "cancelled", actor)
        move_lines("cancelled", _lines.c.batch_id == batch.id, only_from=("pending", "held", "disputed"))
        _restore_superseded(batch_id=batch.id)
        return batch_view(batch)
    return idempotency.run(actor, "batch.cancel", idempotency_key, {"batch_id": batch_id}, work)


# The steps a batch page offers: (step, permission action, target state of the lifecycle).
BATCH_STEPS = (
    ("submit", "batch.submit", "submitted"), ("review", "batch.review", "reviewed"),
    ("approve", "batch.approve", "approved"), ("return", "batch.return", "returned"),
    ("cancel", "batch.cancel", "cancelled"), ("export", "batch.export", "sent"),
    ("results", "batch.results", "feedback_received"), ("reconcile", "batch.reconcile", "reconciled"),
    ("close", "batch.close", "closed"),
)
# The main path shown as a row of steps: state, who-column (None: read from the audit trail).
BATCH_PATH = (("draft", "created_by"), ("submitted", "submitted_by"), ("reviewed", "reviewed_by"),
              ("approved", "approved_by"), ("sent", "sent_by"), ("feedback_received", None),
              ("reconciled", None), ("closed", None))


def available_actions(actor: Actor, batch: Batch) -> list[str]:
    """The steps this actor may take on this batch now: a move the lifecycle allows from its state, a role the
    policy permits, in scope, and not the maker checking their own work. The step functions still check all of
    it themselves; this only decides which buttons a page shows."""
    steps = []
    for step, action, target in BATCH_STEPS:
        if not (BATCH_MACHINE.allowed(batch.status, target) and permissions.can(actor, action)
                and permissions.in_scope(actor, batch)):
            continue
        if step in ("review", "approve") and _is_maker(actor, batch, step=step):
            continue
        if step == "return" and actor.role != _returner_role(batch.status):
            continue
        steps.append(step)
    return steps


def batch_page(actor: Actor, batch_id: int, *, limit: int = 50, offset: int = 0) -> dict:
    """Everything a batch's page shows: the view, the path of states with who and when (from the audit trail),
    the totals that must agree, held lines with reasons, one page of lines and the steps this actor may take."""
    batch = load_batch(actor, batch_id, "batch.read")
    trail = audit.entries_for("batch", batch.id)
    done_by: dict[str, tuple[str, object]] = {}
    for e in trail:
        state = "draft" if e.action in ("batch.created", "batch.reissue_created") else e.action.removeprefix("batch.")
        done_by[state] = (e.actor_label, e.at)
    reached = {s for s, _ in BATCH_PATH if getattr(batch, BATCH_MACHINE.timestamps.get(s, "created_at"), None)}
    order = [s for s, _ in BATCH_PATH]
    current = order.index(batch.status) if batch.status in order else -1
    path = [{"state": s, "label": BATCH_LABELS[s], "done": s in reached or i <= current,
             "current": i == current, "by": done_by.get(s, (None, None))[0],
             "at": getattr(batch, BATCH_MACHINE.timestamps.get(s, "created_at"), None)}
            for i, (s, _) in enumerate(BATCH_PATH)]
    count, fen = line_totals(batch.id)
    totals = {"lines": (count, fen),
              "fixed": (batch.submitted_count, batch.submitted_fen) if batch.submitted_count is not None else None,
              "outcome": None}
    if batch.paid_count is not None:
        totals["outcome"] = (batch.paid_count + (batch.failed_count or 0),
                             (batch.paid_fen or 0) + (batch.failed_fen or 0))
    totals["fixed_agrees"] = totals["fixed"] is None or totals["fixed"] == totals["lines"]
    totals["outcome_agrees"] = totals["outcome"] is None or totals["outcome"] == totals["fixed"]
    held = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == batch.id, BatchLine.status == "held")
                              .order_by(BatchLine.id).limit(200)).scalars()
    line_total = db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch.id)).scalar()
    return {"batch": batch_view(batch), "path": path, "trail": trail, "totals": totals,
            "held": [line_view(x) for x in held], "lines": list_lines(actor, batch.id, limit=limit, offset=offset),
            "line_total": int(line_total), "actions": available_actions(actor, batch),
            "returned": batch.status in ("returned", "cancelled")}


def list_lines(actor: Actor, batch_id: int, *, status: str | None = None, limit: int = 200,
               offset: int = 0) -> list[dict]:
    batch = load_batch(actor, batch_id, "batch.read")
    stmt = sa.select(BatchLine).where(BatchLine.batch_id == batch.id)
    if status:
        stmt = stmt.where(BatchLine.status == status)
    rows = db.session.execute(stmt.order_by(BatchLine.id).limit(min(limit, 1000)).offset(offset)).scalars()
    return [line_view(x) for x in rows]



def close(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """Finance archives a reconciled batch."""
    def work():
        batch = load_batch(actor, batch_id, "batch.close", for_update=True)
        check_totals(batch)
        BATCH_MACHINE.transition(batch, "closed", actor)
        return batch_view(batch)
    return idempotency.run(actor, "batch.close", idempotency_key, {"batch_id": batch_id}, work)


# The steps a door calls with only the batch and an idempotency key (the staff API's and the console's step
# routes), so both doors offer the same steps through the same functions.
KEYED_STEPS = {"submit": submit, "review": review, "approve": approve, "cancel": cancel, "reconcile": reconcile,
               "close": close}
