"""Complaints as cases (投诉咨询办理): routing, deadlines in working days, replies, the resident's confirmation or
reopening, escalation when overdue, statistics. ``service`` files and lists complaints through here.

- Routing: the department owning the project of the payment line; an account problem (category 'account') about
  a paid or failed line goes to the bank that paid it (``handler`` 'bank', ``bank_id``).
- Deadline: ``deadline_days`` working days (site setting ``complaint.deadline_working_days``, default 5) on the
  county's calendar (``Holiday``: holidays, and weekends worked), ending at the end of that local day.
- COMPLAINT_MACHINE: 待答复 → 已答复（待确认）→ 已办结 (the resident confirms) or back to 待答复 (the resident reopens,
  with a new deadline). Every step is a ComplaintMessage and an audit entry.
- ``escalate_overdue``: the daily job raises every open case past its deadline to 人社局 and finance (they see it
  in their lists and dashboards); once per case.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from onecard import audit, settings_store
from onecard.actors import SYSTEM, Actor
from onecard.complaints.models import CATEGORIES, MESSAGE_KINDS, Complaint, ComplaintMessage, Holiday
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.payments.models import BatchLine
from onecard.projects.models import Project
from onecard.reference.models import Bank, Department
from onecard.staff import permissions
from onecard.timeutil import local_day_start, local_str, local_today, to_local, utcnow
from onecard.validation import normalize_text

permissions.register({
    "holiday.manage": {"admin"},
    "complaint.stats": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
})

COMPLAINT_MACHINE = StateMachine(
    name="complaint", state_attr="status",
    transitions={"open": frozenset({"replied"}), "replied": frozenset({"closed", "open"}), "closed": frozenset()},
    labels={"open": "待答复", "replied": "已答复，待确认", "closed": "已办结"},
)
# The resident's two answers to a reply, as moves of COMPLAINT_MACHINE: what the pages offer (case_fields'
# can_confirm / can_reopen) and what confirm() and reopen() accept are both read from the machine.
RESIDENT_STEPS = {"confirm": "closed", "reopen": "open"}
DEFAULT_DEADLINE_DAYS = 5
# The years the holiday calendar holds (the API's query and the console's year picker both read it).
CALENDAR_YEARS = (2000, 2100)
AGE_BUCKETS = ((0, 2, "0-2天"), (3, 5, "3-5天"), (6, 10, "6-10天"), (11, None, "10天以上"))


# ---------------------------------------------------------------- the calendar

def deadline_days() -> int:
    return int(settings_store.get("complaint.deadline_working_days", str(DEFAULT_DEADLINE_DAYS)))


def set_deadline_days(actor: Actor, days: int) -> int:
    permissions.require(actor, "holiday.manage")
    if not 1 <= int(days) <= 60:
        raise Invalid("办理时限应为1至60个工作日", code="deadline_invalid", field="working_days")
    before = deadline_days()
    settings_store.put("complaint.deadline_working_days", str(int(days)))
    audit.record("complaint.deadline_set", actor=actor, entity_type="site_setting",
                 entity_id="complaint.deadline_working_days", before={"days": before}, after={"days": int(days)})
    db.session.commit()
    return int(days)


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start``: Monday to Friday unless a holiday, weekends worked (调休) count."""
    listed = dict(db.session.execute(sa.select(Holiday.day, Holiday.kind).where(
        Holiday.day > start, Holiday.day <= start + timedelta(days=n * 3 + 30))).all())
    day, left = start, n
    while left > 0:
        day += timedelta(days=1)
        kind = listed.get(day)
        working = kind == "workday" or (kind is None and day.weekday() < 5)
        if working:
            left -= 1
    return day


def due_from(now: datetime) -> datetime:
    """The end (local) of the deadline's last working day, counted from today."""
    last = add_working_days(to_local(now).date(), deadline_days())
    return local_day_start(last + timedelta(days=1))


def put_holiday(actor: Actor, day: date, kind: str, name: str) -> dict:
    permissions.require(actor, "holiday.manage")
    name = normalize_text(name, field="name", max_len=40)
    if kind not in ("holiday", "workday"):
        raise Invalid("类型只能是 holiday（放假）或 workday（调休上班）", code="kind_invalid", field="kind")
    row = db.session.get(Holiday, day)
    before = {"kind": row.kind, "name": row.name} if row else None
    if row is None:
        db.session.add(Holiday(day=day, kind=kind, name=name))
    else:
        row.kind, row.name = kind, name
    audit.record("holiday.set", actor=actor, entity_type="holiday", entity_id=day.isoformat(), before=before,
                 after={"kind": kind, "name": name})
    db.session.commit()
    return {"day": day.isoformat(), "kind": kind, "name": name}


def delete_holiday(actor: Actor, day: date) -> None:
    permissions.require(actor, "holiday.manage")
    row = db.session.get(Holiday, day)
    if row is None:
        raise NotFound("该日期不在节假日安排中", code="holiday_not_found", field="day")
    audit.record("holiday.deleted", actor=actor, entity_type="holiday", entity_id=day.isoformat(),
                 before={"kind": row.kind, "name": row.name})
    db.session.delete(row)
    db.session.commit()


def list_holidays(year: int | None = None) -> list[dict]:
    stmt = sa.select(Holiday).order_by(Holiday.day)
    if year:
        stmt = stmt.where(Holiday.day >= date(year, 1, 1), Holiday.day < date(year + 1, 1, 1))
    return [{"day": h.day.isoformat(), "kind": h.kind, "name": h.name} for h in db.session.execute(stmt).scalars()]


# ---------------------------------------------------------------- routing and steps

def route(line: BatchLine | None, category: str, department_id: int) -> dict:
    """Where a new case goes: the owning department, or the paying bank for an account problem about a line."""
    if category not in CATEGORIES:
        raise Invalid("问题类别只能是 payment、account 或 other", code="category_invalid", field="category")
    if category == "account" and line is not None and line.bank_id is not None:
        return {"handler": "bank", "bank_id": line.bank_id, "department_id": department_id}
    return {"handler": "department", "bank_id": None, "department_id": department_id}


def add_message(complaint: Complaint, kind: str, author: str, text: str | None, *, staff_id: int | None = None,
                at: datetime | None = None) -> None:
    db.session.add(ComplaintMessage(complaint_id=complaint.id, kind=kind, author=author, staff_id=staff_id,
                                    text=text, at=at or utcnow()))


def _load_for_staff(actor: Actor, complaint_id: int) -> Complaint:
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        raise NotFound("投诉咨询不存在", code="complaint_not_found")
    # Only the case's handler answers: its department, or its bank; anyone else is told it does not exist.
    permissions.require(actor, "complaint.reply", complaint, hide=True)
    if complaint.handler == "bank" and actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer"):
        raise NotFound("记录不存在", code="not_found")
    return complaint


def reply(actor: Actor, complaint_id: int, text: str) -> Complaint:
    """The handler answers an open case (each reply is kept); the resident then confirms or reopens it."""
    complaint = _load_for_staff(actor, complaint_id)
    text = normalize_text(text, field="reply", max_len=1000, label="答复内容")
    if complaint.status != "open":
        raise Conflict(f"该投诉咨询{COMPLAINT_MACHINE.label(complaint.status)}，不能再答复", code="complaint_not_open",
                       field="status")
    now = utcnow()
    COMPLAINT_MACHINE.transition(complaint, "replied", actor, action="complaint.replied",
                                 extra_values={"reply": text, "replied_by_staff_id": actor.id, "replied_at": now})
    add_message(complaint, "reply", "staff", text, staff_id=actor.id, at=now)
    db.session.commit()
    return complaint


def _mine(resident_id: int, complaint_id: int) -> Complaint:
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None or complaint.resident_id != resident_id:
        raise NotFound("没有找到这条投诉咨询", code="complaint_not_found")
    return complaint


def resident_may(complaint: Complaint, step: str) -> bool:
    """Whether the case's state lets the resident take ``step`` ('confirm' or 'reopen') now."""
    return COMPLAINT_MACHINE.allowed(complaint.status, RESIDENT_STEPS[step])


def confirm(actor: Actor, resident_id: int, complaint_id: int) -> Complaint:
    """The resident is satisfied with the answer: the case is closed."""
    complaint = _mine(resident_id, complaint_id)
    if not resident_may(complaint, "confirm"):
        raise Conflict("只有已答复的投诉咨询可以确认办结", code="complaint_not_replied", field="status")
    now = utcnow()
    COMPLAINT_MACHINE.transition(complaint, "closed", actor, action="complaint.confirmed",
                                 extra_values={"closed_at": now})
    add_message(complaint, "confirm", "resident", None, at=now)
    db.session.commit()
    return complaint


def reopen(actor: Actor, resident_id: int, complaint_id: int, text: str) -> Complaint:
    """The resident is not satisfied: back to the handler with a new deadline."""
    complaint = _mine(resident_id, complaint_id)
    text = normalize_text(text, field="text", max_len=500, label="不满意的原因")
    if not resident_may(complaint, "reopen"):
        raise Conflict("只有已答复的投诉咨询可以重新办理", code="complaint_not_replied", field="status")
    now = utcnow()
    COMPLAINT_MACHINE.transition(complaint, "open", actor, action="complaint.reopened", note=text,
                                 extra_values={"due_at": due_from(now),
                                               "reopened_count": Complaint.reopened_count + 1})
    add_message(complaint, "reopen", "resident", text, at=now)
    db.session.commit()
    return complaint


def escalate_overdue(now: datetime | None = None) -> int:
    """逾期提级: each open case past its deadline is raised to 人社局 and finance, once (compare-and-set)."""
    now = now or utcnow()
    ids = db.session.execute(sa.select(Complaint.id).where(Complaint.status == "open", Complaint.due_at < now,
                                                          Complaint.escalated_at.is_(None))).scalars().all()
    done = 0
    for cid in ids:
        moved = db.session.execute(sa.update(Complaint).where(Complaint.id == cid, Complaint.escalated_at.is_(None))
                                   .values(escalated_at=now)).rowcount
        if moved:
            complaint = db.session.get(Complaint, cid)
            add_message(complaint, "escalate", "system", MESSAGE_KINDS["escalate"], at=now)
            audit.record("complaint.escalated", actor=SYSTEM, entity_type="complaint", entity_id=cid,
                         after={"due_at": complaint.due_at.isoformat() if complaint.due_at else None})
            done += 1
    db.session.commit()
    return done


def _hrss_id() -> int | None:
    return db.session.execute(sa.select(Department.id).where(Department.kind == "hrss")).scalar()


def scope(actor: Actor):
    """The cases an actor sees: the handler's (department or bank), and for 人社局 staff every escalated case."""
    own = permissions.scope_filter(actor, Complaint)
    if actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer") and actor.department_id == _hrss_id():
        return sa.or_(own, Complaint.escalated_at.is_not(None))
    return own


def is_overdue(c: Complaint, now: datetime | None = None) -> bool:
    return c.status == "open" and c.due_at is not None and c.due_at < (now or utcnow())


def case_fields(c: Complaint) -> dict:
    """What a case adds to the complaint document: category, handler, deadline, escalation and the thread."""
    handler_name = None
    if c.handler == "bank" and c.bank_id:
        handler_name = db.session.execute(sa.select(Bank.name).where(Bank.id == c.bank_id)).scalar()
    messages = db.session.execute(sa.select(ComplaintMessage).where(ComplaintMessage.complaint_id == c.id)
                                  .order_by(ComplaintMessage.id)).scalars()
    return {"line_id": c.line_id, "category": c.category, "category_label": CATEGORIES[c.category],
            "handler": c.handler, "handler_bank": handler_name, "status_label": COMPLAINT_MACHINE.label(c.status),
            "due_date": local_str(c.due_at - timedelta(seconds=1), "%Y-%m-%d") if c.due_at else None,
            "overdue": is_overdue(c), "escalated": c.escalated_at is not None,
            "closed_at": local_str(c.closed_at) or None, "reopened_count": c.reopened_count,
            "can_confirm": resident_may(c, "confirm"), "can_reopen": resident_may(c, "reopen"),
            "messages": [{"kind": m.kind, "label": MESSAGE_KINDS[m.kind], "author": m.author, "text": m.text,
                          "at": local_str(m.at)} for m in messages]}


# ---------------------------------------------------------------- statistics and the dashboard

def _age_label(days: int) -> str:
    return next(label for lo, hi, label in AGE_BUCKETS if days >= lo and (hi is None or days <= hi))


def stats(actor: Actor) -> dict:
    """Complaints by project, department and age (days since filed; open ones), with the overdue count."""
    permissions.require(actor, "complaint.stats")
    now = utcnow()
    today = local_today()
    rows = db.session.execute(
        sa.select(Complaint.status, Complaint.created_at, Complaint.due_at, Complaint.escalated_at,
                  Project.name, Department.name)
        .outerjoin(Project, Project.id == Complaint.project_id)
        .join(Department, Department.id == Complaint.department_id)
        .where(scope(actor))).all()
    by_project: dict[str, dict] = {}
    by_department: dict[str, dict] = {}
    by_age = {label: 0 for *_, label in AGE_BUCKETS}
    overdue = escalated = 0
    for status, created, due, esc, project, department in rows:
        for table, key in ((by_project, project or "（未指明项目）"), (by_department, department)):
            entry = table.setdefault(key, {"name": key, "total": 0, "open": 0, "closed": 0, "overdue": 0})
            entry["total"] += 1
            entry["open"] += status != "closed"
            entry["closed"] += status == "closed"
            entry["overdue"] += status == "open" and due is not None and due < now
        if status != "closed":
            by_age[_age_label((today - to_local(created).date()).days)] += 1
        overdue += status == "open" and due is not None and due < now
        escalated += esc is not None
    return {"total": len(rows), "overdue": overdue, "escalated": escalated,
            "by_project": sorted(by_project.values(), key=lambda x: -x["total"]),
            "by_department": sorted(by_department.values(), key=lambda x: -x["total"]),
            "by_age": [{"age": k, "open": v} for k, v in by_age.items()]}


def overdue_for_dashboard(actor: Actor, *, limit: int = 20) -> list[dict]:
    """Overdue open cases the actor sees, oldest deadline first (the dashboard's 逾期投诉)."""
    now = utcnow()
    rows = db.session.execute(
        sa.select(Complaint.id, Complaint.due_at, Complaint.escalated_at, Department.name, Project.name)
        .join(Department, Department.id == Complaint.department_id)
        .outerjoin(Project, Project.id == Complaint.project_id)
        .where(scope(actor), Complaint.status == "open", Complaint.due_at < now)
        .order_by(Complaint.due_at).limit(limit)).all()
    return [{"id": i, "due_date": local_str(due - timedelta(seconds=1), "%Y-%m-%d"), "escalated": esc is not None,
             "department": dept, "project": project} for i, due, esc, dept, project in rows]
