"""Factories for tests: residents with valid IDs, households, cards in any status.

They write through the same columns the services do (encrypted values, blind
indexes, masks), so a test sees what production data looks like.
"""
from __future__ import annotations

import itertools
from datetime import date

from onecard.cards.models import Card
from onecard.extensions import db
from onecard.people.models import Household, Resident, ResidentCategory
from onecard.privacy import blind_index, last4, mask_id, mask_mobile
from onecard.timeutil import utcnow
from onecard.validation import id_birth_year, id_gender, luhn_check_digit, make_id_number

_seq = itertools.count(1)


def new_id_number(birth: date = date(1950, 3, 1)) -> str:
    return make_id_number("370831", birth, next(_seq) % 1000)


def new_account(bin6: str = "622848") -> str:
    body = bin6 + f"{next(_seq):012d}"
    return body + luhn_check_digit(body)


def new_mobile() -> str:
    return f"139{next(_seq):08d}"


def make_household(town_id: int, village_id: int | None = None) -> Household:
    h = Household(code=f"H{next(_seq):010d}", town_id=town_id, village_id=village_id)
    db.session.add(h)
    db.session.flush()
    return h


def make_resident(town_id: int, village_id: int | None = None, *, name: str = "张三明", id_number: str | None = None,
                  birth: date = date(1950, 3, 1), mobile: str | None = "auto", household: Household | None = None,
                  head: bool = False, categories: tuple[str, ...] = (), deceased_on: date | None = None,
                  commit: bool = True) -> Resident:
    id_number = id_number or new_id_number(birth)
    mobile = new_mobile() if mobile == "auto" else mobile
    r = Resident(name=name, id_number=id_number, id_bidx=blind_index(id_number, "id"), id_masked=mask_id(id_number),
                 gender=id_gender(id_number), birth_year=id_birth_year(id_number), ethnicity="01",
                 mobile=mobile, mobile_bidx=blind_index(mobile, "mobile") if mobile else None,
                 mobile_masked=mask_mobile(mobile), town_id=town_id, village_id=village_id,
                 household_id=household.id if household else None, relation_to_head="户主" if head else None,
                 deceased_on=deceased_on)
    db.session.add(r)
    db.session.flush()
    for c in categories:
        db.session.add(ResidentCategory(resident_id=r.id, category=c))
    if household is not None and head:
        household.head_id = r.id
    if commit:
        db.session.commit()
    return r


def make_card(resident: Resident, bank_id: int, status: str = "active", *, account: str | None = None,
              commit: bool = True) -> Card:
    now = utcnow()
    account = account or (new_account() if status != "applied" else None)
    number = f"S37{next(_seq):07d}" if status != "applied" else None
    c = Card(resident_id=resident.id, bank_id=bank_id, status=status, account=account,
             account_bidx=blind_index(account, "account") if account else None, account_last4=last4(account),
             card_number=number, card_bidx=blind_index(number, "card") if number else None,
             card_last4=last4(number), applied_at=now, status_changed_at=now,
             activated_at=now if status == "active" else None)
    db.session.add(c)
    db.session.flush()
    if commit:
        db.session.commit()
    return c
