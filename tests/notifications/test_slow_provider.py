"""Exactly once whatever the provider's speed (issue #16 items 2-4): two drainers against a slow fake Twilio with
a short lease; 429 answers with Retry-After pause the sender; a 500 after Twilio created the message, with the
message list unavailable, leaves the notice 'unknown' (reconciled later), never 'failed'."""
from __future__ import annotations

import collections

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.notices import service
from onecard.notices.models import Notice, NoticeAttempt
from onecard.timeutil import utcnow
from tests.notifications.harness import fill, run_together, sent_per_notice


def test_two_drainers_against_a_slow_provider_with_a_short_lease_send_each_notice_once(twilio_app, db, arrive,
                                                                                      fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "TWILIO_TIMEOUT_SECONDS", 1.5)
    fill(arrive, 24)
    ids = set(db.session.execute(sa.select(Notice.id)).scalars())
    db.session.commit()
    fake_twilio.set_delay(0.5)
    # a batch of 12 at 0.5 s a send takes 6 s, three times the 2 s lease; the other drainer, claiming 3 at a
    # time, comes back for more while the first is still sending
    _, errors = run_together(twilio_app, lambda: drain_once(batch_size=12, lease_seconds=2),
                             lambda: drain_once(batch_size=3, lease_seconds=2))
    assert not errors, errors
    # whatever the first pass left claimed or waiting (a lost lease) is finished by a later run
    fake_twilio.set_delay(0)
    for _ in range(3):
        db.session.expire_all()
        left = db.session.execute(sa.select(sa.func.max(Notice.lease_until))
                                  .where(Notice.state != "sent")).scalar()
        if left is None:
            break
        while utcnow() <= left:
            pass
        drain_once(lease_seconds=2)
    sent = sent_per_notice(fake_twilio)
    assert set(sent) == ids, "lost notices"
    assert max(sent.values()) == 1, {k: v for k, v in sent.items() if v > 1}
    db.session.expire_all()
    assert collections.Counter(db.session.execute(sa.select(Notice.state)).scalars()) == {"sent": 24}


def test_429_with_retry_after_pauses_the_sender_and_the_outbox_says_so(twilio_app, db, client, admin, arrive,
                                                                       fake_twilio):
    fill(arrive, 5)
    fake_twilio.script([{"status": 429, "retry_after": 30}] * 5)
    stats = drain_once()
    # one 429 stops the run: no more posts until Retry-After has passed
    assert len(fake_twilio.create_requests) == 1
    assert stats.retry == 1
    db.session.expire_all()
    notices = db.session.execute(sa.select(Notice).order_by(Notice.id)).scalars().all()
    assert all(n.state in ("pending", "retry_wait") for n in notices)
    first = notices[0]
    assert 25 <= (first.next_attempt_at - utcnow()).total_seconds() <= 35
    pause = service.sender_pauses()
    assert pause["sms"]["reason"] == "429" and 25 <= pause["sms"]["seconds_left"] <= 31
    r = client.get("/api/staff/v1/notices/sender-status", headers=admin.auth)
    assert r.status_code == 200 and [p["channel"] for p in r.json] == ["sms"] and r.json[0]["reason"] == "429"
    # a second run inside the pause posts nothing
    assert drain_once().claimed == 0
    assert len(fake_twilio.create_requests) == 1


def test_a_500_after_twilio_created_the_message_with_the_list_down_is_unknown_not_failed(twilio_app, db, arrive,
                                                                                        fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "NOTICE_RETRY_BASE_SECONDS", 0.0)
    monkeypatch.setitem(twilio_app.config, "NOTICE_MAX_ATTEMPTS", 2)
    fill(arrive, 1)
    fake_twilio.script([{"status": 500, "create": True}])
    fake_twilio.script([503] * 20, endpoint="list")
    for _ in range(4):
        drain_once(max_batches=1)
    db.session.expire_all()
    n = db.session.execute(sa.select(Notice)).scalar_one()
    assert len(fake_twilio.messages) == 1            # the resident got it once
    assert n.state == "unknown" and n.uncertain_since is not None
    # the list comes back: the next run reconciles it to sent, without a second message
    fake_twilio.clear_rules()
    drain_once()
    db.session.expire_all()
    n = db.session.get(Notice, n.id)
    assert n.state == "sent" and n.provider_sid == fake_twilio.messages[0].sid
    assert len(fake_twilio.messages) == 1
    outcomes = db.session.execute(sa.select(NoticeAttempt.outcome).where(NoticeAttempt.notice_id == n.id)
                                  .order_by(NoticeAttempt.id)).scalars().all()
    assert outcomes[0] == "unknown" and outcomes[-1] == "reconciled" and "failed" not in outcomes
