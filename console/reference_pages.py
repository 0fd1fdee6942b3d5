"""Reference data (基础数据): towns and villages, cooperating banks, departments; and the pickers forms use."""
from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request, url_for

from onecard.extensions import db
from onecard.reference import branches
from onecard.reference.models import Bank, Department, Town, Village
from onecard.staff import permissions
from onecard.web.http import form_int

from . import bp
from .core import page
from .guard import guarded_post


def scope_choices() -> dict:
    """Options for the department / bank / town / village pickers (villages grouped by town)."""
    towns = db.session.execute(sa.select(Town).order_by(Town.code)).scalars().all()
    villages: dict[int, list] = {}
    for v in db.session.execute(sa.select(Village).order_by(Village.code)).scalars():
        villages.setdefault(v.town_id, []).append(v)
    return {
        "departments": db.session.execute(sa.select(Department).order_by(Department.code)).scalars().all(),
        "banks": db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars().all(),
        "towns": towns,
        "villages_by_town": [(t, villages.get(t.id, [])) for t in towns],
    }


@bp.get("/reference")
@page("registry.read")
def reference(actor):
    return _reference(actor)


def _reference(actor, *, form=None, error=None, status=200):
    counts = dict(db.session.execute(sa.select(Village.town_id, sa.func.count(Village.id))
                                     .group_by(Village.town_id)).all())
    choices = scope_choices()
    town_id = request.args.get("town", type=int)
    selected = next((t for t in choices["towns"] if t.id == town_id), None)
    villages = next((vs for t, vs in choices["villages_by_town"] if selected and t.id == selected.id), [])
    return render_template("console/reference.html", choices=choices, village_counts=counts,
                           selected_town=selected, villages=villages,
                           branches=branches.list_branches(active_only=False),
                           can_manage_branches=permissions.can(actor, "branch.manage"),
                           form=form or {}, error=error), status


@bp.post("/reference/branches")
@page("branch.manage")
def branch_add(actor):
    f = request.form
    return guarded_post(
        actor, lambda: branches.add_branch(actor, form_int(f.get("bank_id")), f.get("name"), f.get("address")),
        done=lambda b: f"已新增网点：{b['bank_name']} {b['name']}", then=url_for("console.reference") + "#branches",
        on_error=lambda exc: _reference(actor, form={**f, "error_field": exc.field}, error=exc.message,
                                        status=exc.status))


@bp.post("/reference/branches/<int:branch_id>/active")
@page("branch.manage")
def branch_active(actor, branch_id):
    active = request.form.get("active") == "1"
    return guarded_post(
        actor, lambda: branches.set_branch_active(actor, branch_id, active),
        done=lambda b: f"网点“{b['name']}”已{'恢复办理' if b['active'] else '停办'}",
        then=url_for("console.reference") + "#branches")
