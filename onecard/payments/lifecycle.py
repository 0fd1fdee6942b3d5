"""The batch lifecycle (发放批次状态) and the line lifecycle (明细状态): the only tables of allowed moves.

Batch: 草稿 → 已提交 → 已审核 (department reviewer) → 已审批 (finance) → 已发送银行 → 已回盘 → 已对账 → 已归档;
退回修改 from any review state back to an editable state; 作废 from draft or returned.

Line: made 待发送 (routed) or 暂缓 (held); 待发送 → 已发送 at export → 成功 or 失败 from the bank's result;
失败 → 已补发 when its re-issue is made (and back to 失败 if that re-issue line is taken out); 暂缓 → 已并入新批次 when
the person joins a later batch; 待发送 or 暂缓 → 已移出 when taken out of a draft or its batch is cancelled.
The money's whole life (issue 18): 暂缓 → 待随下一批发放 when its reason goes away (payments.owed.release), and
→ 已并入新批次 when the project's next batch pays it late in its own period; 成功 → 已退汇 when the bank sends the
money back (payments.returns), → 已补发 by its re-issue; an owed line is given up only by its department with a
reason: 暂缓 or 待随下一批发放 → 已移出, 失败 or 已退汇 → 已核销 (it stays in its batch's totals: it was sent).
Lines move many at a time, so they move with set-based UPDATEs, each through ``move_lines``, which takes the
allowed source states from LINE_MACHINE.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.payments.models import BatchLine

BATCH_LABELS = {
    "draft": "草稿", "submitted": "已提交待审核", "reviewed": "已审核待审批", "approved": "已审批待发送",
    "sent": "已发送银行", "feedback_received": "银行已回盘", "reconciled": "已对账", "closed": "已归档",
    "returned": "已退回修改", "cancelled": "已作废",
}

BATCH_MACHINE = StateMachine(
    name="batch",
    state_attr="status",
    transitions={
        "draft": frozenset({"submitted", "cancelled"}),
        "submitted": frozenset({"reviewed", "returned"}),
        "reviewed": frozenset({"approved", "returned"}),
        "approved": frozenset({"sent", "returned"}),
        "sent": frozenset({"feedback_received"}),
        "feedback_received": frozenset({"reconciled"}),
        "reconciled": frozenset({"closed"}),
        "closed": frozenset(),
        "returned": frozenset({"submitted", "cancelled"}),
        "cancelled": frozenset(),
    },
    labels=BATCH_LABELS,
    timestamps={"submitted": "submitted_at", "reviewed": "reviewed_at", "approved": "approved_at",
                "sent": "sent_at", "feedback_received": "feedback_at", "reconciled": "reconciled_at",
                "closed": "closed_at", "returned": "returned_at", "cancelled": "cancelled_at"},
    changed_at_attr="status_changed_at",
)

# States in which the totals fixed at submission are checked against the lines before every move.
TOTALS_FIXED = frozenset({"submitted", "reviewed", "approved", "sent", "feedback_received", "reconciled"})

LINE_LABELS = {"held": "暂缓", "pending": "待发送", "sent": "已发送", "paid": "成功", "failed": "失败",
               "superseded": "已补发", "rejoined": "已并入新批次", "cancelled": "已移出",
               "released": "待随下一批发放", "returned": "已退汇", "written_off": "已核销",
               "disputed": "互斥待定"}

LINE_MACHINE = StateMachine(
    name="batch_line",
    state_attr="status",
    transitions={
        "held": frozenset({"rejoined", "cancelled", "released"}),
        "pending": frozenset({"sent", "cancelled", "disputed"}),
        # listed in a project excluding this one for the period: the department releases it or takes it out
        "disputed": frozenset({"pending", "cancelled"}),
        "sent": frozenset({"paid", "failed"}),
        "paid": frozenset({"returned"}),         # the bank sent the credited money back (退汇)
        "failed": frozenset({"superseded", "written_off"}),
        # its re-issue line was taken out: back on the worklist (failed or returned, by the line's outcome)
        "superseded": frozenset({"failed", "returned"}),
        # a late payment's line was taken out of its draft: the owed line waits for the next batch again
        "rejoined": frozenset({"released"}),
        "cancelled": frozenset(),
        # the reason for holding it went away (owed.release); it joins the project's next batch (owed.join)
        "released": frozenset({"rejoined", "held", "cancelled"}),
        "returned": frozenset({"superseded", "written_off"}),
        "written_off": frozenset(),
    },
    labels=LINE_LABELS,
)


def move_lines(targets: str | tuple[str, ...], *where, only_from: tuple[str, ...] | None = None, **values) -> int:
    """Move every batch line matching ``where`` to ``targets`` in one UPDATE, only from the states LINE_MACHINE
    allows; a line in any other state is left as it is (and not counted). Returns the number of lines moved.

    One target sets ``status`` itself; several (the bank's result: paid or failed per line) need the caller's
    ``status=`` expression, and each line may only come from a state allowed for every one of them.
    ``only_from`` narrows the sources further (never widens them: naming a move the machine does not allow is a
    programming error).
    """
    lines = BatchLine.__table__
    if isinstance(targets, str):
        targets = (targets,)
        values.setdefault("status", targets[0])
    elif "status" not in values:
        raise TypeError("move_lines: several targets need an explicit status= expression")
    sources = set(LINE_MACHINE.sources(targets[0])).intersection(*(LINE_MACHINE.sources(t) for t in targets[1:]))
    if only_from is not None:
        if not set(only_from) <= sources:
            raise ValueError(f"move_lines: {only_from} -> {targets} is not a move LINE_MACHINE allows")
        sources = set(only_from)
    allowed = tuple(s for s in LINE_MACHINE.transitions if s in sources)
    return db.session.execute(sa.update(lines).where(lines.c.status.in_(allowed), *where).values(**values)).rowcount
