"""Tables of the citizen service: sessions, SMS verification codes, assisted-action consents.

Complaints have their own package (onecard.complaints).
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow

CODE_PURPOSES = ("bind", "activate", "loss", "assist")


class CitizenSession(db.Model):
    """A signed-in phone: a WeChat openid (or a dev login), bound to a resident after real-name binding.

    The bearer token (onecard.tokens, subject_kind "citizen") points at this row.
    """
    __tablename__ = "citizen_sessions"
    id = sa.Column(sa.Integer, primary_key=True)
    openid = sa.Column(sa.String(64), index=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), index=True)
    channel = sa.Column(sa.String(20), nullable=False, default="miniprogram")   # miniprogram, h5, dev
    ip = sa.Column(sa.String(64))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class VerificationCode(db.Model):
    """短信验证码: 6 digits, 5 minutes, single use, a few attempts. Only a keyed hash is stored.

    A binding request that names nobody (wrong name/ID pair) still gets a row with no
    resident and a code nobody receives, so both answers look and cost the same.
    """
    __tablename__ = "verification_codes"
    id = sa.Column(sa.Integer, primary_key=True)
    purpose = sa.Column(sa.String(10), nullable=False)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), index=True)
    session_id = sa.Column(sa.Integer, sa.ForeignKey("citizen_sessions.id"), index=True)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    target_bidx = sa.Column(sa.String(40))        # blind index of the ID number asked about (binding)
    mobile_bidx = sa.Column(sa.String(40), index=True)
    code_hash = sa.Column(sa.String(64), nullable=False)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    used_at = sa.Column(sa.DateTime)
    ip = sa.Column(sa.String(64))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)
    __table_args__ = (
        sa.CheckConstraint("purpose in ('bind','activate','loss','assist')", name="purpose"),
        sa.Index("ix_verification_codes_resident_purpose", "resident_id", "purpose", "created_at"),
    )


class AssistConsent(db.Model):
    """The resident's consent to a village staff member acting for them (代办授权).

    Given by the SMS code on the resident's phone (method "sms", confirmed at once) or a photographed
    signed form (method "form"), which counts only once a second person, town staff, has looked at the
    picture and confirmed it (confirmed_at); valid for a short while, covering the actions of one sitting.
    """
    __tablename__ = "assist_consents"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=False, index=True)
    method = sa.Column(sa.String(6), nullable=False)
    form_path = sa.Column(sa.String(200))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)
    confirmed_at = sa.Column(sa.DateTime)                  # from then on the consent counts
    confirmed_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))   # the town's checker
    refused_at = sa.Column(sa.DateTime)                    # the checker found the form wanting
    __table_args__ = (
        sa.CheckConstraint("method in ('sms','form')", name="method"),
        sa.CheckConstraint("confirmed_at is null or refused_at is null", name="confirmed_or_refused"),
    )
