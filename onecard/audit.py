"""The append-only audit trail, chained by keyed hashes and anchored outside the database.

Every state change in the platform calls ``record(...)`` inside its own
transaction. Each entry's hash is an HMAC (key ONECARD_AUDIT_KEY, kept outside
the database) over its content and the previous entry's hash, and a single
head row holds the latest sequence number and hash, so ``verify_chain()``
detects an entry that was changed, removed, inserted or cut off the end. The
head row is updated first thing in ``record``: on PostgreSQL that row lock, on
SQLite the write lock, serialises concurrent writers so the chain never forks.
Database triggers also refuse UPDATE and DELETE on entries.

Whoever can write the database can drop the triggers; without the key they
cannot recompute the hashes. Against someone who also has the key, the chain is
anchored: ``anchor()`` (``onecard audit-anchor``, nightly in the scheduler)
writes the day's head as a signed, dated file the auditor keeps, and
``verify_chain(anchors_dir=...)`` (``onecard audit-verify --anchors DIR``)
proves that nothing before an anchor changed and that no anchor went missing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import DDL, event

from onecard.actors import Actor
from onecard.extensions import db
from onecard.privacy import mask_text
from onecard.timeutil import to_local, utcnow

GENESIS = "0" * 64
_key: dict = {"value": None}


def configure(key: str) -> None:
    """Install the chain's HMAC key (create_app does it from ONECARD_AUDIT_KEY)."""
    if not key:
        raise RuntimeError("缺少审计链密钥 ONECARD_AUDIT_KEY")
    _key["value"] = key.encode("utf-8")


def _mac(data: str) -> str:
    key = _key["value"]
    if key is None:
        raise RuntimeError("audit.configure() has not been called (create_app does it)")
    return hmac.new(key, data.encode("utf-8"), hashlib.sha256).hexdigest()


class AuditEntry(db.Model):
    """审计记录: one state change, who did it, for whom, before and after."""
    __tablename__ = "audit_entries"
    id = sa.Column(sa.Integer, primary_key=True)
    seq = sa.Column(sa.BigInteger, nullable=False, unique=True)
    at = sa.Column(sa.DateTime, nullable=False)
    actor_kind = sa.Column(sa.String(20), nullable=False)
    actor_id = sa.Column(sa.Integer)
    actor_label = sa.Column(sa.String(100), nullable=False, default="")
    on_behalf_of = sa.Column(sa.Integer)          # resident id for assisted actions
    action = sa.Column(sa.String(80), nullable=False, index=True)
    entity_type = sa.Column(sa.String(40), nullable=False)
    entity_id = sa.Column(sa.String(40))
    before = sa.Column(sa.Text)                    # canonical JSON, masked
    after = sa.Column(sa.Text)
    note = sa.Column(sa.String(500))
    ip = sa.Column(sa.String(64))
    channel = sa.Column(sa.String(20), nullable=False, default="api")
    prev_hash = sa.Column(sa.String(64), nullable=False)
    hash = sa.Column(sa.String(64), nullable=False)
    __table_args__ = (
        sa.Index("ix_audit_entity", "entity_type", "entity_id"),
        sa.Index("ix_audit_on_behalf", "on_behalf_of"),
    )


class AuditHead(db.Model):
    """The chain's tip: one row (id=1)."""
    __tablename__ = "audit_head"
    id = sa.Column(sa.Integer, primary_key=True)
    last_seq = sa.Column(sa.BigInteger, nullable=False, default=0)
    last_hash = sa.Column(sa.String(64), nullable=False, default=GENESIS)


# Append-only at the database too: an application bug cannot rewrite history.
APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS audit_entries_no_change ON audit_entries",
        "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    ],
}


def install_append_only(bind_or_op, dialect_name: str) -> None:
    """Used by create_all (event below) and by the Alembic migration."""
    for stmt in APPEND_ONLY_DDL.get(dialect_name, []):
        bind_or_op.execute(sa.text(stmt))


@event.listens_for(AuditEntry.__table__, "after_create")
def _after_create(target, connection, **kw):
    install_append_only(connection, connection.dialect.name)


@event.listens_for(AuditHead.__table__, "after_create")
def _seed_head(target, connection, **kw):
    connection.execute(DDL(f"INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '{GENESIS}')"))


def _canonical(value) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return mask_text(text)


def _entry_hash(prev_hash: str, fields: dict) -> str:
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return _mac(prev_hash + payload)


# What an entry's hash covers: every column but its id and the two hashes.
_HASHED = ("seq", "at", "actor_kind", "actor_id", "actor_label", "on_behalf_of", "action", "entity_type", "entity_id",
           "before", "after", "note", "ip", "channel")


def _hashed_fields(e) -> dict:
    """``e``: an AuditEntry, or a dict of the _HASHED columns (``record_many``)."""
    values = e if isinstance(e, dict) else {k: getattr(e, k) for k in _HASHED}
    return {**values, "at": values["at"].isoformat(timespec="microseconds")}


def record(action: str, *, actor: Actor, entity_type: str, entity_id=None, before=None, after=None,
           note: str | None = None, on_behalf_of: int | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (the caller commits). Values are masked before storage."""
    session = db.session
    head = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one()
    entry = AuditEntry(
        seq=head.last_seq, at=utcnow(), actor_kind=actor.kind, actor_id=actor.id,
        actor_label=(actor.label or "")[:100], on_behalf_of=on_behalf_of or actor.on_behalf_of,
        action=action, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
        before=_canonical(before), after=_canonical(after), note=mask_text(note)[:500] if note else None,
        ip=actor.ip, channel=actor.channel, prev_hash=head.last_hash,
    )
    entry.hash = _entry_hash(entry.prev_hash, _hashed_fields(entry))
    session.add(entry)
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(last_hash=entry.hash))
    return entry


def record_many(items: list[dict], *, actor: Actor) -> int:
    """Append one entry per item (keys ``action``, ``entity_type``, ``entity_id``, ``before``, ``after``,
    ``note``, as ``record`` takes them) in the caller's transaction, in order: the same entries, chained the
    same way, as calling ``record`` for each, but the head row is taken once for all of them and the entries go
    in with one executemany (an import of 200,000 households writes half a million). Returns the count."""
    from onecard.db import bulk_insert
    if not items:
        return 0
    session = db.session
    head = session.execute(
        sa.update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + len(items))
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    ).one()
    seq, prev_hash = head.last_seq - len(items), head.last_hash
    label, on_behalf_of = (actor.label or "")[:100], actor.on_behalf_of
    rows = []
    masked_notes: dict[str, str] = {}     # an import notes its file name on every entry: mask it once
    for item in items:
        seq += 1
        entity_id, note = item.get("entity_id"), item.get("note")
        if note and note not in masked_notes:
            masked_notes[note] = mask_text(note)[:500]
        values = {"seq": seq, "at": utcnow(), "actor_kind": actor.kind, "actor_id": actor.id, "actor_label": label,
                  "on_behalf_of": on_behalf_of, "action": item["action"], "entity_type": item["entity_type"],
                  "entity_id": None if entity_id is None else str(entity_id),
                  "before": _canonical(item.get("before")), "after": _canonical(item.get("after")),
                  "note": masked_notes[note] if note else None, "ip": actor.ip, "channel": actor.channel}
        digest = _entry_hash(prev_hash, _hashed_fields(values))
        rows.append((*values.values(), prev_hash, digest))
        prev_hash = digest
    bulk_insert(AuditEntry.__table__, (*_HASHED, "prev_hash", "hash"), rows, convert=True)
    session.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev_hash))
    return len(rows)


@dataclass
class ChainReport:
    ok: bool
    checked: int
    problems: list[str]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "problems": self.problems}


def verify_chain(batch_size: int = 5000, *, anchors_dir: str | None = None) -> ChainReport:
    """Recompute every hash in order; report each broken link, gap and a truncated tail. With ``anchors_dir``,
    also check every anchor there: its signature, that the entry it names still has the hash it recorded, and
    that no day between the first and the last anchor lacks one."""
    problems: list[str] = []
    anchors = _load_anchors(anchors_dir, problems) if anchors_dir is not None else []
    pinned: dict[int, list[dict]] = {}
    for a in anchors:
        pinned.setdefault(a["seq"], []).append(a)
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch_size)
        ).scalars().all()
        if not rows:
            break
        for e in rows:
            if e.seq != expected_seq:
                problems.append(f"序号 {expected_seq} 处记录缺失或顺序被改动（实际为 {e.seq}）")
            if e.prev_hash != prev_hash:
                problems.append(f"序号 {e.seq} 的前序哈希与上一条记录不符（有记录被删除或插入）")
            if _entry_hash(e.prev_hash, _hashed_fields(e)) != e.hash:
                problems.append(f"序号 {e.seq} 的内容与其哈希不符（记录被改动）")
            for a in pinned.pop(e.seq, []):
                if a["hash"] != e.hash:
                    problems.append(f"序号 {e.seq} 与 {a['date']} 的锚点不符（锚点之前的记录被改写）")
            prev_hash, expected_seq, checked = e.hash, e.seq + 1, checked + 1
            last_id = e.id
        db.session.expunge_all()
    for a in pinned.pop(0, []):
        if a["hash"] != GENESIS:
            problems.append(f"{a['date']} 的锚点记录的链头不是创世值")
    for seq, items in sorted(pinned.items()):
        for a in items:
            problems.append(f"{a['date']} 的锚点记录到序号 {seq}，审计链只到 {expected_seq - 1}（末尾记录被删除）")
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev_hash):
        problems.append(f"链尾不符：登记的最新序号为 {head.last_seq}，实际校验到 {expected_seq - 1}（末尾记录被删除）")
    return ChainReport(ok=not problems, checked=checked, problems=problems)


# ---- anchors (审计锚点) ---------------------------------------------------------------------------------------------

_ANCHOR_PREFIX = "audit-anchor-"


def _anchor_signature(body: dict) -> str:
    fields = {k: body[k] for k in ("date", "seq", "hash", "written_at")}
    return _mac("anchor\x00" + json.dumps(fields, sort_keys=True, separators=(",", ":")))


def default_anchor_dir() -> str:
    from flask import current_app
    return current_app.config.get("AUDIT_ANCHOR_DIR") or os.path.join(current_app.instance_path, "audit_anchors")


def scheduled_anchor() -> str:
    """The nightly job: today's anchor in the configured folder."""
    return anchor(default_anchor_dir())[0]


def anchor(directory: str, now: datetime | None = None) -> tuple[str, bool]:
    """Write today's (Asia/Shanghai) anchor: the chain's head, dated and signed, as
    ``audit-anchor-YYYY-MM-DD.json`` in ``directory`` (owner-only). A day's anchor is never overwritten: a
    second call the same day keeps the first. Returns (path, written)."""
    now = now or utcnow()
    day = to_local(now).date().isoformat()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, f"{_ANCHOR_PREFIX}{day}.json")
    if os.path.exists(path):
        return path, False
    head = db.session.get(AuditHead, 1)
    body = {"date": day, "seq": head.last_seq, "hash": head.last_hash, "written_at": at_iso(now)}
    body["signature"] = _anchor_signature(body)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, ensure_ascii=False, sort_keys=True)
    os.replace(tmp, path)
    return path, True


def _load_anchors(directory: str, problems: list[str]) -> list[dict]:
    """The valid anchors in ``directory``, oldest first; each bad or missing one is a problem."""
    if not os.path.isdir(directory):
        problems.append(f"锚点目录 {directory} 不存在")
        return []
    anchors = []
    for name in sorted(os.listdir(directory)):
        if not (name.startswith(_ANCHOR_PREFIX) and name.endswith(".json")):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                body = json.load(fh)
            ok = (isinstance(body, dict) and hmac.compare_digest(str(body.get("signature", "")),
                                                                 _anchor_signature(body))
                  and name == f"{_ANCHOR_PREFIX}{body['date']}.json")
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            problems.append(f"锚点文件 {name} 无法读取或签名不符（被改动）")
            continue
        anchors.append(body)
    days = [date.fromisoformat(a["date"]) for a in anchors]
    if days:
        present = set(days)
        day = days[0]
        while day < days[-1]:
            if day not in present:
                problems.append(f"缺少 {day.isoformat()} 的锚点文件（锚点丢失）")
            day += timedelta(days=1)
    return anchors


def entries_for(entity_type: str, entity_id) -> list[AuditEntry]:
    return db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.entity_type == entity_type,
                                    AuditEntry.entity_id == str(entity_id)).order_by(AuditEntry.seq)
    ).scalars().all()


def at_iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds") + "Z"
