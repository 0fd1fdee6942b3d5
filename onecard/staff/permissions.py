"""Permissions in one place: "may this actor do this", and the SQL filter for what it may see.

Every door calls ``require(actor, action, obj)`` before acting and
``scope_query(actor, stmt, model)`` (or a domain's scoped loader) before
listing. No view filters by hand. Domains register their actions in
``POLICY`` below; object-level checks compare the object's department, bank,
town or village with the actor's.
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.errors import Forbidden, Invalid, NotFound

ALL_STAFF = frozenset({"admin", "dept_operator", "dept_reviewer", "finance", "bank_operator", "town_staff",
                       "village_staff", "auditor"})
READ_EVERYTHING = frozenset({"admin", "finance", "auditor"})

# action -> roles that may attempt it (object scope is checked separately).
POLICY: dict[str, frozenset[str]] = {
    # accounts (岗位权限): opened and granted by the bureau
    "staff.manage": frozenset({"admin"}),
    "staff.read": frozenset({"admin", "auditor"}),
    # reference data and the card registry
    "registry.import": frozenset({"admin"}),
    "registry.read": frozenset({"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator",
                                "town_staff", "village_staff"}),
    # projects (补贴项目)
    "project.read": ALL_STAFF,
    "project.register": frozenset({"admin", "dept_operator"}),
    "project.edit": frozenset({"admin", "dept_operator"}),
    "project.code": frozenset({"admin"}),
    "project.retire": frozenset({"admin"}),
    "contact.manage": frozenset({"admin", "dept_operator"}),
    # recipient lists (发放名单) and matching (比对)
    "list.upload": frozenset({"dept_operator"}),
    "list.read": frozenset({"admin", "finance", "auditor", "dept_operator", "dept_reviewer"}),
    "list.withdraw": frozenset({"dept_operator", "admin"}),
    "match.run": frozenset({"admin", "dept_operator"}),
    "followup.read": frozenset({"admin", "dept_operator", "dept_reviewer", "bank_operator", "town_staff",
                                "village_staff", "finance", "auditor"}),
    # residents (居民) seen by town/village staff
    "resident.read": frozenset({"admin", "auditor", "town_staff", "village_staff", "finance"}),
    "resident.assist": frozenset({"village_staff", "town_staff"}),
    # audit trail
    "audit.read": frozenset({"admin", "auditor"}),
    "audit.verify": frozenset({"admin", "auditor", "finance"}),
}


def register(actions: dict[str, Iterable[str]]) -> None:
    """Domains add their actions here at import time (one policy table for the whole platform)."""
    for name, roles in actions.items():
        POLICY[name] = frozenset(roles)


def can(actor: Actor, action: str) -> bool:
    if actor.kind == "system":
        return True
    if actor.kind != "staff":
        return False
    return actor.role in POLICY.get(action, frozenset())


def require(actor: Actor, action: str, obj=None, *, hide: bool = False) -> None:
    """Refuse with 403 (or 404 where even existence must not leak) unless the actor may do ``action`` on ``obj``."""
    if action not in POLICY:
        raise RuntimeError(f"unknown permission {action!r}")  # a programming error, not a user's
    if not can(actor, action):
        raise Forbidden("您的岗位没有此项操作权限", code="forbidden_role")
    if obj is not None and not in_scope(actor, obj):
        if hide:
            raise NotFound("记录不存在", code="not_found")
        raise Forbidden("该记录不属于您负责的范围", code="forbidden_scope")


def in_scope(actor: Actor, obj) -> bool:
    """Whether an object (anything with department_id / bank_id / town_id / village_id) is in the actor's scope."""
    if actor.kind == "system" or actor.role in READ_EVERYTHING:
        return True
    role = actor.role
    if role in ("dept_operator", "dept_reviewer"):
        return getattr(obj, "department_id", None) == actor.department_id
    if role == "bank_operator":
        return getattr(obj, "bank_id", None) == actor.bank_id
    if role == "town_staff":
        return getattr(obj, "town_id", None) == actor.town_id
    if role == "village_staff":
        return getattr(obj, "village_id", None) == actor.village_id
    return False


def target_department(actor: Actor, department_id: int | None, *, what: str) -> int:
    """The department a new record (project, contact, agreement) belongs to: a department operator's own,
    whatever it asks; anyone else who may create one (the bureau) must name an existing department."""
    if actor.kind == "staff" and actor.role == "dept_operator":
        if department_id is not None and department_id != actor.department_id:
            raise Forbidden(f"只能登记本部门的{what}", code="forbidden_scope", field="department_id")
        return actor.department_id
    if department_id is None:
        raise Invalid(f"请选择{what}所属的部门", code="department_required", field="department_id")
    from onecard.extensions import db
    from onecard.reference.models import Department
    if db.session.get(Department, department_id) is None:
        raise Invalid("部门不存在", code="department_unknown", field="department_id")
    return department_id


def scope_filter(actor: Actor, model, *, department_col=None, bank_col=None, town_col=None, village_col=None):
    """The WHERE clause limiting ``model`` rows to the actor's scope (true for everything-readers).

    Pass the columns that carry each scope when they are not named as usual on ``model``.
    A role with no applicable column sees nothing.
    """
    if actor.kind == "system" or actor.role in READ_EVERYTHING:
        return sa.true()
    role = actor.role

    def col(explicit, name):
        return explicit if explicit is not None else getattr(model, name, None)

    if role in ("dept_operator", "dept_reviewer"):
        c = col(department_col, "department_id")
        return c == actor.department_id if c is not None else sa.false()
    if role == "bank_operator":
        c = col(bank_col, "bank_id")
        return c == actor.bank_id if c is not None else sa.false()
    if role == "town_staff":
        c = col(town_col, "town_id")
        return c == actor.town_id if c is not None else sa.false()
    if role == "village_staff":
        c = col(village_col, "village_id")
        return c == actor.village_id if c is not None else sa.false()
    return sa.false()
