"""Reference data (基础数据): towns and villages, cooperating banks, departments; and the pickers forms use."""
from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request

from onecard.extensions import db
from onecard.reference.models import Bank, Department, Town, Village

from . import bp
from .core import page


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
    counts = dict(db.session.execute(sa.select(Village.town_id, sa.func.count(Village.id))
                                     .group_by(Village.town_id)).all())
    choices = scope_choices()
    town_id = request.args.get("town", type=int)
    selected = next((t for t in choices["towns"] if t.id == town_id), None)
    villages = next((vs for t, vs in choices["villages_by_town"] if selected and t.id == selected.id), [])
    return render_template("console/reference.html", choices=choices, village_counts=counts,
                           selected_town=selected, villages=villages)
