"""The database dialect helpers, in one place: what SQLite and PostgreSQL spell differently.

Everything else is portable SQLAlchemy Core; these helpers pick the dialect's spelling so the work is
still done by the database. One definition each: "the month of a payment" is ``local_month`` for the
statistics, the dashboard, the supervision report and the resident's page alike.
"""
from __future__ import annotations

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
