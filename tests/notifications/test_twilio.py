"""Sending through the real twilio client against the fake Twilio server: outcomes, retries, reconciliation."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from notifications.jobs import drain_once, quiet_until
from onecard.notices import service
from onecard.notices.models import Notice, NoticeAttempt
from onecard.notices.senders import TwilioSender
from onecard.timeutil import utcnow

# A fixed clock must be after the notices' creation (next_attempt_at defaults to now).
TOMORROW = (utcnow() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _notice(db, notice_id=None):
    db.session.expire_all()
    stmt = sa.select(Notice).order_by(Notice.id)
    if notice_id:
        stmt = stmt.where(Notice.id == notice_id)
    return db.session.execute(stmt).scalars().first()


def _attempts(db, notice_id):
    return db.session.execute(sa.select(NoticeAttempt.outcome).where(NoticeAttempt.notice_id == notice_id)
                              .order_by(NoticeAttempt.id)).scalars().all()


def test_happy_path_sends_the_text_to_the_e164_number_with_a_status_callback(twilio_app, db, arrive, fake_twilio):
    e = arrive()
    service.enqueue_arrivals()
    stats = drain_once()
    assert stats.sent == 1
    [msg] = fake_twilio.messages
    n = _notice(db)
    from onecard.people.models import Resident
    assert msg.to == "+86" + db.session.get(Resident, e.resident_id).mobile
    assert msg.body.startswith("【泗水县人社局】您的2026年11月城乡居民基础养老金183.00元")
    assert msg.from_ == "+15005550006"
    assert msg.status_callback == f"http://localhost/hooks/twilio/status?notice={n.id}"
    assert (n.state, n.provider_sid, n.attempts) == ("sent", msg.sid, 1)
    assert _attempts(db, n.id) == ["sent"]


def test_messaging_service_is_used_when_configured(twilio_app, db, arrive, fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "TWILIO_MESSAGING_SERVICE_SID", "MG" + "0" * 32)
    arrive()
    service.enqueue_arrivals()
    drain_once()
    [msg] = fake_twilio.messages
    assert msg.messaging_service_sid == "MG" + "0" * 32 and msg.from_ is None


def test_429_storm_is_retried_with_growing_backoff_then_sent_once(twilio_app, db, arrive, fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "NOTICE_RETRY_BASE_SECONDS", 10.0)
    arrive()
    service.enqueue_arrivals()
    fake_twilio.fail_next(3, status=429)
    t = TOMORROW.replace(hour=3)
    delays = []
    for _ in range(3):
        drain_once(now=t)
        n = _notice(db)
        assert n.state == "retry_wait" and n.error_code == "20429"
        delays.append((n.next_attempt_at - t).total_seconds())
        t = n.next_attempt_at
    # base 10 s doubling, jitter 0.5-1.5: 5-15, 10-30, 20-60
    assert 5 <= delays[0] <= 15 and 10 <= delays[1] <= 30 and 20 <= delays[2] <= 60
    drain_once(now=t)
    n = _notice(db)
    assert n.state == "sent"
    assert len(fake_twilio.messages) == 1
    assert _attempts(db, n.id) == ["retry", "retry", "retry", "sent"]


def test_permanent_failures_are_recorded_with_code_and_not_retried(twilio_app, db, arrive, fake_twilio):
    from tests.factories import make_resident
    e1, e2 = arrive(), arrive()
    from onecard.people.models import Resident
    for e, code in ((e1, 21211), (e2, 21610)):
        fake_twilio.reject_number("+86" + db.session.get(Resident, e.resident_id).mobile, code=code)
    service.enqueue_arrivals()
    stats = drain_once()
    assert stats.failed == 2
    notices = db.session.execute(sa.select(Notice).order_by(Notice.id)).scalars().all()
    assert [(n.state, n.error_code) for n in notices] == [("failed", "21211"), ("failed", "21610")]
    before = len(fake_twilio.create_requests)
    assert drain_once(now=datetime(2030, 1, 1)).claimed == 0
    assert len(fake_twilio.create_requests) == before
    assert make_resident  # factories stay importable for the other tests


def test_a_timed_out_send_that_twilio_accepted_is_reconciled_not_sent_twice(twilio_app, db, arrive, fake_twilio,
                                                                            monkeypatch):
    monkeypatch.setitem(twilio_app.config, "TWILIO_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setitem(twilio_app.config, "NOTICE_RETRY_BASE_SECONDS", 0.0)
    arrive()
    service.enqueue_arrivals()
    fake_twilio.script([{"delay": 1.0}])          # accepted, but the answer comes too late
    drain_once()                 # times out, then (zero backoff) claims it again and reconciles
    n = _notice(db)
    assert n.state == "sent" and n.provider_sid == fake_twilio.messages[0].sid
    assert len(fake_twilio.messages) == 1
    assert _attempts(db, n.id) == ["unknown", "reconciled"]


def test_a_5xx_without_a_message_is_reconciled_then_sent(twilio_app, db, arrive, fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "NOTICE_RETRY_BASE_SECONDS", 0.0)
    arrive()
    service.enqueue_arrivals()
    fake_twilio.fail_next(1, status=500)
    drain_once()
    n = _notice(db)
    assert n.state == "sent" and len(fake_twilio.messages) == 1
    assert _attempts(db, n.id) == ["unknown", "sent"]
    assert any(r.method == "GET" for r in fake_twilio.requests)    # it looked before re-sending


def test_quiet_hours_hold_notices_until_eight_in_the_morning(twilio_app, db, arrive, fake_twilio, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "QUIET_HOURS", "21:00-08:00")
    arrive()
    service.enqueue_arrivals()
    late = TOMORROW.replace(hour=14, minute=30)          # 22:30 in Shanghai
    stats = drain_once(now=late)
    n = _notice(db)
    assert stats.held == 1 and n.state == "held"
    morning = TOMORROW + timedelta(days=1)                # 00:00 UTC = 08:00 Shanghai
    assert n.next_attempt_at == morning
    assert drain_once(now=morning - timedelta(minutes=1)).sent == 0   # 07:59: still quiet
    assert fake_twilio.messages == []
    assert drain_once(now=morning + timedelta(minutes=1)).sent == 1
    assert _notice(db).state == "sent"


def test_quiet_hours_window_edges():
    spec = "21:00-08:00"
    assert quiet_until(datetime(2026, 11, 5, 12, 59), spec) is None          # 20:59
    assert quiet_until(datetime(2026, 11, 5, 13, 0), spec) == datetime(2026, 11, 6, 0, 0)
    assert quiet_until(datetime(2026, 11, 5, 0, 0), spec) is None            # 08:00
    assert quiet_until(datetime(2026, 11, 5, 0, 0), "") is None
    assert quiet_until(datetime(2026, 11, 5, 5, 0), "12:00-14:00") == datetime(2026, 11, 5, 6, 0)


def test_sender_reconcile_ignores_other_text(fake_twilio):
    sender = TwilioSender(fake_twilio.account_sid, fake_twilio.auth_token, from_="+15005550006",
                          base_url=fake_twilio.base_url)
    since = datetime.utcnow() - timedelta(seconds=1)
    assert sender.send("13900000001", "甲", None).outcome == "sent"
    assert sender.find_sent("13900000001", "乙", since) is None
    assert sender.find_sent("13900000001", "甲", since) == fake_twilio.messages[0].sid
