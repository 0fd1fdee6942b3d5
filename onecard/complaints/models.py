"""The complaints table (投诉咨询)."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow

COMPLAINT_STATES = {"open": "待答复", "replied": "已答复"}


class Complaint(db.Model):
    """投诉咨询: a resident's question about a payment, routed to the project's department."""
    __tablename__ = "complaints"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    ledger_entry_id = sa.Column(sa.Integer, sa.ForeignKey("ledger_entries.id"))
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"))
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    text = sa.Column(sa.String(500), nullable=False)
    status = sa.Column(sa.String(10), nullable=False, default="open")
    reply = sa.Column(sa.String(1000))
    replied_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    replied_at = sa.Column(sa.DateTime)
    filed_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (sa.CheckConstraint("status in ('open','replied')", name="status"),)
