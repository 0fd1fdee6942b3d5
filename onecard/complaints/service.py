"""Complaints and questions (投诉咨询): a resident (or village staff for them) asks about a payment, the
department that owns the project answers, the resident reads the answer on the phone.

A complaint goes to the department of the payment's (or project's) owner, else to the bureau
(人社局); staff see only those routed to their department (onecard.staff.permissions scopes the list).
Each function is one transaction: it commits at the end or raises a DomainError.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.complaints import cases
from onecard.complaints.models import Complaint
from onecard.errors import NotFound
from onecard.extensions import db
from onecard.payments.models import BatchLine, LedgerEntry
from onecard.payments.my_subsidies import mine
from onecard.projects.models import Project
from onecard.reference.models import Department
from onecard.staff import permissions
from onecard.timeutil import local_str, utcnow
from onecard.validation import normalize_text

permissions.register({
    "complaint.read": {"admin", "dept_operator", "dept_reviewer", "finance", "auditor", "bank_operator"},
    "complaint.reply": {"admin", "dept_operator", "dept_reviewer", "bank_operator"},
})


def _complaint_dict(c: Complaint, names: dict[int, str] | None = None) -> dict:
    names = names or {}
    return {"id": c.id, "text": c.text, "status": c.status, "reply": c.reply,
            "replied_at": local_str(c.replied_at) or None,
            "created_at": local_str(c.created_at), "ledger_entry_id": c.ledger_entry_id,
            "project_id": c.project_id, "department_id": c.department_id,
            "department": names.get(c.department_id), **cases.case_fields(c)}


def _department_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Department.id, Department.name)).all())


def file_complaint(actor: Actor, resident_id: int, text: str, *, ledger_entry_id: int | None = None,
                   project_id: int | None = None, line_id: int | None = None, category: str = "payment") -> dict:
    """投诉咨询: routed to the department of the payment's (or project's) owner, else to 人社局; an account
    problem about a payment to the bank that paid it (cases.route); due in working days (cases.due_from)."""
    text = normalize_text(text, field="text", max_len=500, label="问题描述")
    department_id = None
    line = None
    if ledger_entry_id:
        entry = db.session.execute(sa.select(LedgerEntry.project_id, LedgerEntry.department_id, LedgerEntry.line_id)
                                   .where(LedgerEntry.id == ledger_entry_id, mine(resident_id))).first()
        if entry is None:
            raise NotFound("没有找到这笔发放记录", code="ledger_entry_not_found", field="ledger_entry_id")
        project_id, department_id = entry.project_id, entry.department_id
        line = db.session.get(BatchLine, entry.line_id)
    elif line_id:
        # a payment line of mine (e.g. one still owed, which has no ledger entry yet)
        line = db.session.get(BatchLine, line_id)
        if line is None or resident_id not in (line.resident_id, line.payee_resident_id):
            raise NotFound("没有找到这笔发放记录", code="line_not_found", field="line_id")
        project_id, department_id = line.project_id, line.department_id
    elif project_id:
        project = db.session.get(Project, project_id)
        if project is None:
            raise NotFound("没有找到这个补贴项目", code="project_not_found", field="project_id")
        department_id = project.department_id
    if department_id is None:
        department_id = db.session.execute(sa.select(Department.id).where(Department.kind == "hrss")).scalar()
    now = utcnow()
    complaint = Complaint(resident_id=resident_id, ledger_entry_id=ledger_entry_id, project_id=project_id,
                          line_id=line.id if line is not None else None, category=category, text=text,
                          filed_by_staff_id=actor.id if actor.kind == "staff" else None, due_at=cases.due_from(now),
                          created_at=now, **cases.route(line, category, department_id))
    db.session.add(complaint)
    db.session.flush()
    cases.add_message(complaint, "filed", "staff" if actor.kind == "staff" else "resident", text,
                      staff_id=actor.id if actor.kind == "staff" else None, at=now)
    audit.record("complaint.filed", actor=actor, entity_type="complaint", entity_id=complaint.id,
                 after={"department_id": department_id, "ledger_entry_id": ledger_entry_id},
                 on_behalf_of=resident_id if actor.kind == "staff" else None)
    db.session.commit()
    return _complaint_dict(complaint, _department_names())


def my_complaints(resident_id: int) -> list[dict]:
    """My complaints and their answers, newest first."""
    names = _department_names()
    return [_complaint_dict(c, names) for c in db.session.execute(
        sa.select(Complaint).where(Complaint.resident_id == resident_id).order_by(Complaint.id.desc())).scalars()]


def staff_complaints(actor: Actor, status: str | None = None) -> list[dict]:
    """Complaints routed to the actor's department (everything for the bureau, finance and audit)."""
    permissions.require(actor, "complaint.read")
    stmt = sa.select(Complaint).where(cases.scope(actor))
    if status:
        stmt = stmt.where(Complaint.status == status)
    names = _department_names()
    return [_complaint_dict(c, names) for c in db.session.execute(stmt.order_by(Complaint.id.desc()).limit(500))
            .scalars()]


def reply_complaint(actor: Actor, complaint_id: int, reply: str) -> dict:
    """The case's handler answers; the resident reads it on the phone. Anyone else's complaint is 404."""
    complaint = cases.reply(actor, complaint_id, reply)
    return _complaint_dict(complaint, _department_names())


def confirm_complaint(actor: Actor, resident_id: int, complaint_id: int) -> dict:
    return _complaint_dict(cases.confirm(actor, resident_id, complaint_id), _department_names())


def reopen_complaint(actor: Actor, resident_id: int, complaint_id: int, text: str) -> dict:
    return _complaint_dict(cases.reopen(actor, resident_id, complaint_id, text), _department_names())
