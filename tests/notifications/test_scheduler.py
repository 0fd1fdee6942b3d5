"""The scheduler process's job, the CLI door and the per-drainer rate limit."""
from __future__ import annotations

import json
import time

import sqlalchemy as sa

from notifications import scheduler
from notifications.cli import notices_drain_command
from notifications.jobs import TokenBucket
from onecard.notices.models import Notice


def test_scheduler_job_enqueues_and_prints_one_console_sms_per_arrival(app, db, arrive, capsys):
    arrive()
    arrive()
    db.session.commit()
    sched = scheduler.build(app, blocking=False, interval=5)
    job = sched.get_job("notices")
    assert job.trigger.interval.total_seconds() == 5 and job.max_instances == 1
    job.func()
    out = capsys.readouterr().out
    assert out.count("[短信]") == 2 and "183.00元" in out
    db.session.expire_all()
    assert set(db.session.execute(sa.select(Notice.state)).scalars()) == {"sent"}
    job.func()                                   # nothing new: nothing printed twice
    assert "[短信]" not in capsys.readouterr().out


def test_notices_drain_cli_prints_a_json_summary(app, db, arrive):
    arrive()
    db.session.commit()
    result = app.test_cli_runner().invoke(notices_drain_command, ["--once"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["enqueued"]["sms"] == 1 and summary["sent"] == 1


def test_token_bucket_paces_sends_after_a_burst():
    bucket = TokenBucket(40.0)
    start = time.monotonic()
    for _ in range(45):          # 40 in the burst, 5 more at 25 ms each
        bucket.acquire()
    assert time.monotonic() - start >= 0.1
    unlimited = TokenBucket(0)
    start = time.monotonic()
    for _ in range(1000):
        unlimited.acquire()
    assert time.monotonic() - start < 0.1


def test_scheduler_also_carries_the_nightly_risk_checks(app):
    from notifications import scheduler as sched
    s = sched.build(app, blocking=False)
    ids = {job.id for job in s.get_jobs()}
    assert {"notices", "oversight.risk_checks"} <= ids


def test_a_daily_job_runs_once_a_day_however_many_schedulers_run(app, db):
    from onecard.notices.models import ScheduledRun
    calls = []
    first = scheduler._in_app(app, lambda: calls.append(1), "test.daily")
    second = scheduler._in_app(app, lambda: calls.append(2), "test.daily")   # another process's copy
    first()
    second()
    first()
    assert calls == [1]
    [row] = db.session.execute(sa.select(ScheduledRun)).scalars().all()
    assert (row.job_id, row.outcome) == ("test.daily", "done") and row.finished_at is not None


def test_a_failed_daily_job_is_recorded_as_failed(app, db):
    from onecard.notices.models import ScheduledRun

    def broken():
        raise RuntimeError("bank file missing")
    scheduler._in_app(app, broken, "test.broken")()
    assert db.session.execute(sa.select(ScheduledRun.outcome)).scalar_one() == "failed"
