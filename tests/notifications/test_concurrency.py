"""Two drainers at once, and a drainer killed mid-batch: every notice is sent exactly once."""
from __future__ import annotations

import collections
import json
import os
import signal
import time

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.notices import service
from onecard.notices.models import Notice, NoticeAttempt
from onecard.timeutil import utcnow
from tests.notifications.harness import fill, run_together, sent_per_notice


def _states(db):
    db.session.expire_all()
    return collections.Counter(db.session.execute(sa.select(Notice.state)).scalars())


def test_two_drainer_threads_send_each_notice_exactly_once(twilio_app, db, arrive, fake_twilio):
    fill(arrive, 40)
    ids = set(db.session.execute(sa.select(Notice.id)).scalars())
    db.session.commit()
    _, errors = run_together(twilio_app, *[lambda: drain_once(batch_size=4)] * 2)
    assert not errors
    sent = sent_per_notice(fake_twilio)
    assert set(sent) == ids and max(sent.values()) == 1
    assert _states(db) == {"sent": 40}


def test_two_drainer_processes_send_each_notice_exactly_once(twilio_app, db, arrive, fake_twilio, drain_process):
    fill(arrive, 20)
    db.session.commit()
    procs = [drain_process("--no-enqueue", "--batch-size", "3", env=twilio_app.fake_twilio_env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    claimed = [json.loads(out.strip().splitlines()[-1])["claimed"] for out, _ in outputs]
    assert sum(claimed) == 20
    sent = sent_per_notice(fake_twilio)
    assert len(sent) == 20 and max(sent.values()) == 1
    assert _states(db) == {"sent": 20}


def test_drainer_killed_mid_batch_is_finished_by_another_without_duplicates(twilio_app, db, arrive, fake_twilio,
                                                                            drain_process):
    fill(arrive, 5)
    db.session.commit()
    fake_twilio.set_delay(60)   # the first create is accepted, its answer never arrives
    env = {**twilio_app.fake_twilio_env, "ONECARD_TWILIO_TIMEOUT_SECONDS": "3"}
    p = drain_process("--no-enqueue", "--batch-size", "5", "--lease-seconds", "1", env=env)
    deadline = time.monotonic() + 60
    # the fake records a request before it makes the message: wait for the message, not the request
    while not fake_twilio.messages and time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    assert len(fake_twilio.messages) == 1 and len(fake_twilio.create_requests) == 1
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    fake_twilio.set_delay(0)
    assert _states(db) == {"claimed": 5}
    # wait out the dead drainer's leases: 1 s for the notices it never reached, its 3 s timeout plus the fence
    # margin for the one it was sending
    lease_until = max(db.session.execute(sa.select(Notice.lease_until)).scalars())
    while utcnow() <= lease_until:
        time.sleep(0.05)
    stats = drain_once()
    assert (stats.claimed, stats.reconciled, stats.sent) == (5, 1, 4)
    sent = sent_per_notice(fake_twilio)
    assert len(sent) == 5 and max(sent.values()) == 1
    assert _states(db) == {"sent": 5}
    outcomes = collections.Counter(db.session.execute(sa.select(NoticeAttempt.outcome)).scalars())
    assert outcomes == {"reconciled": 1, "sent": 4}


def test_two_schedulers_enqueueing_at_once_count_each_notice_once(twilio_app, db, arrive):
    """Issue #16: each scheduler's summary counted the notices it tried to insert, so together they over-counted."""
    for _ in range(30):
        arrive()
    db.session.commit()
    counts, errors = run_together(twilio_app, service.enqueue_arrivals, service.enqueue_arrivals)
    assert not errors
    assert sum(c["sms"] for c in counts) == 30, counts
    assert _states(db) == {"pending": 30}
