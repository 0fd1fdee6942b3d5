"""Changes of who receives a resident's money, for features that react to them (e.g. releasing held lines).

The people services publish ``PayeeChange``s after their transaction commits: a household got a head
(created, head changed, split), lost its head (death), or a ward got or lost a legal proxy. Subscribers
(``subscribe(fn)``) receive the list one operation published, in the same request, after the commit; each runs
its own unit of work. A list, not one call per change: an import of 200,000 households publishes 200,000 changes,
and a subscriber handles them set-based.
A subscriber's error propagates (nothing swallows it): the master-data change is already committed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from onecard.actors import Actor

KINDS = {
    "head_registered": "登记或变更户主",
    "head_lost": "户主死亡，待登记新户主",
    "proxy_appointed": "登记法定代管代持人",
    "proxy_revoked": "撤销法定代管代持",
    "resident_deceased": "登记死亡",
}


@dataclass(frozen=True)
class PayeeChange:
    kind: str                          # a key of KINDS
    resident_ids: tuple[int, ...]      # beneficiaries whose payee may have changed (household members, the ward)
    actor: Actor
    household_id: int | None = None
    appointment_id: int | None = None


_SUBSCRIBERS: list[Callable[[list[PayeeChange]], None]] = []


def subscribe(fn: Callable[[list[PayeeChange]], None]) -> Callable[[list[PayeeChange]], None]:
    """Register ``fn`` (usable as a decorator); registering the same function twice has no effect."""
    if fn not in _SUBSCRIBERS:
        _SUBSCRIBERS.append(fn)
    return fn


def unsubscribe(fn: Callable[[list[PayeeChange]], None]) -> None:
    if fn in _SUBSCRIBERS:
        _SUBSCRIBERS.remove(fn)


def publish(changes: list[PayeeChange]) -> None:
    """Called by the people services after commit: each subscriber gets the whole list once."""
    if not changes:
        return
    for fn in list(_SUBSCRIBERS):
        fn(list(changes))
