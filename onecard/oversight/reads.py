"""Shared pieces of the oversight read side: audited reads, paging, reference labels."""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Invalid
from onecard.extensions import db
from onecard.projects.models import Project
from onecard.reference.models import Bank, Department, Town, Village

MAX_PER_PAGE = 200


def audit_read(actor: Actor, what: str, params: dict | None = None) -> None:
    """The auditor's reads are themselves on the record (审计留痕): one entry per read, committed at once.

    Other roles' reads are not recorded: the trail stays about changes plus what the auditor looked at.
    """
    if actor.kind == "staff" and actor.role == "auditor":
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        audit.record("audit.read", actor=actor, entity_type="oversight", entity_id=what, after=clean or None)
        db.session.commit()


def page_args(page: int | None, per_page: int | None) -> tuple[int, int]:
    page = page or 1
    per_page = per_page or 50
    if page < 1:
        raise Invalid("页码应从 1 开始", code="page_invalid", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise Invalid(f"每页条数应在 1 至 {MAX_PER_PAGE} 之间", code="per_page_invalid", field="per_page")
    return page, per_page


def paged(stmt, page: int, per_page: int) -> tuple[int, list]:
    """Total count and one page of ``stmt`` (already ordered)."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar()
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return total, rows


def labels() -> dict[str, dict]:
    """Names for every grouping key; reference tables are small (tens to hundreds of rows)."""
    out: dict[str, dict] = {}
    out["department"] = dict(db.session.execute(sa.select(Department.id, Department.name)).all())
    out["project"] = dict(db.session.execute(sa.select(Project.id, Project.name)).all())
    out["town"] = dict(db.session.execute(sa.select(Town.id, Town.name)).all())
    villages = db.session.execute(sa.select(Village.id, Village.name, Town.name).join(Town)).all()
    out["village"] = {v.id: f"{v[2]}{v[1]}" for v in villages}
    out["bank"] = dict(db.session.execute(sa.select(Bank.id, Bank.name)).all())
    return out
