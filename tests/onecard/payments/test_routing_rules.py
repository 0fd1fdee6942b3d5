"""Routing is an ordered list of rules (ROUTES); the own-card rule's set-based form routes the same rows the same
way as the rule applied row by row."""
from __future__ import annotations

import types
from datetime import date

import sqlalchemy as sa

from onecard.lists.models import RecipientRow
from onecard.payments import models, routing
from onecard.payments.agreements import valid_agreement
from onecard.payments.common import new_batch
from onecard.payments.models import BatchLine
from onecard.timeutil import local_today, utcnow
from tests.fixtures_payments import PERIOD, make_list

COMPARED = ("status", "route", "route_reason", "payee_resident_id", "payee_name", "bank_id", "account_last4",
            "account_bidx", "town_id", "village_id")


def test_route_labels_come_from_the_rules_and_cover_the_stored_routes():
    assert set(routing.ROUTE_LABELS) == set(models.ROUTES)
    assert routing.OWN_CARD in routing.ROUTES and routing.OWN_CARD.set_based is routing.insert_own_card_lines
    # The last rule holds whatever no other rule took.
    assert routing.ROUTES[-1].pays is False


def test_set_based_own_card_rule_agrees_with_the_per_row_rules(db, pay):
    from tests.factories import make_card, make_resident
    t, v = pay.county["towns"], pay.county["villages"]
    rcb = pay.county["banks"]["RCB"]
    dead = make_resident(t[0], v[0], name="魏长河")
    make_card(dead, rcb)
    dead.deceased_on = date(2026, 9, 1)
    misnamed = make_resident(t[1], v[1], name="冯国栋")
    make_card(misnamed, rcb)
    db.session.commit()
    p = pay.people
    entries = [(p[n], 18300, "usable") for n in ["王秀英", "李建国", "张桂兰", "刘志强"]]
    entries += [(p["孙玉凤"], 18300, "lost_or_cancelled"), (p["周明华"], 18300, "not_activated"),
                (None, 18300, "not_in_registry"), (dead, 18300, "usable"), (misnamed, 18300, "name_mismatch", "冯国")]
    listed = make_list(pay.pension, entries)
    rows = db.session.execute(sa.select(RecipientRow).where(RecipientRow.list_id == listed.id)
                              .order_by(RecipientRow.id)).scalars().all()
    source = [{"recipient_row_id": r.id, "resident_id": r.resident_id, "match_result": r.match_result,
               "name": r.name, "amount_fen": r.amount_fen} for r in rows]
    per_row = {s["recipient_row_id"]: r
               for s, r in zip(source, routing.route_rows(pay.pension, source, local_today()), strict=True)
               if r["route"] == "own_card"}
    assert len(per_row) == 4     # the four usable own cards; not the dead, the misnamed, the proxy or the held

    batch = new_batch(types.SimpleNamespace(id=None), pay.pension, PERIOD,
                      valid_agreement(pay.pension, local_today()), "regular", listed.id)
    routing.OWN_CARD.set_based(batch, pay.pension,
                               sa.select(RecipientRow.id).where(RecipientRow.list_id == listed.id), utcnow())
    lines = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == batch.id)).scalars().all()
    assert len(lines) == len(per_row)
    for line in lines:
        expected = per_row[line.recipient_row_id]
        assert tuple(getattr(line, c) for c in COMPARED) == tuple(expected[c] for c in COMPARED)
    db.session.rollback()
