"""The public policy list (补贴政策清单): what residents read about the coded subsidy projects, without signing in."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.projects.models import CYCLES, Project
from onecard.reference.models import Department
from onecard.validation import format_yuan


def public_policies() -> list[dict]:
    """补贴政策清单: coded projects, readable by anyone."""
    rows = db.session.execute(
        sa.select(Project.id, Project.code, Project.category, Project.name, Project.cycle, Project.standard_fen,
                  Project.per_household, Project.eligibility, Project.policy_basis, Department.name.label("dept"))
        .join(Department, Department.id == Project.department_id)
        .where(Project.status == "coded").order_by(Project.code)
    ).all()
    return [{"id": r.id, "code": r.code, "category": r.category, "name": r.name, "department": r.dept,
             "cycle": r.cycle, "cycle_label": CYCLES.get(r.cycle, r.cycle),
             "standard": (format_yuan(r.standard_fen) + ("/户" if r.per_household else "/人")) if r.standard_fen
             else "按核定标准发放", "eligibility": r.eligibility or "详见政策文件", "policy_basis": r.policy_basis}
            for r in rows]
