"""The complaints table (投诉咨询), handled as cases (issue 18): the thread of replies and the resident's answers,
and the county's holiday calendar the working-day deadlines are counted on."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow

COMPLAINT_STATES = {"open": "待答复", "replied": "已答复，待您确认", "closed": "已办结"}
CATEGORIES = {"payment": "发放问题", "account": "账户问题（转代发银行）", "other": "其他咨询"}
MESSAGE_KINDS = {"filed": "提出", "reply": "答复", "confirm": "确认办结", "reopen": "不满意，重新办理",
                 "escalate": "逾期未答复，已提级至人社局、财政局督办"}


class Complaint(db.Model):
    """投诉咨询: a resident's question about a payment, routed to the project's department (or, for an account
    problem, to the paying bank), with a deadline in working days; escalated when overdue."""
    __tablename__ = "complaints"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    ledger_entry_id = sa.Column(sa.Integer, sa.ForeignKey("ledger_entries.id"))
    line_id = sa.Column(sa.Integer, sa.ForeignKey("batch_lines.id"))        # the payment line it is about
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"))
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    # Who answers: the owning department, or the bank that paid (an account problem); bank_id only then.
    handler = sa.Column(sa.String(10), nullable=False, default="department", server_default="department")
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), index=True)
    category = sa.Column(sa.String(10), nullable=False, default="payment", server_default="payment")
    text = sa.Column(sa.String(500), nullable=False)
    status = sa.Column(sa.String(10), nullable=False, default="open")
    reply = sa.Column(sa.String(1000))                                     # the latest reply
    replied_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    replied_at = sa.Column(sa.DateTime)
    filed_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    due_at = sa.Column(sa.DateTime)                 # answer by (working days on the holiday calendar)
    escalated_at = sa.Column(sa.DateTime)           # overdue: raised to 人社局 and finance
    closed_at = sa.Column(sa.DateTime)              # the resident confirmed
    reopened_count = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("status in ('open','replied','closed')", name="status"),
        sa.CheckConstraint("handler in ('department','bank')", name="handler"),
        sa.CheckConstraint("handler = 'department' or bank_id is not null", name="bank_handler_has_bank"),
        sa.CheckConstraint("category in ('payment','account','other')", name="category"),
        sa.Index("ix_complaints_overdue", "status", "due_at"),
    )


class ComplaintMessage(db.Model):
    """One step of a case, in order: filed, every reply, the resident's confirmation or reopening, escalation."""
    __tablename__ = "complaint_messages"
    id = sa.Column(sa.Integer, primary_key=True)
    complaint_id = sa.Column(sa.Integer, sa.ForeignKey("complaints.id"), nullable=False, index=True)
    kind = sa.Column(sa.String(10), nullable=False)
    author = sa.Column(sa.String(10), nullable=False)        # resident, staff, system
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    text = sa.Column(sa.String(1000))
    at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("kind in ('filed','reply','confirm','reopen','escalate')", name="kind"),
        sa.CheckConstraint("author in ('resident','staff','system')", name="author"),
    )


class Holiday(db.Model):
    """The county's calendar (节假日): a listed day is a holiday, or (kind 'workday') a weekend worked (调休)."""
    __tablename__ = "holidays"
    day = sa.Column(sa.Date, primary_key=True)
    kind = sa.Column(sa.String(8), nullable=False, default="holiday")
    name = sa.Column(sa.String(40), nullable=False)
    __table_args__ = (sa.CheckConstraint("kind in ('holiday','workday')", name="kind"),)
