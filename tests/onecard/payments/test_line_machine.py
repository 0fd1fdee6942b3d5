"""Batch lines move only as LINE_MACHINE allows: every set-based move goes through move_lines, which takes its
source states from the machine, and a line in another state is left alone."""
from __future__ import annotations

import ast
import pathlib
import uuid

import pytest
import sqlalchemy as sa

from onecard.payments.lifecycle import BATCH_MACHINE, LINE_MACHINE, move_lines
from onecard.payments.models import LINE_STATES, BatchLine

PAYMENTS = pathlib.Path(__file__).resolve().parents[3] / "onecard" / "payments"


def test_machine_covers_every_line_state_with_a_label():
    assert set(LINE_MACHINE.transitions) == set(LINE_STATES) == set(LINE_MACHINE.labels)


def test_sources_are_the_states_allowed_to_reach_a_target():
    assert LINE_MACHINE.sources("cancelled") == ("held", "pending", "disputed", "released")
    assert LINE_MACHINE.sources("sent") == ("pending",)
    assert LINE_MACHINE.sources("pending") == ("disputed",)     # made pending; back only by a department's decision
    assert BATCH_MACHINE.sources("returned") == ("submitted", "reviewed", "approved")


def test_no_line_status_is_set_by_hand_outside_the_machine():
    """Every ``.values(status=...)`` in the payments package is move_lines' own (a batch's status moves through
    BATCH_MACHINE.transition, which is not written as .values here)."""
    offenders = []
    for path in sorted(PAYMENTS.rglob("*.py")):
        if path.name == "lifecycle.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values"
                    and any(k.arg == "status" for k in node.keywords)):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_a_line_in_a_refused_source_state_is_left_alone(client, db, pay, pension_list):
    r = client.post("/api/staff/v1/batches", headers=pay.operator.auth,
                    json={"project_id": pay.pension.id, "period": "2026-10", "idempotency_key": uuid.uuid4().hex})
    batch_id = r.json["id"]
    lines = BatchLine.__table__

    def statuses():
        return sorted(db.session.execute(sa.select(lines.c.status).where(lines.c.batch_id == batch_id)).scalars())

    before = statuses()
    assert set(before) == {"pending", "held"}
    # Nothing pending or held may be paid directly: no line moves.
    assert move_lines("paid", lines.c.batch_id == batch_id) == 0
    # Sent moves only the pending lines; the held ones stay held.
    assert move_lines("sent", lines.c.batch_id == batch_id) == before.count("pending")
    assert statuses() == sorted(["sent"] * before.count("pending") + ["held"] * before.count("held"))
    # Naming a source the machine does not allow is a programming error, not a silent widening.
    with pytest.raises(ValueError):
        move_lines("failed", lines.c.batch_id == batch_id, only_from=("pending",))
    db.session.rollback()
