"""The card lifecycle: every allowed move works, every other is refused, races cannot double-move."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from onecard import audit
from onecard.actors import SYSTEM
from onecard.cards import service
from onecard.cards.lifecycle import CARD_MACHINE, CARD_STATES
from onecard.cards.models import Card
from onecard.errors import Conflict
from tests.factories import make_card, make_resident

ALLOWED = [(s, t) for s in CARD_STATES for t in CARD_STATES if CARD_MACHINE.allowed(s, t)]
REFUSED = [(s, t) for s in CARD_STATES for t in CARD_STATES
           if s != "not_applied" and not CARD_MACHINE.allowed(s, t)]


def test_lifecycle_table_matches_the_plan():
    assert CARD_MACHINE.allowed("issued", "active")         # 激活
    assert CARD_MACHINE.allowed("active", "lost")           # 挂失
    assert CARD_MACHINE.allowed("lost", "active")           # 解挂
    assert not CARD_MACHINE.allowed("applied", "active")    # cannot activate a card not yet made
    assert not CARD_MACHINE.allowed("cancelled", "active")  # 注销 is final
    assert CARD_MACHINE.transitions["cancelled"] == frozenset()


@pytest.mark.parametrize("source,target", [p for p in ALLOWED if p[0] != "not_applied"])
def test_allowed_transition_moves_and_is_audited(db, county, source, target):
    card = make_card(make_resident(county["towns"][0]), county["banks"]["ABC"], source)
    service.change_status(SYSTEM, card.id, target)
    db.session.expire_all()
    assert db.session.get(Card, card.id).status == target
    entries = audit.entries_for("card", card.id)
    assert entries[-1].before == f'{{"status":"{source}"}}'


@pytest.mark.parametrize("source,target", REFUSED)
def test_refused_transition_changes_nothing(db, county, source, target):
    card = make_card(make_resident(county["towns"][0]), county["banks"]["ABC"], source)
    with pytest.raises(Conflict) as e:
        service.change_status(SYSTEM, card.id, target)
    assert e.value.code == "card_invalid_transition"
    db.session.rollback()
    assert db.session.get(Card, card.id).status == source
    assert audit.entries_for("card", card.id) == []


def test_transition_sets_its_timestamp(db, county):
    card = make_card(make_resident(county["towns"][0]), county["banks"]["ABC"], "issued")
    service.change_status(SYSTEM, card.id, "active")
    assert db.session.get(Card, card.id).activated_at is not None


def test_database_allows_only_one_live_card_per_resident(db, county):
    r = make_resident(county["towns"][0])
    make_card(r, county["banks"]["ABC"], "active")
    with pytest.raises(sa.exc.IntegrityError):
        make_card(r, county["banks"]["ICBC"], "issued")
    db.session.rollback()


def test_replacement_cancels_the_lost_card_and_starts_a_new_one(db, county):
    r = make_resident(county["towns"][0])
    old = make_card(r, county["banks"]["ABC"], "lost")
    new = service.start_replacement(SYSTEM, old.id)
    db.session.commit()
    assert db.session.get(Card, old.id).status == "cancelled"
    assert new.status == "applied" and new.replaces_card_id == old.id
    assert service.live_card(r.id).id == new.id


def test_replacement_refused_for_a_card_in_production(db, county):
    card = make_card(make_resident(county["towns"][0]), county["banks"]["ABC"], "applied")
    with pytest.raises(Conflict):
        service.start_replacement(SYSTEM, card.id)


def test_two_concurrent_activations_move_the_card_once(app, db, county):
    card_id = make_card(make_resident(county["towns"][0]), county["banks"]["ABC"], "issued").id
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            try:
                service.change_status(SYSTEM, card_id, "active")
                results.append("ok")
            except Conflict:
                results.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    assert len([e for e in audit.entries_for("card", card_id) if e.action == "card.active"]) == 1
