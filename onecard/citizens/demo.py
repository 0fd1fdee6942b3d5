"""Demo step of the citizen service: pick the demo residents the dev login offers (synthetic data only).

The demo resident is the first resident (by id) of the demo village staff member's village
who has an active card and a mobile number; a household member of theirs without a card is
the one the village-assisted walk-through applies for.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard import settings_store
from onecard.cards.models import Card
from onecard.citizens.sessions import dev_login_allowed
from onecard.errors import NotFound
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.staff.models import StaffAccount

SETTING = "citizen_demo_residents"


def run(ctx) -> None:
    village_id = db.session.execute(sa.select(StaffAccount.village_id)
                                    .where(StaffAccount.username == "village")).scalar()
    if village_id is None:
        return
    live = sa.select(Card.id).where(Card.resident_id == Resident.id, Card.status != "cancelled")
    main = db.session.execute(
        sa.select(Resident.id, Resident.household_id).join(Card, Card.resident_id == Resident.id)
        .where(Resident.village_id == village_id, Card.status == "active", Resident.mobile_bidx.is_not(None))
        .order_by(Resident.id).limit(1)).first()
    if main is None:
        return
    ids = [main.id]
    relative = db.session.execute(
        sa.select(Resident.id).where(Resident.household_id == main.household_id, Resident.id != main.id,
                                     ~live.exists()).order_by(Resident.id).limit(1)).scalar()
    if relative is None:   # someone in the village without a card, for the assisted application
        relative = db.session.execute(sa.select(Resident.id).where(Resident.village_id == village_id,
                                                                   ~live.exists()).order_by(Resident.id)
                                      .limit(1)).scalar()
    if relative is not None:
        ids.append(relative)
    issued = db.session.execute(
        sa.select(Resident.id).join(Card, Card.resident_id == Resident.id)
        .where(Resident.village_id == village_id, Card.status == "issued", Resident.mobile_bidx.is_not(None))
        .order_by(Resident.id).limit(1)).scalar()
    if issued is not None:
        ids.append(issued)
    settings_store.put(SETTING, ",".join(str(i) for i in ids))
    db.session.commit()


def demo_residents() -> list[dict]:
    """The picked demo residents, masked, for the dev login page."""
    from onecard.cards import service as cards
    from onecard.privacy import mask_name
    raw = settings_store.get(SETTING) or ""
    out = []
    for rid in (int(x) for x in raw.split(",") if x.isascii() and x.isdigit()):   # written by run() above
        r = db.session.get(Resident, rid)
        if r is not None:
            view = cards.status_view(cards.live_card(rid))
            out.append({"id": r.id, "name": mask_name(r.name), "id_masked": r.id_masked, "card": view["label"]})
    return out


def dev_login_residents() -> list[dict]:
    """The demo residents for the development login of a client that has no page of ours (the mini-program in
    WeChat DevTools against `make run`). Refused as not found wherever the development login is off."""
    if not dev_login_allowed():
        raise NotFound("页面或记录不存在", code="not_found")
    return demo_residents()
