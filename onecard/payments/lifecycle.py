"""The batch lifecycle (发放批次状态): the only table of allowed batch moves.

草稿 → 已提交 → 已审核 (department reviewer) → 已审批 (finance) → 已发送银行 → 已回盘 → 已对账 → 已归档;
退回修改 from any review state back to an editable state; 作废 from draft or returned.
"""
from __future__ import annotations

from onecard.lifecycle import StateMachine

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
