"""State machines as data.

Each lifecycle (card, card application, batch, notice...) is a ``StateMachine``
declared once in its domain package: the allowed transitions, the timestamp
column each target state sets, and the Chinese labels. ``transition()`` is the
only way a state column changes: it checks the move is allowed, applies it with
a compare-and-set UPDATE (so two concurrent requests cannot both move the same
row out of the same state), sets timestamps and writes the audit entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict
from onecard.extensions import db
from onecard.timeutil import utcnow


@dataclass(frozen=True)
class StateMachine:
    name: str                                   # audit entity type, e.g. "card"
    state_attr: str                             # the model's state column
    transitions: dict[str, frozenset[str]]      # from -> allowed targets
    labels: dict[str, str]                      # state -> 中文
    timestamps: dict[str, str] = field(default_factory=dict)  # target state -> datetime column to set
    changed_at_attr: str | None = None          # column set on every move

    def allowed(self, source: str, target: str) -> bool:
        return target in self.transitions.get(source, frozenset())

    def sources(self, target: str) -> tuple[str, ...]:
        """The states allowed to move to ``target`` (in declaration order): what a set-based UPDATE may match."""
        return tuple(source for source, targets in self.transitions.items() if target in targets)

    def label(self, state: str) -> str:
        return self.labels.get(state, state)

    def check(self, source: str, target: str) -> None:
        if not self.allowed(source, target):
            raise Conflict(
                f"当前状态为“{self.label(source)}”，不能变更为“{self.label(target)}”",
                code=f"{self.name}_invalid_transition", field=self.state_attr,
            )

    def transition(self, obj, target: str, actor: Actor, *, action: str | None = None, note: str | None = None,
                   extra_values: dict | None = None, audit_after: dict | None = None) -> None:
        """Move ``obj`` to ``target`` inside the caller's transaction (the caller commits)."""
        source = getattr(obj, self.state_attr)
        self.check(source, target)
        now = utcnow()
        values = {self.state_attr: target, **(extra_values or {})}
        if target in self.timestamps:
            values[self.timestamps[target]] = now
        if self.changed_at_attr:
            values[self.changed_at_attr] = now
        model = type(obj)
        state_col = getattr(model, self.state_attr)
        result = db.session.execute(
            sa.update(model).where(model.id == obj.id, state_col == source).values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            # Someone else moved it first: refuse rather than act twice.
            raise Conflict("该记录已被他人处理，请刷新后重试", code=f"{self.name}_concurrent_change",
                           field=self.state_attr)
        # The UPDATE bypassed the identity map: reload these columns on next access.
        db.session.expire(obj, list(values))
        audit.record(action or f"{self.name}.{target}", actor=actor, entity_type=self.name, entity_id=obj.id,
                     before={self.state_attr: source},
                     after={self.state_attr: target, **(audit_after or {})}, note=note)
