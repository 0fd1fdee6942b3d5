"""Key rotation: ``onecard rotate-keys`` re-keys every stored ciphertext and blind index to the newest key.

How an office rotates (README, "Running it for real"):

1. Put the new key FIRST in ONECARD_FIELD_KEY and/or ONECARD_BLIND_INDEX_KEY, the old one after it
   (``new,old``), and restart every web and scheduler process. From then on everything written uses the
   new key; everything stored under the old one still decrypts, and look-ups by ID, mobile or account
   match either blind index (``privacy.blind_indexes``).
2. Run ``onecard rotate-keys``. It walks each table in id order, in chunks, and rewrites what is under an
   old key; each chunk commits together with its progress row (``key_rotation_steps``), so a rotation that
   is killed resumes where it stopped. Every write is compare-and-set on the old value: a row the
   platform changed meanwhile already carries the new key and is left alone.
3. When it reports ``"done": true``, remove the old key from the settings and restart again.

Blind indexes are recomputed from the row's own plaintext (decrypted in memory, never logged); columns
that only copy a blind index (the ledger's account, the oversight payees, binding codes) are mapped
old -> new through ``blind_index_rekeys``, filled while the plaintext columns are re-indexed and emptied
at the end. While blind-index keys are being rotated, bulk work that JOINS on blind indexes (list upload
and matching, registry import, bank result import, the nightly risk checks) can pair an old index with a
new one and miss a match: run those after the rotation, or rematch lists afterwards.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from onecard import db as dbutil
from onecard import privacy
from onecard.extensions import db
from onecard.serving.models import BlindIndexRekey, KeyRotationStep
from onecard.timeutil import utcnow

# Ciphertext kept in plain String columns (the Encrypted type marks the others).
EXTRA_CIPHER_COLUMNS = {"notices": ("recipient",)}

# Blind index column -> (plaintext column of the same row, purpose).
BLIND_SOURCES = {
    ("residents", "id_bidx"): ("id_number", "id"),
    ("residents", "mobile_bidx"): ("mobile", "mobile"),
    ("cards", "card_bidx"): ("card_number", "card"),
    ("cards", "account_bidx"): ("account", "account"),
    ("passbook_accounts", "account_bidx"): ("account", "account"),
    ("proxy_appointments", "account_bidx"): ("account", "account"),
    ("recipient_rows", "id_bidx"): ("id_number", "id"),
    ("batch_lines", "account_bidx"): ("account", "account"),
}
# Columns that copy a blind index without the plaintext beside it: mapped through blind_index_rekeys.
BLIND_COPIES = {
    ("ledger_entries", "account_bidx"): "account",
    ("verification_codes", "target_bidx"): "id",
    ("verification_codes", "mobile_bidx"): "mobile",
    ("oversight_account_payees", "account_bidx"): "account",
}


@dataclass
class Step:
    name: str
    table: str
    target: str
    run_chunk: Callable[[sa.Table, int, int, str], tuple[int, int, bool]] | None = None
    run_all: Callable[[sa.Table], int] | None = None


def cipher_columns() -> dict[str, list[str]]:
    """Every column holding ciphertext, by table."""
    out: dict[str, list[str]] = {}
    for table in db.metadata.sorted_tables:
        cols = [c.name for c in table.columns if isinstance(c.type, privacy.Encrypted)]
        cols += [c for c in EXTRA_CIPHER_COLUMNS.get(table.name, ()) if c in table.c]
        if cols:
            out[table.name] = cols
    return out


def _table(name: str) -> sa.Table:
    return db.metadata.tables[name]


def _cas_update(table: sa.Table, column: str, changes: list[tuple[int, str, str]]) -> int:
    """Set ``column`` to the new value where the row still holds the old one."""
    if not changes:
        return 0
    # Raw strings on both sides: the Encrypted type would otherwise encrypt the values it is given.
    raw = sa.type_coerce(table.c[column], sa.String)
    stmt = (sa.update(table).where(table.c.id == sa.bindparam("_id"), raw == sa.bindparam("_old", type_=sa.String))
            .values({column: sa.bindparam("_new", type_=sa.String)}))
    db.session.execute(stmt, [{"_id": i, "_old": old, "_new": new} for i, old, new in changes])
    return len(changes)


def _chunk(table: sa.Table, columns: list[str], last_id: int, size: int):
    cols = [table.c.id, *(table.c[c] for c in columns)]
    # Raw values: the stored ciphertext, not the Encrypted type's decryption.
    stmt = sa.select(*(sa.type_coerce(c, sa.String) if c.name != "id" else c for c in cols))
    return db.session.execute(stmt.where(table.c.id > last_id).order_by(table.c.id).limit(size)).all()


def _field_chunk(columns: list[str]):
    def run(table: sa.Table, last_id: int, size: int, target: str) -> tuple[int, int, bool]:
        rows = _chunk(table, columns, last_id, size)
        decrypt = privacy.decryptor()
        changed = 0
        for i, column in enumerate(columns, start=1):
            changes = []
            for row in rows:
                old = row[i]
                if old and privacy.ciphertext_key_id(old) != target:
                    changes.append((row[0], old, privacy.encrypt(decrypt(old))))
            changed += _cas_update(table, column, changes)
        return (rows[-1][0] if rows else last_id), changed, len(rows) < size
    return run


def _blind_chunk(column: str, source: str, purpose: str):
    def run(table: sa.Table, last_id: int, size: int, target: str) -> tuple[int, int, bool]:
        rows = _chunk(table, [source, column], last_id, size)
        decrypt = privacy.decryptor()
        changes, mapping = [], []
        for row_id, cipher, stored in rows:
            if not cipher or not stored:
                continue
            candidates = privacy.blind_indexes(decrypt(cipher), purpose)
            new = candidates[0]
            # Only an index one of our keys made from this very plaintext is replaced: anything else is not
            # ours to guess at (it is left, and the look-ups still try every key).
            if stored != new and stored in candidates[1:]:
                changes.append((row_id, stored, new))
                mapping.append({"purpose": purpose, "old_bidx": stored, "new_bidx": new})
        if mapping:
            db.session.execute(dbutil.insert_ignore(BlindIndexRekey.__table__), mapping)
        return (rows[-1][0] if rows else last_id), _cas_update(table, column, changes), len(rows) < size
    return run


def _copy_chunk(column: str, purpose: str):
    def run(table: sa.Table, last_id: int, size: int, target: str) -> tuple[int, int, bool]:
        rows = db.session.execute(sa.select(table.c.id, table.c[column]).where(table.c.id > last_id)
                                  .order_by(table.c.id).limit(size)).all()
        values = {v for _, v in rows if v}
        rekey = BlindIndexRekey.__table__
        mapping = dict(db.session.execute(sa.select(rekey.c.old_bidx, rekey.c.new_bidx).where(
            rekey.c.purpose == purpose, rekey.c.old_bidx.in_(values))).all()) if values else {}
        changes = [(i, v, mapping[v]) for i, v in rows if v in mapping]
        return (rows[-1][0] if rows else last_id), _cas_update(table, column, changes), len(rows) < size
    return run


def _copy_all(column: str, purpose: str):
    """A table without a row id (a summary keyed by the index itself): one statement."""
    def run(table: sa.Table) -> int:
        rekey = BlindIndexRekey.__table__
        new = (sa.select(rekey.c.new_bidx).where(rekey.c.purpose == purpose, rekey.c.old_bidx == table.c[column])
               .scalar_subquery())
        olds = sa.select(rekey.c.old_bidx).where(rekey.c.purpose == purpose)
        return db.session.execute(sa.update(table).where(table.c[column].in_(olds)).values({column: new})).rowcount
    return run


def plan() -> list[Step]:
    """The steps of the rotation the configured keys ask for (none when each setting holds one key)."""
    steps: list[Step] = []
    field_target, blind_target = privacy.field_key_ids()[0], privacy.blind_key_ids()[0]
    if len(privacy.field_key_ids()) > 1:
        for table, columns in cipher_columns().items():
            steps.append(Step(f"field:{table}", table, field_target, run_chunk=_field_chunk(columns)))
    if len(privacy.blind_key_ids()) > 1:
        for (table, column), (source, purpose) in BLIND_SOURCES.items():
            if table in db.metadata.tables:
                steps.append(Step(f"blind:{table}.{column}", table, blind_target,
                                  run_chunk=_blind_chunk(column, source, purpose)))
        for (table, column), purpose in BLIND_COPIES.items():
            if table not in db.metadata.tables:
                continue
            t = _table(table)
            step = Step(f"derive:{table}.{column}", table, blind_target)
            if "id" in t.c and list(t.primary_key.columns) == [t.c.id]:
                step.run_chunk = _copy_chunk(column, purpose)
            else:
                step.run_all = _copy_all(column, purpose)
            steps.append(step)
    return steps


def _progress(step: Step) -> KeyRotationStep:
    row = db.session.get(KeyRotationStep, step.name)
    if row is None:
        row = KeyRotationStep(step=step.name, target_key=step.target, last_id=0, rows_changed=0)
        db.session.add(row)
    elif row.target_key != step.target:       # an earlier rotation to another key: start this one afresh
        row.target_key, row.last_id, row.rows_changed, row.finished_at = step.target, 0, 0, None
        row.started_at = utcnow()
    return row


def remaining_old_ciphertexts(target: str) -> int:
    """Ciphertexts not sealed with ``target`` (written by a process still configured with the old key first)."""
    total = 0
    for table, columns in cipher_columns().items():
        t = _table(table)
        for column in columns:
            col = sa.type_coerce(t.c[column], sa.String)
            total += db.session.execute(sa.select(sa.func.count()).select_from(t).where(
                col.is_not(None), ~col.startswith(f"v1:{target}:"))).scalar()
    return total


def rotate(*, chunk: int = 1000, pause: float = 0.0, echo: Callable[[dict], None] | None = None) -> dict:
    """Run (or resume) the rotation to the first configured keys; returns the summary."""
    steps = plan()
    summary = {"field_key": privacy.field_key_ids()[0], "blind_index_key": privacy.blind_key_ids()[0],
               "steps": {}, "done": False}
    for step in steps:
        row = _progress(step)
        db.session.commit()
        if row.finished_at is None:
            table = _table(step.table)
            if step.run_all is not None:
                row.rows_changed += step.run_all(table)
                row.finished_at = row.updated_at = utcnow()
                db.session.commit()
            while row.finished_at is None:
                last_id, changed, finished = step.run_chunk(table, row.last_id, chunk, step.target)
                row.last_id, row.rows_changed, row.updated_at = last_id, row.rows_changed + changed, utcnow()
                if finished:
                    row.finished_at = row.updated_at
                db.session.commit()         # the chunk and its progress together
                if echo:
                    echo({"step": step.name, "last_id": row.last_id, "changed": row.rows_changed})
                if pause and not finished:
                    time.sleep(pause)
        summary["steps"][step.name] = row.rows_changed
    if steps and steps[0].name.startswith("field:"):
        left = remaining_old_ciphertexts(summary["field_key"])
        if left:
            # Written after the walk passed, by a process not yet restarted with the new key first.
            for step in steps:
                if step.name.startswith("field:"):
                    row = _progress(step)
                    row.finished_at, row.last_id = None, 0
            db.session.commit()
            summary["left_under_old_keys"] = left
            return summary
    db.session.execute(sa.delete(BlindIndexRekey.__table__))
    db.session.commit()
    summary["done"] = True
    return summary
