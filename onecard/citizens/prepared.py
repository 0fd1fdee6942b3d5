"""A Core SELECT compiled once per dialect and run straight on a pooled DBAPI connection.

For the citizen service's hot reads ("my subsidies" on every open of the mini-program):
SQLAlchemy's per-execution work (execution context, result metadata, row processors) costs
more than the indexed query itself. The statement is still written in Core, compiled by
SQLAlchemy for the engine's dialect (SQLite or PostgreSQL), and its bind parameters go through
the types' own bind processors, so the SQL and the stored formats are exactly SQLAlchemy's.
Rows come back as the driver's tuples: DateTime columns are strings on SQLite (see as_datetime).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa


class PreparedSelect:
    """``PreparedSelect(stmt).all(engine, {"name": value, ...})`` -> list of the driver's row tuples."""

    def __init__(self, statement: sa.Select):
        self.statement = statement
        self._compiled: dict[str, tuple] = {}

    def _prepare(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("PreparedSelect does not take expanding (IN) parameters")
        names = {bind.key for bind in compiled.binds.values() if bind.value is None and bind.callable is None}
        base = compiled.construct_params({name: None for name in names})
        processors = {}
        for name in names:
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        order = tuple(compiled.positiontup) if compiled.positional else None
        prepared = (compiled.string, base, processors, order)
        self._compiled[dialect.name] = prepared
        return prepared

    def all(self, engine: sa.Engine, params: dict) -> list[tuple]:
        sql, base, processors, order = self._compiled.get(engine.dialect.name) or self._prepare(engine.dialect)
        values = {**base, **params}
        for name, process in processors.items():
            values[name] = process(values[name])
        bound = tuple(values[name] for name in order) if order is not None else values
        connection = engine.raw_connection()     # from the pool: no connection set-up per request
        try:
            cursor = connection.cursor()
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            connection.close()                   # back to the pool, rolled back (read only)
        return rows


def as_datetime(value: datetime | str) -> datetime:
    """A DateTime column as the driver returned it (SQLite: SQLAlchemy's ISO text) as a naive datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
