"""Subsidy projects (补贴项目): the fields of attachment 2 plus the bureau's unified code."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import relationship

from onecard.extensions import db
from onecard.timeutil import utcnow

CYCLES = {"monthly": "按月", "quarterly": "按季", "half_yearly": "按半年", "yearly": "按年", "one_off": "一次性"}
LEVELS = {"county": "县级", "town": "镇级", "village": "村级"}
PROJECT_STATES = {"registered": "待编码", "coded": "已编码", "retired": "已停用"}


class Project(db.Model):
    """补贴项目, owned by one department, coded by 人社局."""
    __tablename__ = "projects"
    id = sa.Column(sa.Integer, primary_key=True)
    code = sa.Column(sa.String(20), unique=True)              # unified code, assigned by the bureau
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    category = sa.Column(sa.String(60), nullable=False)       # 项目资金大类名称
    name = sa.Column(sa.String(100), nullable=False)          # 项目资金小类名称
    cycle = sa.Column(sa.String(12), nullable=False)          # 发放周期
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"))  # 代发银行 (agent bank)
    via_passbook = sa.Column(sa.Boolean, nullable=False, default=False)  # 是否通过“一本通”发放
    level = sa.Column(sa.String(10), nullable=False, default="county")   # 发放层级（范围）
    standard_fen = sa.Column(sa.BigInteger)                   # standard amount per person/household, if fixed
    per_household = sa.Column(sa.Boolean, nullable=False, default=False)  # 到户资金: paid to the head's card
    required_category = sa.Column(sa.String(12))              # e.g. 'dibao' for 最低生活保障金
    eligibility = sa.Column(sa.String(500))                   # who qualifies (public policy list)
    policy_basis = sa.Column(sa.String(300))                  # the policy document
    status = sa.Column(sa.String(12), nullable=False, default="registered")
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    coded_at = sa.Column(sa.DateTime)
    retired_at = sa.Column(sa.DateTime)
    __table_args__ = (
        sa.UniqueConstraint("department_id", "category", "name"),
        sa.CheckConstraint("cycle in ('monthly','quarterly','half_yearly','yearly','one_off')", name="cycle"),
        sa.CheckConstraint("level in ('county','town','village')", name="level"),
        sa.CheckConstraint("status in ('registered','coded','retired')", name="status"),
        sa.CheckConstraint("standard_fen is null or standard_fen > 0", name="standard_positive"),
        sa.CheckConstraint("status = 'registered' or code is not null", name="coded_has_code"),
    )

    department = relationship("Department")
    bank = relationship("Bank")
