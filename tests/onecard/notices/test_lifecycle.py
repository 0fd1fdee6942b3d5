"""The notice state machine is the one list of moves; the outbox's set-based SQL takes its sources from it."""
from __future__ import annotations

import pytest

from onecard.lifecycle import StateMachine
from onecard.notices.lifecycle import CLAIMABLE, HOLDABLE, NOTICE_MACHINE, SKIPPABLE, from_claim


def test_sources_lists_every_state_allowed_to_reach_a_target():
    m = StateMachine(name="x", state_attr="state", labels={},
                     transitions={"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"b"})})
    assert m.sources("b") == ("a", "c") and m.sources("c") == ("b",) and m.sources("a") == ()


def test_the_outbox_statements_move_notices_only_as_the_machine_allows():
    # claim: due notices, and a claimed one whose lease expired (claimed -> claimed)
    assert set(CLAIMABLE) == {"pending", "retry_wait", "held", "unknown"} and "claimed" in NOTICE_MACHINE.sources("claimed")
    assert set(HOLDABLE) == {"pending", "retry_wait", "held", "unknown"}   # quiet hours
    assert set(SKIPPABLE) == {"pending", "retry_wait", "held"}         # the resident switched SMS off
    for final in ("delivered", "undelivered", "failed"):                 # delivery reports
        assert set(NOTICE_MACHINE.sources(final)) == {"sent", "claimed", "retry_wait", "unknown"}
    for target in ("sent", "retry_wait", "unknown", "failed"):                      # the drainer's write-back
        assert from_claim(target) == "claimed"
    with pytest.raises(ValueError):
        from_claim("pending")
    # a staff retry, through transition()
    assert set(NOTICE_MACHINE.sources("pending")) == {"failed", "undelivered", "skipped"}
