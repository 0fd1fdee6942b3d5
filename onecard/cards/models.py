"""Social security cards (社会保障卡) and their financial accounts (金融账户)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import relationship

from onecard.extensions import db
from onecard.privacy import Encrypted
from onecard.timeutil import utcnow

from .lifecycle import CARD_STATES


class Card(db.Model):
    """社会保障卡: one physical card with its financial account at the issuing bank.

    A resident has at most one live card (any status but 注销); a replacement
    (补换卡) is a new row pointing at the card it replaces.
    """
    __tablename__ = "cards"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    status = sa.Column(sa.String(12), nullable=False, default="applied")
    card_number = sa.Column(Encrypted)            # 社会保障卡卡号 (assigned when made)
    card_bidx = sa.Column(sa.String(40), unique=True)
    card_last4 = sa.Column(sa.String(4))
    account = sa.Column(Encrypted)                # 金融账户账号 (bank card number)
    account_bidx = sa.Column(sa.String(40), index=True)
    account_last4 = sa.Column(sa.String(4))
    replaces_card_id = sa.Column(sa.Integer, sa.ForeignKey("cards.id"))
    applied_at = sa.Column(sa.DateTime)
    ready_at = sa.Column(sa.DateTime)
    issued_at = sa.Column(sa.DateTime)
    activated_at = sa.Column(sa.DateTime)
    lost_at = sa.Column(sa.DateTime)
    cancelled_at = sa.Column(sa.DateTime)
    status_changed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    source = sa.Column(sa.String(20), nullable=False, default="registry")   # registry import, citizen, staff
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("status in (" + ",".join(f"'{s}'" for s in CARD_STATES) + ")", name="status"),
        # One live card per resident, enforced by the database on both SQLite and PostgreSQL.
        sa.Index("uq_cards_one_live_per_resident", "resident_id", unique=True,
                 sqlite_where=sa.text("status <> 'cancelled'"),
                 postgresql_where=sa.text("status <> 'cancelled'")),
    )

    resident = relationship("Resident", foreign_keys=[resident_id])
    bank = relationship("Bank")


class CardApplication(db.Model):
    """申领: a request for a new or replacement card, followed by the resident until collected."""
    __tablename__ = "card_applications"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    card_id = sa.Column(sa.Integer, sa.ForeignKey("cards.id"))          # the card being made
    kind = sa.Column(sa.String(12), nullable=False, default="new")       # new, replacement
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False)
    branch = sa.Column(sa.String(100))                                   # the branch's name when chosen
    branch_id = sa.Column(sa.Integer, sa.ForeignKey("bank_branches.id"))  # the 网点 picked from the list
    delivery = sa.Column(sa.String(10), nullable=False, default="branch")  # branch or post
    postal_address = sa.Column(sa.String(200))
    photo_path = sa.Column(sa.String(200))
    status = sa.Column(sa.String(14), nullable=False, default="submitted")
    status_note = sa.Column(sa.String(200))
    submitted_by_staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))  # village-assisted
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    status_changed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("kind in ('new','replacement')", name="kind"),
        sa.CheckConstraint("delivery in ('branch','post')", name="delivery"),
        sa.CheckConstraint("status in ('submitted','accepted','in_production','ready','posted','collected',"
                           "'rejected','withdrawn')", name="status"),
    )
