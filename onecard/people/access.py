"""Who may keep which master data about people, and which rows each position sees.

One place for the people domain's positions (registered in ``onecard.staff.permissions.POLICY``):

* households and residents: the bureau administrator (county-wide), the departments that keep household
  records (HOUSEHOLD_KEEPERS: 民政局, 农业农村局) county-wide, and town staff inside their own town;
* protected groups: only the issuing department of each group (``onecard.people.groups.ISSUERS``),
  or the administrator recording on its behalf (naming that department);
* proxy appointments: the administrator, or a department that issues the group the appointment rests on;
* deaths: the administrator (公安 notices, the card registry) and 民政局 (death and cremation notices).

Reads: everyone who handles people's money sees the county (department roles, finance, audit, the bureau);
town and village staff see their own town or village.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden
from onecard.extensions import db
from onecard.reference.models import Department
from onecard.staff import permissions

HOUSEHOLD_KEEPERS = ("03", "06")      # 县民政局, 县农业农村局 (department codes, onecard.reference.data)
DEATH_RECORDERS = ("03",)             # 县民政局

permissions.register({
    "people.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "town_staff", "village_staff"},
    "resident.register": {"admin", "dept_operator", "town_staff"},
    "household.manage": {"admin", "dept_operator", "town_staff"},
    "group.manage": {"admin", "dept_operator"},
    "proxy.manage": {"admin", "dept_operator"},
    "death.record": {"admin", "dept_operator"},
})


def flush_or_conflict(message: str, *, code: str, field: str | None = None) -> None:
    """Flush; a unique index refusing the write (another clerk got there first) is a 409, not a 500."""
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message, code=code, field=field) from exc


def department_code(actor: Actor) -> str | None:
    if actor.department_id is None:
        return None
    return db.session.execute(sa.select(Department.code).where(Department.id == actor.department_id)).scalar()


def require_department_in(actor: Actor, codes: tuple[str, ...], what: str) -> None:
    """A department operator may act only when its department is one of ``codes``."""
    if actor.kind == "staff" and actor.role == "dept_operator" and department_code(actor) not in codes:
        raise Forbidden(f"本部门不负责{what}", code="forbidden_department")


def require_town(actor: Actor, town_id: int | None, *, field: str = "town") -> None:
    """Town staff act only inside their own town (village staff inside their village)."""
    if actor.kind != "staff":
        return
    if actor.role == "town_staff" and town_id != actor.town_id:
        raise Forbidden("只能办理本镇街的居民和家庭户", code="forbidden_scope", field=field)


def require_village(actor: Actor, village_id: int | None) -> None:
    if actor.kind == "staff" and actor.role == "village_staff" and village_id != actor.village_id:
        raise Forbidden("只能查看本村（社区）的居民和家庭户", code="forbidden_scope")


def sees(actor: Actor, town_id: int | None, village_id: int | None) -> bool:
    """Whether a record in this town/village is visible to the actor (after ``people.read``)."""
    if actor.kind != "staff" or actor.role not in ("town_staff", "village_staff"):
        return True
    if actor.role == "town_staff":
        return town_id == actor.town_id
    return village_id == actor.village_id


def scope_where(actor: Actor, town_col, village_col):
    """The WHERE clause for a list of people-related rows by their town/village columns."""
    if actor.kind == "staff" and actor.role == "town_staff":
        return town_col == actor.town_id
    if actor.kind == "staff" and actor.role == "village_staff":
        return village_col == actor.village_id
    return sa.true()
