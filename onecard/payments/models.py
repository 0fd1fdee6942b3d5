"""Disbursement: batches, lines, the ledger. Extended by the disbursement work.

ArrivalEvent is the hand-off to the notifications package: one row per
successful payment, unique on the payment it reports, so a replayed import
adds nothing.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow


class ArrivalEvent(db.Model):
    """到账事件: money reached a resident's account; the notice outbox is filled from these."""
    __tablename__ = "arrival_events"
    id = sa.Column(sa.Integer, primary_key=True)
    payment_key = sa.Column(sa.String(40), nullable=False, unique=True)   # e.g. "line:123"
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    period = sa.Column(sa.String(7), nullable=False)
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False)
    account_last4 = sa.Column(sa.String(4), nullable=False)
    paid_at = sa.Column(sa.DateTime, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="amount_positive"),)
