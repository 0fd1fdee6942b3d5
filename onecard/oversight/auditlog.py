"""The auditor's view of the audit trail (审计日志查询): filtered, paged, and itself audited."""
from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.audit import AuditEntry, at_iso
from onecard.errors import Invalid
from onecard.oversight import reads
from onecard.staff import permissions


def _json(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def list_entries(actor: Actor, *, entity_type: str | None = None, entity_id: str | None = None,
                 actor_id: int | None = None, actor_kind: str | None = None, action: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, page: int | None = None,
                 per_page: int | None = None) -> dict:
    """Audit entries, newest first. Admin and auditor only; the auditor's read is recorded before answering."""
    permissions.require(actor, "audit.read")
    page, per_page = reads.page_args(page, per_page)
    if since and until and since > until:
        raise Invalid("开始时间不能晚于结束时间", code="time_range_invalid", field="since")
    reads.audit_read(actor, "audit_entries", {
        "entity_type": entity_type, "entity_id": entity_id, "actor_id": actor_id, "actor_kind": actor_kind,
        "action": action, "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None, "page": page})
    E = AuditEntry
    stmt = sa.select(E)
    if entity_type:
        stmt = stmt.where(E.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(E.entity_id == str(entity_id))
    if actor_id is not None:
        stmt = stmt.where(E.actor_id == actor_id)
    if actor_kind:
        stmt = stmt.where(E.actor_kind == actor_kind)
    if action:
        # "risk_finding." lists every action of that family; otherwise an exact match.
        stmt = stmt.where(E.action.startswith(action) if action.endswith(".") else E.action == action)
    if since:
        stmt = stmt.where(E.at >= since)
    if until:
        stmt = stmt.where(E.at <= until)
    total, rows = reads.paged(stmt.order_by(E.seq.desc()), page, per_page)
    items = [{"seq": e.seq, "at": at_iso(e.at), "actor_kind": e.actor_kind, "actor_id": e.actor_id,
              "actor_label": e.actor_label, "on_behalf_of": e.on_behalf_of, "action": e.action,
              "entity_type": e.entity_type, "entity_id": e.entity_id, "before": _json(e.before),
              "after": _json(e.after), "note": e.note, "ip": e.ip, "channel": e.channel, "hash": e.hash}
             for (e,) in rows]
    return {"total": total, "page": page, "per_page": per_page, "items": items}
