"""Twilio status callbacks: signed ones are recorded, unsigned and forged ones refused."""
from __future__ import annotations

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.notices import service
from onecard.notices.models import Notice


def _sent_notice(db, arrive, fake_twilio, **kw):
    arrive(**kw)
    service.enqueue_arrivals()
    drain_once()
    db.session.expire_all()
    return db.session.execute(sa.select(Notice)).scalars().one()


def test_signed_delivered_callback_marks_the_notice_delivered(twilio_app, client, db, arrive, fake_twilio):
    n = _sent_notice(db, arrive, fake_twilio)
    r = fake_twilio.deliver_via(client, n.provider_sid, "delivered")
    assert r.status_code == 200 and r.json["moved"] is True
    db.session.expire_all()
    n = db.session.get(Notice, n.id)
    assert n.state == "delivered" and n.delivered_at is not None


def test_undelivered_callback_records_the_error_code(twilio_app, client, db, arrive, fake_twilio):
    n = _sent_notice(db, arrive, fake_twilio)
    r = fake_twilio.deliver_via(client, n.provider_sid, "undelivered", error_code=30003)
    assert r.status_code == 200
    db.session.expire_all()
    n = db.session.get(Notice, n.id)
    assert (n.state, n.error_code) == ("undelivered", "30003")
    assert "关机" in n.error_message


def test_unsigned_and_forged_callbacks_are_refused(twilio_app, client, db, arrive, fake_twilio):
    n = _sent_notice(db, arrive, fake_twilio)
    url = f"/hooks/twilio/status?notice={n.id}"
    params = fake_twilio.callback_params(n.provider_sid, "failed", 30008)
    r = client.post(url, data=params)
    assert r.status_code == 403 and r.json["error"]["code"] == "signature_invalid"
    forged = fake_twilio.sign("http://localhost" + url, {**params, "MessageStatus": "delivered"})
    r = client.post(url, data=params, headers={"X-Twilio-Signature": forged})
    assert r.status_code == 403
    # signed for another notice id: the URL is part of the signature
    other = fake_twilio.sign(f"http://localhost/hooks/twilio/status?notice={n.id + 1}", params)
    r = client.post(url, data=params, headers={"X-Twilio-Signature": other})
    assert r.status_code == 403
    db.session.expire_all()
    assert db.session.get(Notice, n.id).state == "sent"


def test_a_signed_callback_naming_another_message_does_not_move_the_notice(twilio_app, client, db, arrive,
                                                                           fake_twilio):
    n = _sent_notice(db, arrive, fake_twilio)
    arrive()
    service.enqueue_arrivals()
    drain_once()
    other_sid = fake_twilio.messages[1].sid
    r = fake_twilio.deliver_via(client, other_sid, "failed",
                                url=f"http://localhost/hooks/twilio/status?notice={n.id}")
    assert r.status_code == 200 and r.json["recorded"] is False
    db.session.expire_all()
    assert db.session.get(Notice, n.id).state == "sent"


def test_late_sent_callback_does_not_undo_delivered(twilio_app, client, db, arrive, fake_twilio):
    n = _sent_notice(db, arrive, fake_twilio)
    fake_twilio.deliver_via(client, n.provider_sid, "delivered")
    fake_twilio.deliver_via(client, n.provider_sid, "sent")
    db.session.expire_all()
    assert db.session.get(Notice, n.id).state == "delivered"


def test_callback_for_a_timed_out_send_settles_it_without_a_resend(twilio_app, client, db, arrive, fake_twilio,
                                                                   monkeypatch):
    monkeypatch.setitem(twilio_app.config, "TWILIO_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setitem(twilio_app.config, "NOTICE_RETRY_BASE_SECONDS", 3600.0)
    arrive()
    service.enqueue_arrivals()
    fake_twilio.script([{"delay": 1.0}])
    drain_once()
    db.session.expire_all()
    n = db.session.execute(sa.select(Notice)).scalars().one()
    assert n.state == "unknown" and n.provider_sid is None
    r = fake_twilio.deliver_via(client, fake_twilio.messages[0].sid, "delivered")
    assert r.json["moved"] is True
    db.session.expire_all()
    n = db.session.get(Notice, n.id)
    assert n.state == "delivered" and n.uncertain_since is None
    assert len(fake_twilio.messages) == 1
