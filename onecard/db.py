"""The database dialect helpers, in one place: what SQLite and PostgreSQL spell differently.

Everything else is portable SQLAlchemy Core; these helpers pick the dialect's spelling so the work is
still done by the database (``bulk_insert`` is the one builder of driver-level executemany inserts for the
bulk paths). One definition each: "the month of a payment" is ``local_month`` for the
statistics, the dashboard, the supervision report and the resident's page alike.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import sqlalchemy as sa

from onecard.extensions import db


def dialect() -> str:
    return db.session.get_bind().dialect.name


def days_between(start, end):
    """Fractional days from ``start`` to ``end`` (two DateTime columns), computed by the database."""
    if dialect() == "postgresql":
        return sa.func.extract("epoch", end - start) / 86400.0
    return sa.func.julianday(end) - sa.func.julianday(start)


def seconds_between(start, end):
    """Whole seconds from ``start`` to ``end``: integers, so sums of them are exact in any order."""
    if dialect() == "postgresql":
        return sa.cast(sa.func.extract("epoch", end - start), sa.BigInteger)
    return (sa.cast(sa.func.strftime(sa.literal_column("'%s'"), end), sa.Integer)
            - sa.cast(sa.func.strftime(sa.literal_column("'%s'"), start), sa.Integer))


def local_month(column):
    """'YYYY-MM' of a naive-UTC DateTime column in Asia/Shanghai time (UTC+8, no daylight saving)."""
    if dialect() == "postgresql":
        # Literal (not bound) arguments: PostgreSQL matches GROUP BY expressions textually.
        return sa.func.to_char(column + sa.text("interval '8 hours'"), sa.literal_column("'YYYY-MM'"))
    return sa.func.strftime(sa.literal_column("'%Y-%m'"), column, sa.literal_column("'+8 hours'"))


def string_agg(column, separator: str = ","):
    """Comma-joined values of a group (evidence ids), as text."""
    if dialect() == "postgresql":
        return sa.func.string_agg(sa.cast(column, sa.Text), separator)
    return sa.func.group_concat(column, separator)


def date_of(column):
    """The calendar date of a DateTime column, comparable with a Date column on both databases."""
    if dialect() == "postgresql":
        return sa.cast(column, sa.Date)
    return sa.func.date(column)


def unindexed(column):
    """``column`` as an expression no index matches, for GROUP BY / DISTINCT over a slice of a big table.

    Given a grouping that an index could deliver in order, SQLite walks that whole index to skip a sort,
    even when the WHERE clause (an id range, a batch) selects a few rows; this makes it use the WHERE.
    """
    return sa.func.coalesce(column, column)


def upsert(table):
    """INSERT ... ON CONFLICT for the current dialect (both support it); add the conflict clause."""
    if dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignore(table):
    """INSERT ... ON CONFLICT DO NOTHING: rows already present (by any unique key) are left as they are."""
    return upsert(table).on_conflict_do_nothing()


def bulk_insert(table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence], *, ignore_conflicts: bool = False,
                convert: bool = False) -> int:
    """Insert ``rows`` (plain tuples, values in ``columns`` order) with one driver-level executemany, in the
    session's transaction; returns the number of rows inserted.

    The bulk paths' hot loop (list upload, registry import, the demo county): SQLAlchemy's per-row parameter
    processing cost more than the database write, so the values go to the driver as they are — encrypted
    already, dates as ISO text. ``convert`` runs each column type's bind processor first (Encrypted,
    DateTime on SQLite), the same conversion Core would do, for callers holding plain Python values.
    Column defaults are not applied: name every column the table needs. With ``ignore_conflicts``, rows that
    hit a unique key are skipped (ON CONFLICT DO NOTHING, SQLite >= 3.24 and PostgreSQL); the row count tells.
    """
    if not rows:
        return 0
    conn = db.session.connection()
    if convert:
        # dialect_impl: the generic DateTime has no processor, SQLite's (its fixed text format) has.
        processors = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
        if any(processors):
            rows = [tuple(v if p is None or v is None else p(v) for p, v in zip(processors, row, strict=True))
                    for row in rows]
    sql = _insert_sql(conn.dialect.paramstyle, table.name, tuple(columns), ignore_conflicts)
    return conn.exec_driver_sql(sql, rows).rowcount


@functools.cache
def _insert_sql(paramstyle: str, table: str, columns: tuple[str, ...], ignore_conflicts: bool) -> str:
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[paramstyle]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
            + (" ON CONFLICT DO NOTHING" if ignore_conflicts else ""))
