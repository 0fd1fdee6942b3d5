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


class LedgerEntry(db.Model):
    """台账: the append-only record of every payment outcome, one row per batch line result.

    Written by the disbursement service when a bank result is recorded (paid or
    failed). Read by the citizen service (my subsidies), oversight (statistics,
    risk checks, 公示) and the departments' ledger exports. Town and village are
    copied in so statistics group without joining residents.
    """
    __tablename__ = "ledger_entries"
    id = sa.Column(sa.Integer, primary_key=True)
    line_id = sa.Column(sa.Integer, nullable=False, unique=True)     # the batch line this outcome belongs to
    batch_id = sa.Column(sa.Integer, nullable=False, index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    period = sa.Column(sa.String(7), nullable=False)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False)   # the beneficiary
    payee_resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))              # head or proxy, if not self
    route = sa.Column(sa.String(12), nullable=False)       # own_card, head_card, proxy, passbook
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    account_last4 = sa.Column(sa.String(4), nullable=False)
    # Blind index of the account paid into (privacy.blind_index(account, "account")): lets oversight
    # find one account receiving for many unrelated people without decrypting anything.
    account_bidx = sa.Column(sa.String(40), index=True)
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False)
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    outcome = sa.Column(sa.String(8), nullable=False)      # paid or failed
    failure_code = sa.Column(sa.String(20))
    failure_reason = sa.Column(sa.String(200))
    reissue_of_line_id = sa.Column(sa.Integer)             # set on a re-issue's outcome
    approved_at = sa.Column(sa.DateTime)                   # finance approval of the batch
    occurred_at = sa.Column(sa.DateTime, nullable=False)   # when the bank paid or refused
    recorded_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("outcome in ('paid','failed')", name="outcome"),
        sa.CheckConstraint("route in ('own_card','head_card','proxy','passbook')", name="route"),
        sa.CheckConstraint("outcome = 'paid' or failure_reason is not null", name="failure_has_reason"),
        sa.Index("ix_ledger_resident_time", "resident_id", "occurred_at"),
        sa.Index("ix_ledger_project_period", "project_id", "period"),
    )
