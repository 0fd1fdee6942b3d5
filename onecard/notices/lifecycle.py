"""The notice state machine (到账通知状态): every state a notice passes through, and every allowed move.

A staff retry goes through ``NOTICE_MACHINE.transition()``. The drainer's moves (claim, write-back,
hold for quiet hours), the opt-out and the delivery reports are set-based UPDATEs, one statement for
many rows (the claim's atomicity is the exactly-once guarantee); each takes its ``WHERE state IN``
from the machine through the names below, so no statement can make a move the machine does not list.
"""
from __future__ import annotations

from onecard.lifecycle import StateMachine

STATES = {
    "pending": "待发送",
    "claimed": "发送中",
    "retry_wait": "等待重试",
    "unknown": "结果待核实",
    "held": "暂缓（免打扰时段）",
    "sent": "已发送",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "发送失败",
    "skipped": "不发送",
}

NOTICE_MACHINE = StateMachine(
    name="notice",
    state_attr="state",
    transitions={
        "pending": frozenset({"claimed", "held", "skipped"}),
        # quiet hours that are still on at the end of a hold hold the notice again
        "held": frozenset({"claimed", "held", "skipped"}),
        # a delivery report settles a send that timed out but got through
        "retry_wait": frozenset({"claimed", "held", "skipped", "failed", "delivered", "undelivered"}),
        # an unknown outcome (timeout, 5xx, reconciliation unavailable: maybe sent) waits for reconciliation
        # with the provider or a delivery report; it never becomes failed by counting attempts
        "unknown": frozenset({"claimed", "held", "delivered", "undelivered", "failed"}),
        # a lease that expired is claimed again by another drainer; a delivery report may beat the write-back
        "claimed": frozenset({"claimed", "sent", "retry_wait", "unknown", "failed", "delivered", "undelivered"}),
        "sent": frozenset({"delivered", "undelivered", "failed"}),
        "delivered": frozenset(),
        "undelivered": frozenset({"pending"}),   # staff retry
        "failed": frozenset({"pending"}),        # staff retry
        "skipped": frozenset({"pending"}),       # resident switched SMS back on / staff retry
    },
    labels=STATES,
    changed_at_attr="state_changed_at",
)

# States a drainer may claim once next_attempt_at has come; a "claimed" notice only once its lease expired.
CLAIMABLE = tuple(s for s in NOTICE_MACHINE.sources("claimed") if s != "claimed")
# Due notices that quiet hours hold until the morning.
HOLDABLE = NOTICE_MACHINE.sources("held")
# Notices not yet sent, which a resident's opt-out skips.
SKIPPABLE = NOTICE_MACHINE.sources("skipped")


def from_claim(target: str) -> str:
    """The write-back's source state: the claim, provided the machine lets a claim end in ``target``
    (one state, not a tuple: the sent write-back is an executemany, where IN cannot expand).
    Raises for a move the machine does not list (a programming error, not a lost claim)."""
    if not NOTICE_MACHINE.allowed("claimed", target):
        raise ValueError(f"a claimed notice cannot become {target!r}")
    return "claimed"
