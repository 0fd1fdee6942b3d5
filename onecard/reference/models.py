"""Reference data: towns and villages, the cooperating banks, the departments."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db


class Town(db.Model):
    """镇街: a town (镇) or street office (街道) of the county."""
    __tablename__ = "towns"
    id = sa.Column(sa.Integer, primary_key=True)
    code = sa.Column(sa.String(12), nullable=False, unique=True)
    name = sa.Column(sa.String(40), nullable=False, unique=True)


class Village(db.Model):
    """村（社区）: a village or urban community inside a town."""
    __tablename__ = "villages"
    id = sa.Column(sa.Integer, primary_key=True)
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False, index=True)
    code = sa.Column(sa.String(15), nullable=False, unique=True)   # 12-digit 统计用区划代码
    name = sa.Column(sa.String(60), nullable=False)
    urban_rural_code = sa.Column(sa.String(3))   # 城乡分类代码 (111 主城区 ... 220 村庄)
    __table_args__ = (sa.UniqueConstraint("town_id", "name"),)


class Bank(db.Model):
    """合作银行: one of the cooperating banks that issue cards and pay subsidies."""
    __tablename__ = "banks"
    id = sa.Column(sa.Integer, primary_key=True)
    code = sa.Column(sa.String(10), nullable=False, unique=True)   # ICBC, CCB, ...
    name = sa.Column(sa.String(40), nullable=False, unique=True)   # 工商银行
    branch_name = sa.Column(sa.String(80), nullable=False)         # 工商银行泗水县支行
    aliases = sa.Column(sa.String(300), nullable=False, default="")  # comma-separated names people write
    # Its payment and result file format: a key of onecard.payments.bankformats.BANK_FORMATS (data, so a county
    # adds a bank using an existing format without code; an unknown one is refused at export).
    bank_format = sa.Column(sa.String(12), nullable=False, default="generic", server_default="generic")


class Department(db.Model):
    """业务主管部门 and the two coordinating bureaus (人社局, 财政局)."""
    __tablename__ = "departments"
    id = sa.Column(sa.Integer, primary_key=True)
    code = sa.Column(sa.String(4), nullable=False, unique=True)   # two-digit code used in project codes
    name = sa.Column(sa.String(60), nullable=False, unique=True)
    kind = sa.Column(sa.String(12), nullable=False, default="business")
    __table_args__ = (sa.CheckConstraint("kind in ('business','hrss','finance')", name="kind"),)


class BankBranch(db.Model):
    """网点: a branch of a cooperating bank where residents collect their card, kept by the bureau (人社局).

    A resident who collects at a branch picks one from this list; a closed branch is switched off,
    never deleted, because applications keep pointing at it.
    """
    __tablename__ = "bank_branches"
    id = sa.Column(sa.Integer, primary_key=True)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    name = sa.Column(sa.String(80), nullable=False)
    address = sa.Column(sa.String(200), nullable=False, default="")
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    __table_args__ = (sa.UniqueConstraint("bank_id", "name"),)
