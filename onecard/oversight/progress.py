"""The pilot's progress against the plan's timetable (试点进度), per department.

The timetable of ../shared/seed/sishui-pilot-plan.txt is data (TIMETABLE): each step, the month of the
plan's year by whose end it is due, and how "done" is read from the tables. Each step is one GROUP BY
over its table; a department's step is done (with the date it was done), overdue (not done and the
deadline has passed on ``today``), or not yet due.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.errors import Invalid
from onecard.extensions import db
from onecard.lists.models import RecipientList
from onecard.oversight import reads
from onecard.payments.models import LedgerEntry
from onecard.projects.models import Project
from onecard.reference.models import Department
from onecard.staff import permissions
from onecard.staff.models import StaffAccount
from onecard.timeutil import local_today, to_local

permissions.register({
    "oversight.progress": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
})


@dataclass(frozen=True)
class Step:
    code: str
    name: str
    deadline_month: int     # due by the end of this month of the plan's year
    meaning: str


TIMETABLE = [
    Step("projects", "项目梳理", 9, "已在平台登记本部门的补贴项目"),
    Step("matching", "比对", 9, "本部门的发放名单已与社保卡信息比对"),
    Step("payment", "发放", 10, "本部门已通过社保卡发放至少一个批次"),
    Step("platform", "平台", 12, "本部门岗位账号已开通，项目均已统一编码"),
]
PILOT_PLAN_YEAR = 2021
STATUS_LABELS = {"done": "已完成", "overdue": "已逾期", "not_yet_due": "未到期"}


def deadline(step: Step, year: int) -> date:
    return date(year, step.deadline_month, calendar.monthrange(year, step.deadline_month)[1])


def default_year() -> int:
    """The year the platform's work started: the first project's registration, else this year."""
    first = db.session.execute(sa.select(sa.func.min(Project.created_at))).scalar()
    return first.year if first else local_today().year


def _as_date(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):      # SQLite returns min()/max() of a DateTime as text
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return to_local(value).date()
    return value


def _done_dates() -> dict[str, dict[int, date | None]]:
    """For each step, department id -> the date it was done (one aggregate query per step)."""
    projects = dict(db.session.execute(
        sa.select(Project.department_id, sa.func.min(Project.created_at)).group_by(Project.department_id)).all())
    matching = dict(db.session.execute(
        sa.select(RecipientList.department_id, sa.func.min(RecipientList.matched_at))
        .where(RecipientList.matched_at.is_not(None), RecipientList.status != "withdrawn")
        .group_by(RecipientList.department_id)).all())
    payment = dict(db.session.execute(
        sa.select(LedgerEntry.department_id, sa.func.min(LedgerEntry.occurred_at))
        .where(LedgerEntry.outcome == "paid").group_by(LedgerEntry.department_id)).all())
    # 平台: every live project coded (date: the last coding) and at least one active staff account.
    coded = db.session.execute(
        sa.select(Project.department_id,
                  sa.func.sum(sa.case((Project.status == "registered", 1), else_=0)).label("uncoded"),
                  sa.func.max(Project.coded_at).label("last_coded"))
        .where(Project.status != "retired").group_by(Project.department_id)).all()
    staff = dict(db.session.execute(
        sa.select(StaffAccount.department_id, sa.func.min(StaffAccount.created_at))
        .where(StaffAccount.active.is_(True), StaffAccount.department_id.is_not(None))
        .group_by(StaffAccount.department_id)).all())
    platform = {}
    for r in coded:
        if not r.uncoded and r.department_id in staff:
            platform[r.department_id] = max(d for d in (_as_date(r.last_coded), _as_date(staff[r.department_id]))
                                            if d is not None)
    return {"projects": {k: _as_date(v) for k, v in projects.items()},
            "matching": {k: _as_date(v) for k, v in matching.items()},
            "payment": {k: _as_date(v) for k, v in payment.items()}, "platform": platform}


def evaluate(actor: Actor, *, year: int | None = None, today: date | None = None) -> dict:
    """Each business department's steps: done / overdue / not yet due, against ``today`` (default: today)."""
    permissions.require(actor, "oversight.progress")
    if year is not None and not 2000 <= year <= 2100:
        raise Invalid("年份应在2000至2100之间", code="year_invalid", field="year")
    year = year or default_year()
    today = today or local_today()
    reads.audit_read(actor, "progress", {"year": year, "today": today.isoformat()})
    done = _done_dates()
    depts = db.session.execute(
        sa.select(Department).where(Department.kind == "business",
                                    permissions.scope_filter(actor, Department, department_col=Department.id))
        .order_by(Department.code)).scalars().all()
    out = []
    for d in depts:
        steps = []
        for step in TIMETABLE:
            due = deadline(step, year)
            done_on = done[step.code].get(d.id)
            status = "done" if done_on else ("overdue" if today > due else "not_yet_due")
            steps.append({"step": step.code, "name": step.name, "meaning": step.meaning, "deadline": due.isoformat(),
                          "status": status, "status_label": STATUS_LABELS[status],
                          "done_on": done_on.isoformat() if done_on else None,
                          "late": bool(done_on and done_on > due)})
        out.append({"department_id": d.id, "department": d.name, "steps": steps,
                    "overdue": sum(s["status"] == "overdue" for s in steps),
                    "done": sum(s["status"] == "done" for s in steps)})
    return {"year": year, "today": today.isoformat(),
            "timetable": [{"step": s.code, "name": s.name, "deadline": deadline(s, year).isoformat(),
                           "meaning": s.meaning} for s in TIMETABLE],
            "departments": out}
