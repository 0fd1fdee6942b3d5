"""Writing generated rows fast: shared by the benches that build a county (nothing here is measured)."""
from __future__ import annotations

import sys
import time

import sqlalchemy as sa


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bulk_insert(conn, table, rows: list[dict]) -> None:
    """Rows written straight into a table: COPY on PostgreSQL (10 million rows in minutes), else executemany.

    The values are stored as given (no type's bind processing): the bench's ciphertexts are opaque text.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), rows)
        return
    columns = list(rows[0])
    # The Python-side defaults Core would have filled in (created_at and the like), once per call.
    defaults = {c.name: c.default.arg if c.default.is_scalar else c.default.arg(None)
                for c in table.columns if c.name not in rows[0] and c.default is not None
                and (c.default.is_scalar or c.default.is_callable)}
    columns += list(defaults)
    rows = ({**row, **defaults} for row in rows) if defaults else rows
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


class BulkLoad:
    """On PostgreSQL, the generated rows go in as a restore would: the tables' secondary indexes are dropped
    before and built once after, and foreign-key triggers are off meanwhile (the generator writes only ids it
    made). Building an index once is minutes faster at 10 million rows than maintaining it row by row; the
    month that arrives later is written with every index in place. Nothing here is measured.
    """

    def __init__(self, session, tables):
        self.session, self.tables = session, tables      # the session's connection changes at each commit
        self.on = session.connection().dialect.name == "postgresql"

    def __enter__(self):
        if self.on:
            conn = self.session.connection()
            for table in self.tables:
                for index in table.indexes:
                    index.drop(conn)
            conn.execute(sa.text("SET session_replication_role = replica"))
        return self

    def __exit__(self, *exc):
        if self.on and exc[0] is None:
            conn = self.session.connection()
            conn.execute(sa.text("SET session_replication_role = DEFAULT"))
            started = time.perf_counter()
            for table in self.tables:
                for index in table.indexes:
                    index.create(conn)
            log(f"indexes built in {time.perf_counter() - started:.1f}s")
