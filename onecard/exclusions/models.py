"""互斥规则: a group of projects one person (or one household) may not receive for the same period."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow

SCOPES = {"person": "同一人", "household": "同一户"}

exclusion_rule_projects = sa.Table(
    "exclusion_rule_projects", db.metadata,
    sa.Column("rule_id", sa.Integer, sa.ForeignKey("exclusion_rules.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True, index=True),
)


class ExclusionRule(db.Model):
    """Projects that exclude each other for one period (e.g. 特困人员救助供养金 and 最低生活保障金), with the
    rule's source (the policy document); retired, never deleted, so past holds and findings keep their rule."""
    __tablename__ = "exclusion_rules"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(100), nullable=False)
    scope = sa.Column(sa.String(10), nullable=False, default="person")
    source = sa.Column(sa.String(300), nullable=False)          # 依据：文件名称、文号
    status = sa.Column(sa.String(8), nullable=False, default="active")
    created_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    retired_at = sa.Column(sa.DateTime)
    __table_args__ = (
        sa.CheckConstraint("scope in ('person','household')", name="scope"),
        sa.CheckConstraint("status in ('active','retired')", name="status"),
    )
