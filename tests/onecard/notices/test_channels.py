"""Notice channels are a registry: who receives a notice is one field of one record.

The arrival event records who was paid and by which route, so "also tell the legal proxy (or the
household head)" is the ``payee`` channel, whose addressee is the payee.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from onecard.notices import channels, service
from onecard.notices.models import Notice
from onecard.payments.models import ArrivalEvent, BatchLine
from onecard.privacy import decrypt
from tests.fixtures_payments import PERIOD

API = "/api/staff/v1"
AT = datetime(2026, 11, 5, 2, 0)

def _post(client, url, staff, **body):
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    r = client.post(API + url, headers=staff.auth, json=body)
    assert r.status_code in (200, 201), r.json
    return r.json


def _pay_the_pension_list(client, pay):
    """Create, approve, export and pay the pension batch (everyone routed is paid)."""
    batch = _post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    for step, who in (("submit", pay.operator), ("review", pay.reviewer), ("approve", pay.finance)):
        _post(client, f"/batches/{batch['id']}/{step}", who)
    r = client.post(f"{API}/batches/{batch['id']}/bank-file", headers=pay.rcb.auth,
                    json={"idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 200
    lines = [x for x in client.get(f"{API}/batches/{batch['id']}/lines", headers=pay.operator.auth).json
             if x["status"] == "sent"]
    _post(client, f"/batches/{batch['id']}/results", pay.rcb, batch_number=batch["number"], count=len(lines),
          total_fen=sum(x["amount_fen"] for x in lines),
          results=[{"line_id": x["id"], "amount_fen": x["amount_fen"], "outcome": "paid"} for x in lines])
    return batch


def test_arrival_events_record_the_payee_and_the_route_of_each_payment(client, db, pay, pension_list):
    _pay_the_pension_list(client, pay)
    events = db.session.execute(sa.select(ArrivalEvent)).scalars().all()
    assert len(events) == 5
    for e in events:
        line = db.session.get(BatchLine, int(e.payment_key.split(":")[1]))
        assert (e.payee_resident_id, e.route) == (line.payee_resident_id, line.route)
    ward, guardian = pay.people["周明华"], pay.people["周海燕"]
    by_resident = {e.resident_id: e for e in events}
    assert (by_resident[ward.id].payee_resident_id, by_resident[ward.id].route) == (guardian.id, "proxy")
    own = by_resident[pay.people["王秀英"].id]
    assert (own.payee_resident_id, own.route) == (pay.people["王秀英"].id, "own_card")


def test_the_proxy_is_told_of_each_wards_payment_and_the_ward_who_received_it(client, db, pay, pension_list):
    _pay_the_pension_list(client, pay)
    ward, guardian = pay.people["周明华"], pay.people["周海燕"]
    listed = service.new_notices(channels.get("sms"), now=AT)
    assert len(listed) == 5 and guardian.id not in {n["resident_id"] for n in listed}
    ward_notice = next(n for n in listed if n["resident_id"] == ward.id)
    assert "发放至代管人周海燕的账户" in ward_notice["body"] and "本人的社保卡" not in ward_notice["body"]
    own = next(n for n in listed if n["resident_id"] == pay.people["王秀英"].id)
    assert "发放至您本人的社保卡" in own["body"] and "183.00元已于" in own["body"]
    # The payee channel tells the proxy about the ward's money, by her own phone; own-card payments are left alone.
    [told] = service.new_notices(channels.get("payee"), now=AT)
    assert told["resident_id"] == guardian.id and told["event_id"] == ward_notice["event_id"]
    assert decrypt(told["recipient"]) == guardian.mobile and told["recipient_masked"] == guardian.mobile_masked
    assert "您代管的周明华的" in told["body"] and "发放至您的账户" in told["body"] and told["state"] == "pending"


def test_the_registry_is_what_the_database_and_the_api_accept():
    [constraint] = [c for c in Notice.__table__.constraints
                    if isinstance(c, sa.CheckConstraint) and str(c.sqltext).startswith("channel in")]
    assert str(constraint.sqltext) == "channel in ('sms','wechat','payee','sms_ret','staff','assist')"
    assert channels.codes() == ["sms", "wechat", "payee", "sms_ret", "staff", "assist"]
    # made from arrival events (what the API's channel filter offers); the others are written by their use case
    assert [c.code for c in channels.from_events()] == ["sms", "wechat", "payee", "sms_ret"]
    assert channels.switched_by_sms_opt_out() == ["sms", "payee", "sms_ret"]
