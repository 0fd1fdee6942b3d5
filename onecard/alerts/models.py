"""Alerts to people (工作提醒): what the platform tells staff members, in the console and by SMS."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow


class StaffAlert(db.Model):
    """One alert: a batch's bank results arrived, a result file was refused, a batch waits too long, the SMS
    outbox stalls, a scheduled job missed its run. ``dedupe_key`` says what it is about, so the periodic check
    that finds the same stalled batch every minute alerts once."""
    __tablename__ = "staff_alerts"
    id = sa.Column(sa.Integer, primary_key=True)
    kind = sa.Column(sa.String(20), nullable=False)
    dedupe_key = sa.Column(sa.String(120), nullable=False, unique=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), index=True)
    batch_id = sa.Column(sa.Integer, sa.ForeignKey("batches.id"))
    title = sa.Column(sa.String(120), nullable=False)
    body = sa.Column(sa.String(500), nullable=False)      # never a full ID, account or mobile
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class StaffAlertRecipient(db.Model):
    """One staff member told of one alert: read in the console when ``read_at`` is set; the SMS, if they have a
    registered mobile, is the notice with subject ``alert:<this id>`` on the "staff" channel."""
    __tablename__ = "staff_alert_recipients"
    id = sa.Column(sa.Integer, primary_key=True)
    alert_id = sa.Column(sa.Integer, sa.ForeignKey("staff_alerts.id"), nullable=False)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=False)
    read_at = sa.Column(sa.DateTime)
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "staff_id"),
        sa.Index("ix_staff_alert_recipients_staff", "staff_id", "read_at"),
    )
