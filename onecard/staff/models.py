"""Staff accounts (岗位权限) and bearer tokens."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import relationship

from onecard.extensions import db
from onecard.privacy import Encrypted
from onecard.timeutil import utcnow

ROLES = {
    "admin": "人社局管理员",
    "dept_operator": "部门经办",
    "dept_reviewer": "部门审核",
    "finance": "财政局",
    "bank_operator": "银行经办",
    "town_staff": "镇街工作人员",
    "village_staff": "村（社区）协办员",
    "auditor": "审计监督",
}


class StaffAccount(db.Model):
    """A staff member's account with one position (role) and the scope it works in."""
    __tablename__ = "staff_accounts"
    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(40), nullable=False, unique=True)
    display_name = sa.Column(sa.String(40), nullable=False)
    password_hash = sa.Column(sa.String(200), nullable=False)
    role = sa.Column(sa.String(16), nullable=False)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"))
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"))
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    # 登记手机: where alerts are sent by SMS (onecard.alerts); encrypted like residents' mobiles
    mobile = sa.Column(Encrypted)
    mobile_masked = sa.Column(sa.String(11))
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    must_change_password = sa.Column(sa.Boolean, nullable=False, default=False)
    failed_logins = sa.Column(sa.Integer, nullable=False, default=0)
    locked_until = sa.Column(sa.DateTime)
    last_login_at = sa.Column(sa.DateTime)
    last_login_ip = sa.Column(sa.String(64))
    previous_login_at = sa.Column(sa.DateTime)     # shown as the "last login" notice after signing in
    previous_login_ip = sa.Column(sa.String(64))
    password_changed_at = sa.Column(sa.DateTime)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    created_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    __table_args__ = (
        sa.CheckConstraint("role in (" + ",".join(f"'{r}'" for r in ROLES) + ")", name="role"),
        # Each scoped role must carry its scope; the database refuses a department operator without a department.
        sa.CheckConstraint("role not in ('dept_operator','dept_reviewer') or department_id is not null",
                           name="dept_scope"),
        sa.CheckConstraint("role <> 'bank_operator' or bank_id is not null", name="bank_scope"),
        sa.CheckConstraint("role <> 'town_staff' or town_id is not null", name="town_scope"),
        sa.CheckConstraint("role <> 'village_staff' or village_id is not null", name="village_scope"),
    )

    department = relationship("Department")
    bank = relationship("Bank")
    town = relationship("Town")
    village = relationship("Village")


class AuthToken(db.Model):
    """An expiring bearer token for a staff member or a resident; only its SHA-256 is stored."""
    __tablename__ = "auth_tokens"
    id = sa.Column(sa.Integer, primary_key=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    subject_kind = sa.Column(sa.String(10), nullable=False)    # staff or citizen
    subject_id = sa.Column(sa.Integer, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    revoked_at = sa.Column(sa.DateTime)
    ip = sa.Column(sa.String(64))
    channel = sa.Column(sa.String(20))
    __table_args__ = (
        sa.CheckConstraint("subject_kind in ('staff','citizen')", name="subject_kind"),
        sa.Index("ix_auth_tokens_subject", "subject_kind", "subject_id"),
    )
