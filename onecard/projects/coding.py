"""The unified project code (统一编码) the bureau assigns, by one documented scheme.

    DD CC SSS   e.g. 0301002
    DD  the owning department's two-digit code (reference.data.DEPARTMENTS)
    CC  the 大类 (category) number inside that department, in the order categories were first coded
    SSS the 小类 (project) sequence inside that department and category

A code, once given, never changes and is never reused: retired projects keep theirs.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.projects.models import Project
from onecard.reference.models import Department


class CodeSpaceExhausted(RuntimeError):
    """Every SSS of a department and category is used (its own class: a bare RuntimeError may be a bug)."""


def next_code(project: Project) -> str:
    dept = db.session.get(Department, project.department_id)
    coded = db.session.execute(
        sa.select(Project.category, Project.code).where(Project.department_id == project.department_id,
                                                        Project.code.is_not(None))
    ).all()
    category_numbers: dict[str, int] = {}
    max_category = 0
    max_seq_in_category = 0
    for category, code in coded:
        number = int(code[2:4])
        category_numbers.setdefault(category, number)
        max_category = max(max_category, number)
    if project.category in category_numbers:
        cat_no = category_numbers[project.category]
        for _category, code in coded:
            if code[2:4] == f"{cat_no:02d}":
                max_seq_in_category = max(max_seq_in_category, int(code[4:7]))
    else:
        cat_no = max_category + 1
    if cat_no > 99 or max_seq_in_category >= 999:
        raise CodeSpaceExhausted("project code space exhausted for this department")
    return f"{dept.code}{cat_no:02d}{max_seq_in_category + 1:03d}"
