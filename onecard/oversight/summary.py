"""Maintained summaries behind the statistics report (统计汇总), so the report reads hundreds of rows, not millions.

Ledger side (append-only): ``record_ledger(*where)`` adds the new ledger rows to ``oversight_ledger_stats``
with one set-based upsert (n = n + excluded.n) per table, called by the payments service in the SAME
transaction that inserts them, so a committed ledger row is always counted exactly once. The grain is
what the report shows: each dimension's key within one department (the only scope the statistics have),
and the failure code. "Batches" is a count of distinct batches, not a sum, so the (dimension, key,
batch) pairs are kept in ``oversight_ledger_stat_batches``.

List side (rows change at matching, lists are withdrawn, "activated" follows card status): one summary
per list in ``oversight_list_stats``, recomputed by ``refresh_lists`` (nightly job, CLI) and marked with
the list's state. The report uses a list's summary only while that state is unchanged and no card of
its people changed since; every other list is aggregated directly in the same report, so a figure is
never stale, and the direct part costs in proportion to the lists changed since the last refresh.

The same SQL builds the summaries and the direct figures (``ledger_marginals`` / ``list_marginals``):
``stats.compute(..., source="direct")`` is the check that the two agree.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from onecard.cards.models import Card
from onecard.db import dialect, insert_ignore, local_month, seconds_between, unindexed, upsert
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.oversight.models import (
    AccountPayee,
    LedgerStat,
    LedgerStatBatch,
    ListStat,
    ListStatState,
    PayeeProject,
    ProxyWard,
    RiskWatermark,
)
from onecard.payments.models import LedgerEntry
from onecard.timeutil import utcnow

DIMENSIONS = ("department", "project", "town", "village", "bank", "month")
NONE_KEY = "none"
# A card change committed by a transaction that began before a list refresh may carry an earlier
# timestamp than the refresh: changes this close before a refresh count as "after" it.
CARD_CHANGE_MARGIN = timedelta(minutes=10)

LEDGER_SUMS = ("paid_n", "paid_fen", "failed_n", "reissued_n", "days_seconds", "days_n", "returned_n",
               "returned_fen")
LIST_SUMS = ("recipients", "matched", "activated", "listed_fen")


def _column(cube, dim: str):
    return cube.c["month" if dim == "month" else f"{dim}_id"]


def _key(column):
    """The text key of a grouping value: the id as text, 'YYYY-MM', or 'none' for NULL."""
    return sa.func.coalesce(sa.cast(column, sa.String), sa.literal_column(f"'{NONE_KEY}'")).label("key")


# ---- ledger side ---------------------------------------------------------------------------------------

def _ledger_cube(where):
    """Ledger rows matching ``where`` grouped at the finest grain any figure needs (one pass over them)."""
    L = LedgerEntry
    paid = L.outcome == "paid"
    timed = sa.and_(paid, L.approved_at.is_not(None))
    month = local_month(L.occurred_at)
    code = sa.func.coalesce(L.failure_code, sa.literal_column("''"))
    return (
        sa.select(
            L.department_id, L.project_id, L.town_id, L.village_id, L.bank_id, month.label("month"), L.batch_id,
            code.label("failure_code"),
            sa.func.sum(sa.case((paid, 1), else_=0)).label("paid_n"),
            sa.func.sum(sa.case((paid, L.amount_fen), else_=0)).label("paid_fen"),
            sa.func.sum(sa.case((L.outcome == "failed", 1), else_=0)).label("failed_n"),
            sa.func.sum(sa.case((sa.and_(paid, L.reissue_of_line_id.is_not(None)), 1), else_=0)).label("reissued_n"),
            sa.func.sum(sa.case((timed, seconds_between(L.approved_at, L.occurred_at)), else_=0)).label("days_seconds"),
            sa.func.sum(sa.case((timed, 1), else_=0)).label("days_n"),
            # 退汇: a reversal entry of money paid earlier (its paid entry stays counted in paid_n)
            sa.func.sum(sa.case((L.outcome == "returned", 1), else_=0)).label("returned_n"),
            sa.func.sum(sa.case((L.outcome == "returned", L.amount_fen), else_=0)).label("returned_fen"),
            sa.func.min(sa.case((L.outcome == "failed", L.failure_reason), else_=None)).label("reason"),
        )
        .where(*where)
        # Month first: no index yields that order, so SQLite drives from ``where`` (an id range, a batch)
        # instead of walking a whole index on department or bank to skip the sort.
        .group_by(month, L.village_id, L.town_id, L.bank_id, L.project_id, L.department_id, L.batch_id, code)
        .cte("ledger_cube").prefix_with("MATERIALIZED")
    )


def ledger_marginals(where=()):
    """(dimension, key, department_id, failure_code, sums..., reason) of the ledger rows matching ``where``;
    and (dimension, key, batch_id, department_id) for the batch counts. The shape of the two tables."""
    cube = _ledger_cube(where)
    sums, batches = [], []
    for dim in DIMENSIONS:
        col = _column(cube, dim)
        sums.append(sa.select(
            sa.literal(dim).label("dimension"), _key(col), cube.c.department_id, cube.c.failure_code,
            *[sa.func.sum(cube.c[m]).label(m) for m in LEDGER_SUMS], sa.func.min(cube.c.reason).label("reason"),
        ).group_by(col, cube.c.department_id, cube.c.failure_code))
        batches.append(sa.select(
            sa.literal(dim).label("dimension"), _key(col), cube.c.batch_id,
            sa.func.min(cube.c.department_id).label("department_id"),
        ).group_by(col, cube.c.batch_id))
    return sa.union_all(*sums), sa.union_all(*batches)


def record_ledger(*where) -> None:
    """Add the ledger rows matching ``where`` (the rows the caller just inserted) to the summary.

    Call it in the transaction that inserted them, exactly once per row: the sums are grown, not replaced.
    Set-based: two upserts whatever the number of rows.
    """
    sums, batches = ledger_marginals(where)
    t = LedgerStat.__table__
    cols = ["dimension", "key", "department_id", "failure_code", *LEDGER_SUMS, "reason"]
    # Key order: concurrent imports then lock shared summary rows in one order (no deadlock on PostgreSQL).
    sums = sums.subquery()
    stmt = upsert(t).from_select(cols, sa.select(sums).where(sa.true()).order_by(
        sums.c.dimension, sums.c.key, sums.c.department_id, sums.c.failure_code))
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.dimension, t.c.key, t.c.department_id, t.c.failure_code],
        set_={**{m: t.c[m] + new[m] for m in LEDGER_SUMS},
              "reason": sa.case((new.reason.is_(None), t.c.reason), (t.c.reason.is_(None), new.reason),
                                (new.reason < t.c.reason, new.reason), else_=t.c.reason)})
    db.session.execute(stmt)
    b = LedgerStatBatch.__table__
    batches = batches.subquery()
    stmt = upsert(b).from_select(["dimension", "key", "batch_id", "department_id"],
                                 sa.select(batches).where(sa.true()).order_by(
                                     batches.c.dimension, batches.c.key, batches.c.batch_id))
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=[b.c.dimension, b.c.key, b.c.batch_id]))
    _record_risk_tables(where)


def _record_risk_tables(where) -> None:
    """The small tables the risk checks start from (who was paid by what, through which account or proxy)."""
    L = LedgerEntry
    paid = L.outcome == "paid"
    pp = PayeeProject.__table__
    resident, project = unindexed(L.resident_id).label("resident_id"), unindexed(L.project_id).label("project_id")
    grouped = (sa.select(resident, project, sa.func.min(L.occurred_at).label("first_at"),
                         sa.func.max(L.occurred_at).label("last_at"), sa.func.max(L.amount_fen).label("max_fen"))
               .where(paid, *where).group_by(resident, project).subquery())
    stmt = upsert(pp).from_select(["resident_id", "project_id", "first_at", "last_at", "max_fen"],
                                  sa.select(grouped).where(sa.true()).order_by(grouped.c.resident_id,
                                                                                 grouped.c.project_id))
    new = stmt.excluded
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[pp.c.resident_id, pp.c.project_id],
        set_={"first_at": sa.case((new.first_at < pp.c.first_at, new.first_at), else_=pp.c.first_at),
              "last_at": sa.case((new.last_at > pp.c.last_at, new.last_at), else_=pp.c.last_at),
              "max_fen": sa.case((new.max_fen > pp.c.max_fen, new.max_fen), else_=pp.c.max_fen)}))
    for table, cols, cond in (
            (AccountPayee.__table__, (L.account_bidx, L.resident_id),
             (L.account_bidx.is_not(None), L.route != "proxy")),
            (ProxyWard.__table__, (L.payee_resident_id, L.resident_id),
             (L.route == "proxy", L.payee_resident_id.is_not(None)))):
        pairs = sa.select(*[unindexed(c).label(c.name) for c in cols]).where(paid, *cond, *where).distinct().subquery()
        db.session.execute(insert_ignore(table).from_select([c.name for c in table.primary_key.columns],
                                                            sa.select(pairs).where(sa.true()).order_by(*pairs.c)))


def rebuild_ledger() -> None:
    """Recompute the ledger summary from every ledger row (after a restore, or to repair); caller commits.

    On PostgreSQL the summary is locked first, so an import committing meanwhile waits and then adds
    its own rows on top of the rebuilt figures (SQLite serialises writers anyway).
    """
    if dialect() == "postgresql":
        db.session.execute(sa.text("LOCK TABLE oversight_ledger_stats, oversight_ledger_stat_batches, "
                                   "oversight_payee_projects, oversight_account_payees, oversight_proxy_wards "
                                   "IN EXCLUSIVE MODE"))
    for model in (LedgerStat, LedgerStatBatch, PayeeProject, AccountPayee, ProxyWard):
        db.session.execute(sa.delete(model))
    # After a restore the ledger's ids may be new: the next risk run reads everything once.
    db.session.execute(sa.delete(RiskWatermark))
    record_ledger()


# ---- list side -----------------------------------------------------------------------------------------

def list_marginals(where=()):
    """(list_id, dimension, key, department_id, recipients, matched, activated, listed_fen) per list."""
    R, RL = RecipientRow, RecipientList
    cube = (
        sa.select(
            RL.id.label("list_id"), RL.department_id, R.project_id, R.town_id, R.village_id, R.bank_id,
            R.period.label("month"),
            sa.func.count().label("recipients"),
            sa.func.sum(sa.case((R.match_result == "usable", 1), else_=0)).label("matched"),
            sa.func.count(Card.id).label("activated"),
            sa.func.sum(R.amount_fen).label("listed_fen"),
        )
        .select_from(R)
        .join(RL, RL.id == R.list_id)
        .outerjoin(Card, sa.and_(Card.resident_id == R.resident_id, Card.status == "active"))
        .where(RL.status != "withdrawn", *where)
        .group_by(RL.id, RL.department_id, R.project_id, R.town_id, R.village_id, R.bank_id, R.period)
        .cte("list_cube").prefix_with("MATERIALIZED")
    )
    return sa.union_all(*[
        sa.select(cube.c.list_id, sa.literal(dim).label("dimension"), _key(_column(cube, dim)),
                  cube.c.department_id, *[sa.func.sum(cube.c[m]).label(m) for m in LIST_SUMS])
        .group_by(cube.c.list_id, cube.c.department_id, _column(cube, dim))
        for dim in DIMENSIONS
    ])


def _fingerprint(row) -> str:
    matched = row.matched_at.isoformat() if row.matched_at else ""
    return f"{row.status}|{matched}|{row.row_count}|{row.total_fen}|{row.file_sha256}"


def current_lists():
    RL = RecipientList
    return db.session.execute(sa.select(RL.id, RL.status, RL.matched_at, RL.row_count, RL.total_fen,
                                        RL.file_sha256)).all()


def fresh_lists() -> set[int]:
    """Lists whose stored summary still holds: same list state, and no card of its people changed since."""
    states = {s.list_id: s for s in db.session.execute(sa.select(ListStatState)).scalars()}
    if not states:
        return set()
    fresh = {r.id for r in current_lists() if r.id in states and states[r.id].fingerprint == _fingerprint(r)}
    if not fresh:
        return fresh
    since = min(states[i].cards_as_of for i in fresh)
    people = sorted(set(db.session.execute(sa.select(Card.resident_id).where(Card.status_changed_at >= since))
                        .scalars()))
    if not people:
        return fresh
    if len(people) > 20_000:        # a mass change: its lists are computed directly until the next refresh
        return set()
    changed = (sa.select(unindexed(RecipientRow.list_id)).where(RecipientRow.resident_id.in_(people)).distinct())
    return fresh - set(db.session.execute(changed).scalars())


def refresh_lists(*, everything: bool = False) -> int:
    """Recompute the summary of every list whose summary is stale (or of all lists); caller commits.

    Returns how many lists were refreshed. The list states are read before the rows, so a change that
    commits in between leaves the summary marked stale rather than wrong.
    """
    if dialect() == "postgresql":
        db.session.execute(sa.text("LOCK TABLE oversight_list_stats, oversight_list_stat_states IN EXCLUSIVE MODE"))
    now = utcnow()
    current = current_lists()
    keep = set() if everything else fresh_lists()
    stale = [r for r in current if r.id not in keep]
    known = {r.id for r in current}
    gone = set(db.session.execute(sa.select(ListStatState.list_id)).scalars()) - known
    drop = [r.id for r in stale] + sorted(gone)
    for start in range(0, len(drop), 5000):
        part = drop[start:start + 5000]
        db.session.execute(sa.delete(ListStat).where(ListStat.list_id.in_(part)))
        db.session.execute(sa.delete(ListStatState).where(ListStatState.list_id.in_(part)))
    if not stale:
        return 0
    cols = ["list_id", "dimension", "key", "department_id", *LIST_SUMS]
    where = () if everything or len(stale) == len(current) else (RecipientList.id.in_([r.id for r in stale]),)
    db.session.execute(sa.insert(ListStat).from_select(cols, list_marginals(where)))
    db.session.execute(sa.insert(ListStatState), [
        {"list_id": r.id, "fingerprint": _fingerprint(r), "cards_as_of": now - CARD_CHANGE_MARGIN,
         "refreshed_at": now} for r in stale])
    return len(stale)


def rebuild() -> dict:
    """Both summaries from scratch (``onecard oversight-rebuild-summary``); caller commits."""
    rebuild_ledger()
    return {"lists": refresh_lists(everything=True)}
