"""Dashboard figures (工作台统计) for each role, computed by GROUP BY in the database.

Every query is limited by ``permissions.scope_filter``: a department sees its own
ledger, a bank its own cards and payments, a town or village its own residents;
the bureau, finance and the auditor see the county.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.cards.lifecycle import CARD_LABELS
from onecard.cards.models import Card
from onecard.complaints import cases
from onecard.db import local_month
from onecard.extensions import db
from onecard.payments.models import LedgerEntry
from onecard.people.models import Resident
from onecard.projects.models import Project
from onecard.reference.models import Town
from onecard.staff import permissions
from onecard.timeutil import SHANGHAI, to_local, utcnow

permissions.register({
    # card activation by town: whoever answers for residents or issues their cards
    "dashboard.cards": {"admin", "finance", "auditor", "bank_operator", "town_staff", "village_staff"},
    # money paid and failures, from the ledger, scoped to the actor's department, bank, town or village
    "dashboard.payments": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator",
                           "town_staff", "village_staff"},
})

# Statuses in the order a card moves through them (charts stack in this order).
CARD_STATUS_ORDER = ["active", "issued", "ready", "applied", "not_applied", "lost"]


@dataclass
class Dashboard:
    """What the dashboard shows to one actor; a part the actor may not see is None."""
    cards_by_town: list[dict] | None = None          # [{"town", "counts": {status: n}, "total"}]
    card_statuses: list[tuple[str, str]] = field(default_factory=list)   # (status, label) present
    paid_by_month: dict | None = None                # {"months": [...], "projects": [(name, [fen...])]}
    failures: list[dict] | None = None               # [{"reason", "count", "amount_fen"}]
    overdue_complaints: list[dict] | None = None     # complaints.cases.overdue_for_dashboard
    totals: dict = field(default_factory=dict)


def card_status_by_town(actor: Actor) -> list[dict]:
    """Cards (not cancelled) per town and status, for the actor's scope."""
    permissions.require(actor, "dashboard.cards")
    stmt = (sa.select(Town.name, Card.status, sa.func.count(Card.id))
            .select_from(Card)
            .join(Resident, Resident.id == Card.resident_id)
            .join(Town, Town.id == Resident.town_id)
            .where(Card.status != "cancelled",
                   permissions.scope_filter(actor, Resident, bank_col=Card.bank_id))
            .group_by(Town.code, Town.name, Card.status)
            .order_by(Town.code))
    towns: dict[str, dict] = {}
    for town, status, count in db.session.execute(stmt):
        row = towns.setdefault(town, {"town": town, "counts": {}, "total": 0})
        row["counts"][status] = count
        row["total"] += count
    return list(towns.values())


def _month_starts(months: int, now: datetime) -> list[str]:
    local = to_local(now)
    year, month = local.year, local.month
    labels = []
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(labels))


def paid_by_month_and_project(actor: Actor, *, months: int = 12, top: int = 5) -> dict:
    """Amounts paid (fen) per month and project over the last ``months`` months; small projects as 其他."""
    permissions.require(actor, "dashboard.payments")
    now = utcnow()
    labels = _month_starts(months, now)
    first = datetime.strptime(labels[0] + "-01", "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    cutoff = first.astimezone(UTC).replace(tzinfo=None)   # local midnight of the first month, as naive UTC
    month = local_month(LedgerEntry.occurred_at)
    stmt = (sa.select(month.label("month"), Project.name, sa.func.sum(LedgerEntry.amount_fen))
            .select_from(LedgerEntry)
            .join(Project, Project.id == LedgerEntry.project_id)
            .where(LedgerEntry.outcome == "paid", LedgerEntry.occurred_at >= cutoff,
                   permissions.scope_filter(actor, LedgerEntry))
            .group_by(month, Project.id, Project.name))
    per_project: dict[str, dict[str, int]] = {}
    for m, name, fen in db.session.execute(stmt):
        per_project.setdefault(name, {})[m] = int(fen or 0)
    ranked = sorted(per_project, key=lambda n: -sum(per_project[n].values()))
    series = [(name, [per_project[name].get(m, 0) for m in labels]) for name in ranked[:top]]
    rest = ranked[top:]
    if rest:
        series.append(("其他项目", [sum(per_project[n].get(m, 0) for n in rest) for m in labels]))
    return {"months": labels, "projects": series,
            "total_fen": sum(sum(v.values()) for v in per_project.values())}


def failure_reasons(actor: Actor, *, limit: int = 8) -> list[dict]:
    """Failed payments by the bank's stated reason, most frequent first."""
    permissions.require(actor, "dashboard.payments")
    count = sa.func.count(LedgerEntry.id)
    stmt = (sa.select(LedgerEntry.failure_reason, count, sa.func.sum(LedgerEntry.amount_fen))
            .where(LedgerEntry.outcome == "failed", permissions.scope_filter(actor, LedgerEntry))
            .group_by(LedgerEntry.failure_reason)
            .order_by(count.desc(), LedgerEntry.failure_reason)
            .limit(limit))
    return [{"reason": reason, "count": n, "amount_fen": int(fen or 0)}
            for reason, n, fen in db.session.execute(stmt)]


def for_actor(actor: Actor) -> Dashboard:
    """Everything the actor's dashboard shows (the parts its role may see)."""
    board = Dashboard()
    if permissions.can(actor, "dashboard.cards"):
        board.cards_by_town = card_status_by_town(actor)
        present = {s for row in board.cards_by_town for s in row["counts"]}
        board.card_statuses = [(s, CARD_LABELS.get(s, s)) for s in CARD_STATUS_ORDER if s in present]
        total = sum(r["total"] for r in board.cards_by_town)
        active = sum(r["counts"].get("active", 0) for r in board.cards_by_town)
        board.totals["cards"] = total
        board.totals["active_rate"] = round(100 * active / total, 1) if total else None
    if permissions.can(actor, "dashboard.payments"):
        board.paid_by_month = paid_by_month_and_project(actor)
        board.failures = failure_reasons(actor)
        board.totals["paid_fen"] = board.paid_by_month["total_fen"]
        board.totals["failed"] = sum(f["count"] for f in board.failures)
    if permissions.can(actor, "complaint.stats"):
        board.overdue_complaints = cases.overdue_for_dashboard(actor)
        board.totals["overdue_complaints"] = len(board.overdue_complaints)
    return board


def matching_progress_by_town(actor: Actor) -> list[dict] | None:
    """比对进度（按镇街）: rows of open recipient lists per town (as listed) and match result, in the actor's scope.

    None for a role that may not read lists; rows not matched yet count under ``None``.
    """
    from onecard.lists.models import RecipientList, RecipientRow
    if not permissions.can(actor, "list.read"):
        return None
    stmt = (sa.select(Town.name, RecipientRow.match_result, sa.func.count(RecipientRow.id))
            .select_from(RecipientRow)
            .join(RecipientList, RecipientList.id == RecipientRow.list_id)
            .join(Town, Town.id == RecipientRow.town_id)
            .where(RecipientList.status != "withdrawn", permissions.scope_filter(actor, RecipientList))
            .group_by(Town.code, Town.name, RecipientRow.match_result)
            .order_by(Town.code))
    towns: dict[str, dict] = {}
    for town, result, count in db.session.execute(stmt):
        row = towns.setdefault(town, {"town": town, "counts": {}, "total": 0})
        row["counts"][result] = count
        row["total"] += count
    return list(towns.values())
