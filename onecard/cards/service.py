"""Card use cases shared by the registry import, the citizen service and staff.

Every status change goes through CARD_MACHINE.transition (one table of allowed moves).
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.cards.lifecycle import CARD_LABELS, CARD_MACHINE, NEXT_STEP, PAYABLE_STATES
from onecard.cards.models import Card
from onecard.errors import Conflict, NotFound
from onecard.extensions import db
from onecard.payments import owed
from onecard.privacy import blind_index, last4
from onecard.validation import normalize_bank_card


def live_card(resident_id: int) -> Card | None:
    """The resident's card that is not cancelled, if any (the database allows one at most)."""
    return db.session.execute(
        sa.select(Card).where(Card.resident_id == resident_id, Card.status != "cancelled")
    ).scalar_one_or_none()


def status_view(card: Card | None) -> dict:
    """Status in plain words with what to do next: what residents and village staff are shown."""
    status = card.status if card else "not_applied"
    return {"status": status, "label": CARD_LABELS[status], "next_step": NEXT_STEP[status],
            "payable": status in PAYABLE_STATES}


def set_account(card: Card, account: str, card_number: str | None = None) -> None:
    """Store the financial account (and card number) encrypted, with their blind indexes and last 4."""
    account = normalize_bank_card(account, field="account")
    card.account, card.account_bidx, card.account_last4 = account, blind_index(account, "account"), last4(account)
    if card_number:
        card.card_number = card_number
        card.card_bidx = blind_index(card_number, "card")
        card.card_last4 = last4(card_number)


def change_status(actor: Actor, card_id: int, target: str, *, note: str | None = None,
                  commit: bool = True) -> Card:
    """Move a card to ``target`` if the lifecycle allows it; refuses otherwise (409)."""
    card = db.session.get(Card, card_id)
    if card is None:
        raise NotFound("社保卡不存在", code="card_not_found")
    CARD_MACHINE.transition(card, target, actor, note=note)
    if target == "active":
        became_payable(actor, card.resident_id)
    if commit:
        db.session.commit()
    return card


def became_payable(actor: Actor, resident_id: int) -> None:
    """A card became usable: payments owed to this resident (or paid through their card) are re-evaluated and,
    when they can now be paid, join the project's next batch (payments.owed.release), in this transaction."""
    owed.release(db.session, [resident_id], actor=actor)


def start_replacement(actor: Actor, card_id: int, *, bank_id: int | None = None) -> Card:
    """补换卡: the old card (lost, or active but damaged) is cancelled and a new one starts in production."""
    old = db.session.get(Card, card_id)
    if old is None:
        raise NotFound("社保卡不存在", code="card_not_found")
    if old.status not in ("lost", "active", "issued"):
        raise Conflict(f"当前状态为“{CARD_LABELS[old.status]}”，不能补换卡", code="card_not_replaceable",
                       field="status")
    CARD_MACHINE.transition(old, "cancelled", actor, action="card.cancelled_for_replacement")
    new = Card(resident_id=old.resident_id, bank_id=bank_id or old.bank_id, status="applied",
               replaces_card_id=old.id, source="replacement")
    db.session.add(new)
    db.session.flush()
    audit.record("card.replacement_started", actor=actor, entity_type="card", entity_id=new.id,
                 after={"replaces_card_id": old.id, "status": "applied"})
    return new
