"""Public disclosure (公示) of who was paid for a project and period.

Finance, or the reviewer (审核) of the department that owns the project, publishes once the ledger
holds payments for it; either may withdraw it on request. Both are audited. The public page and its
xlsx show only the masked name (张*明), the masked ID, the village and the amount, computed from the
ledger's paid rows by one GROUP BY; never a full name, ID or account.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, DomainError, Invalid, NotFound
from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.oversight import reads
from onecard.oversight.models import DISCLOSURE_STATES, Disclosure
from onecard.payments.models import LedgerEntry
from onecard.people.models import Resident
from onecard.privacy import mask_name
from onecard.projects.models import Project
from onecard.reference.models import Department, Town, Village
from onecard.sheets import REPORT_STYLE, write_xlsx
from onecard.staff import permissions
from onecard.timeutil import local_str, utcnow
from onecard.validation import format_fen, format_yuan, normalize_text, parse_period

permissions.register({
    "disclosure.publish": {"finance", "dept_reviewer"},
    "disclosure.withdraw": {"finance", "dept_reviewer"},
    "disclosure.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
})

DISCLOSURE_MACHINE = StateMachine(
    name="disclosure", state_attr="status", transitions={"published": frozenset({"withdrawn"})},
    labels=DISCLOSURE_STATES, timestamps={"withdrawn": "withdrawn_at"}, changed_at_attr="status_changed_at",
)
PUBLIC_PAGE_SIZE = 30     # rows per public page: readable on a phone


class Gone(DomainError):
    """The disclosure was withdrawn: the public page says so (410)."""
    status = 410
    default_code = "disclosure_withdrawn"


def _paid_rows(project_id: int, period: str):
    L = LedgerEntry
    return (L.project_id == project_id, L.period == period, L.outcome == "paid")


def _totals(project_id: int, period: str) -> tuple[int, int]:
    r = db.session.execute(sa.select(sa.func.count(sa.distinct(LedgerEntry.resident_id)),
                                     sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0))
                           .where(*_paid_rows(project_id, period))).one()
    return int(r[0]), int(r[1])


def publish(actor: Actor, *, project_id: int, period: str) -> Disclosure:
    """Publish a project's payments for a period; refuses before any payment is in the ledger, or twice."""
    permissions.require(actor, "disclosure.publish")
    period = parse_period(period)
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
    permissions.require(actor, "disclosure.publish", project)
    people, total = _totals(project.id, period)
    if not people:
        raise Conflict(f"“{project.name}”{period} 期间台账中还没有发放成功的记录，不能公示", code="nothing_to_disclose",
                       field="period")
    live = db.session.execute(sa.select(Disclosure.id).where(
        Disclosure.project_id == project.id, Disclosure.period == period, Disclosure.status == "published")).scalar()
    if live:
        raise Conflict("该项目本期已在公示中，如需更新请先撤回", code="already_published", field="period")
    d = Disclosure(project_id=project.id, department_id=project.department_id, period=period,
                   title=f"{project.name}（{period}）发放名单公示", row_count=people, total_fen=total,
                   published_by=actor.id if actor.kind == "staff" else None, published_at=utcnow(),
                   status="published", status_changed_at=utcnow())
    db.session.add(d)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise Conflict("该项目本期已在公示中，如需更新请先撤回", code="already_published", field="period") from None
    audit.record("disclosure.published", actor=actor, entity_type="disclosure", entity_id=d.id,
                 after={"project_id": project.id, "period": period, "people": people, "total_fen": total})
    db.session.commit()
    return d


def withdraw(actor: Actor, disclosure_id: int, *, reason: str) -> Disclosure:
    """Withdraw a published disclosure (on request, with the reason); the public page then says so."""
    permissions.require(actor, "disclosure.withdraw")
    d = db.session.get(Disclosure, disclosure_id)
    if d is None:
        raise NotFound("公示不存在", code="disclosure_not_found")
    permissions.require(actor, "disclosure.withdraw", d)
    reason = normalize_text(reason, field="reason", max_len=300, label="撤回原因")
    DISCLOSURE_MACHINE.transition(d, "withdrawn", actor, action="disclosure.withdrawn", note=reason,
                                  extra_values={"withdraw_reason": reason,
                                                "withdrawn_by": actor.id if actor.kind == "staff" else None})
    db.session.commit()
    return d


def to_dict(d: Disclosure, names: dict | None = None) -> dict:
    names = names or {}
    return {"id": d.id, "project_id": d.project_id, "department_id": d.department_id, "period": d.period,
            "title": d.title, "status": d.status, "status_label": DISCLOSURE_STATES[d.status],
            "department": names.get("department", {}).get(d.department_id),
            "row_count": d.row_count, "total_fen": d.total_fen, "total_yuan": format_yuan(d.total_fen),
            "published_at": local_str(d.published_at), "withdrawn_at": local_str(d.withdrawn_at),
            "withdraw_reason": d.withdraw_reason, "public_url": f"/public/disclosures/{d.id}"}


def list_for_staff(actor: Actor) -> list[dict]:
    permissions.require(actor, "disclosure.read")
    reads.audit_read(actor, "disclosures")
    rows = db.session.execute(sa.select(Disclosure).where(permissions.scope_filter(actor, Disclosure))
                              .order_by(Disclosure.id.desc())).scalars().all()
    names = reads.labels()
    return [to_dict(d, names) for d in rows]


# ---- the public side (no login) ---------------------------------------------------------

def public_list() -> list[dict]:
    rows = db.session.execute(sa.select(Disclosure).where(Disclosure.status == "published")
                              .order_by(Disclosure.published_at.desc())).scalars().all()
    names = reads.labels()
    return [to_dict(d, names) for d in rows]


def _public_disclosure(disclosure_id: int) -> Disclosure:
    d = db.session.get(Disclosure, disclosure_id)
    if d is None:
        raise NotFound("公示不存在", code="disclosure_not_found")
    if d.status == "withdrawn":
        raise Gone("该公示已撤回", code="disclosure_withdrawn")
    return d


def _public_rows_statement(d: Disclosure, village_id: int | None = None):
    L = LedgerEntry
    where = [L.village_id == village_id] if village_id else []
    return (sa.select(Resident.name, Resident.id_masked, Town.name.label("town"), Village.name.label("village"),
                      sa.func.sum(L.amount_fen).label("fen"))
            .join(Resident, Resident.id == L.resident_id)
            .join(Town, Town.id == L.town_id).outerjoin(Village, Village.id == L.village_id)
            .where(*_paid_rows(d.project_id, d.period), *where)
            .group_by(L.resident_id, Resident.name, Resident.id_masked, Town.name, Village.name)
            .order_by(Town.name, Village.name, L.resident_id))


def _public_row(r) -> dict:
    return {"name": mask_name(r.name), "id_number": r.id_masked, "town": r.town, "village": r.village or "",
            "amount_fen": int(r.fen), "amount_yuan": format_fen(int(r.fen))}


def _public_villages(d: Disclosure) -> list[dict]:
    """The villages (with their town) that have rows in a disclosure: the public page's village picker."""
    L = LedgerEntry
    rows = db.session.execute(
        sa.select(Village.id, Village.name, Town.name).join(Town, Town.id == Village.town_id)
        .where(Village.id.in_(sa.select(L.village_id).where(*_paid_rows(d.project_id, d.period))))
        .order_by(Town.name, Village.name)).all()
    return [{"id": vid, "name": f"{town}{name}"} for vid, name, town in rows]


def public_view(disclosure_id: int, *, page: int = 1, village_id: int | None = None) -> dict:
    """A published disclosure for the public page: masked rows, paged, optionally one village's;
    Gone (410) once withdrawn."""
    d = _public_disclosure(disclosure_id)
    if page < 1:
        raise Invalid("页码应从 1 开始", code="page_invalid", field="page")
    villages = _public_villages(d)
    if village_id is not None and village_id not in {v["id"] for v in villages}:
        raise Invalid("该村（社区）没有公示名单", code="village_invalid", field="village")
    total, rows = reads.paged(_public_rows_statement(d, village_id), page, PUBLIC_PAGE_SIZE)
    project = db.session.get(Project, d.project_id)
    dept = db.session.get(Department, d.department_id)
    return {**to_dict(d), "department": dept.name, "project": project.name, "project_code": project.code,
            "total": total, "page": page, "pages": max(1, -(-total // PUBLIC_PAGE_SIZE)),
            "villages": villages, "village_id": village_id, "rows": [_public_row(r) for r in rows]}


def public_xlsx(disclosure_id: int) -> tuple[str, bytes]:
    d = _public_disclosure(disclosure_id)
    body = [[i, r["name"], r["id_number"], r["town"], r["village"], r["amount_fen"] / 100]
            for i, r in enumerate((_public_row(r) for r in db.session.execute(_public_rows_statement(d))), start=1)]
    data = write_xlsx(["序号", "姓名", "身份证号", "镇街", "村（社区）", "金额（元）"], body, sheet_name="公示名单",
                      **REPORT_STYLE)
    return f"disclosure-{d.id}-{d.period}.xlsx", data
