"""The notice outbox (通知): notices, their attempts, templates and WeChat subscription grants.

A notice is one message on one channel (``channels.CHANNELS``). Most are about one ArrivalEvent ("sms",
"wechat", ...): the unique (event, channel) key makes a replayed event add nothing. The others have no
arrival event but a ``subject_key`` unique per channel: an alert to a staff member ("staff", the subject
being the alert's recipient row) or a resident told that a village helper acted for them ("assist"). They
are written in the same transaction as what they report and sent by the same drainer, exactly once. The drainer claims notices
with a lease; ``uncertain_since`` marks a notice whose last send may have reached the
provider without us learning the answer (a timeout, a 5xx, a killed process), so the next
drainer reconciles with the provider before it sends again.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.notices.channels import CHANNELS
from onecard.notices.lifecycle import STATES
from onecard.timeutil import utcnow

SKIP_REASONS = {
    "opt_out": "居民已关闭到账短信",
    "no_mobile": "未登记手机号码",
}


class Notice(db.Model):
    """通知: one message on one channel. An arrival notice (``event_id``) is about one payment, to the resident
    the channel addresses (``resident_id``: whose opt-out and subscription apply). A notice without an event
    has a ``subject_key`` and goes to a staff member (``staff_id``) or a resident."""
    __tablename__ = "notices"
    id = sa.Column(sa.Integer, primary_key=True)
    event_id = sa.Column(sa.Integer, sa.ForeignKey("arrival_events.id"))
    subject_key = sa.Column(sa.String(60))               # what a notice without an arrival event is about
    channel = sa.Column(sa.String(8), nullable=False)
    payment_key = sa.Column(sa.String(40), index=True)   # copied from the event (batch views)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), index=True)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"))
    period = sa.Column(sa.String(7))
    # scope columns copied in so permissions.scope_filter works without joins
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), index=True)
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"))
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    # The recipient as AES-GCM ciphertext copied from residents.mobile (or the openid for WeChat):
    # the number on record when the money arrived; decrypted only by the sender.
    recipient = sa.Column(sa.String(160))
    recipient_masked = sa.Column(sa.String(64))
    body = sa.Column(sa.Text, nullable=False)            # never a full ID or account number
    state = sa.Column(sa.String(12), nullable=False, default="pending")
    skip_reason = sa.Column(sa.String(20))
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    next_attempt_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    claim_token = sa.Column(sa.String(32))
    lease_until = sa.Column(sa.DateTime)
    uncertain_since = sa.Column(sa.DateTime)             # a send may have happened; reconcile before re-sending
    first_attempt_at = sa.Column(sa.DateTime)
    provider_sid = sa.Column(sa.String(64), index=True)
    provider_status = sa.Column(sa.String(20))
    error_code = sa.Column(sa.String(20))
    error_message = sa.Column(sa.String(300))
    sent_at = sa.Column(sa.DateTime)
    delivered_at = sa.Column(sa.DateTime)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    state_changed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.UniqueConstraint("event_id", "channel"),
        sa.UniqueConstraint("subject_key", "channel"),
        # an arrival notice carries its payment and scope; any other carries its subject and addressee
        sa.CheckConstraint("(event_id is not null and subject_key is null and resident_id is not null "
                           "and payment_key is not null and project_id is not null and period is not null "
                           "and department_id is not null and town_id is not null) or "
                           "(event_id is null and subject_key is not null "
                           "and (resident_id is not null or staff_id is not null))", name="subject"),
        sa.CheckConstraint("channel in (" + ",".join(f"'{c.code}'" for c in CHANNELS) + ")", name="channel"),
        sa.CheckConstraint("state in (" + ",".join(f"'{s}'" for s in STATES) + ")", name="state"),
        sa.CheckConstraint("state <> 'skipped' or skip_reason is not null", name="skip_has_reason"),
        sa.CheckConstraint("state <> 'claimed' or (claim_token is not null and lease_until is not null)",
                           name="claim_has_lease"),
        sa.Index("ix_notices_due", "channel", "state", "next_attempt_at"),
        sa.Index("ix_notices_project_period", "project_id", "period"),
    )


class NoticeAttempt(db.Model):
    """One try at sending a notice (or reconciling it), with the provider's answer."""
    __tablename__ = "notice_attempts"
    id = sa.Column(sa.Integer, primary_key=True)
    notice_id = sa.Column(sa.Integer, sa.ForeignKey("notices.id"), nullable=False, index=True)
    at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    outcome = sa.Column(sa.String(12), nullable=False)   # sent, retry, failed, unknown, reconciled, held
    http_status = sa.Column(sa.Integer)
    provider_code = sa.Column(sa.String(20))
    provider_sid = sa.Column(sa.String(64))
    error = sa.Column(sa.String(300))
    __table_args__ = (
        sa.CheckConstraint("outcome in ('sent','retry','failed','unknown','reconciled','held','callback')",
                           name="outcome"),
    )


class NoticeTemplate(db.Model):
    """短信模板: the text of the arrival SMS, a default (project_code '*') and overrides per project code."""
    __tablename__ = "notice_templates"
    id = sa.Column(sa.Integer, primary_key=True)
    project_code = sa.Column(sa.String(20), nullable=False, unique=True)
    body = sa.Column(sa.String(300), nullable=False)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WechatSubscription(db.Model):
    """订阅消息授权: how many one-time subscribe messages a resident granted for a template."""
    __tablename__ = "wechat_subscriptions"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False)
    template_id = sa.Column(sa.String(64), nullable=False)
    remaining = sa.Column(sa.Integer, nullable=False, default=0)
    refused_at = sa.Column(sa.DateTime)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        sa.UniqueConstraint("resident_id", "template_id"),
        sa.CheckConstraint("remaining >= 0", name="remaining_nonnegative"),
    )


class ScheduledRun(db.Model):
    """定时任务执行记录: one row per job and slot (a local day), so that of several scheduler processes only
    the first to claim a slot runs the job; the others see the row and skip."""
    __tablename__ = "scheduled_runs"
    id = sa.Column(sa.Integer, primary_key=True)
    job_id = sa.Column(sa.String(60), nullable=False)
    slot = sa.Column(sa.String(20), nullable=False)
    host = sa.Column(sa.String(120), nullable=False)
    outcome = sa.Column(sa.String(10), nullable=False, default="running")
    started_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finished_at = sa.Column(sa.DateTime)
    __table_args__ = (
        sa.UniqueConstraint("job_id", "slot"),
        sa.CheckConstraint("outcome in ('running','done','failed')", name="outcome"),
    )
