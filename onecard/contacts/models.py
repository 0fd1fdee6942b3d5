"""Department contacts (attachment 4): each department's responsible leader and contact person."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import relationship

from onecard.extensions import db
from onecard.privacy import Encrypted
from onecard.timeutil import utcnow

CONTACT_KINDS = {"leader": "分管负责人", "contact": "联络人"}


class DepartmentContact(db.Model):
    """联络人: 姓名, 单位及职务, 联系方式 (stored encrypted, shown masked), 备注."""
    __tablename__ = "department_contacts"
    id = sa.Column(sa.Integer, primary_key=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    kind = sa.Column(sa.String(10), nullable=False)
    name = sa.Column(sa.String(40), nullable=False)
    position = sa.Column(sa.String(100), nullable=False)     # 单位及职务
    phone = sa.Column(Encrypted, nullable=False)
    phone_masked = sa.Column(sa.String(24), nullable=False)
    note = sa.Column(sa.String(200))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    __table_args__ = (sa.CheckConstraint("kind in ('leader','contact')", name="kind"),)

    department = relationship("Department")
