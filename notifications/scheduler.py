"""The notice scheduler: APScheduler 3 running enqueue + drain every few seconds, as its own process.

Run it with ``onecard scheduler`` (one process per machine is enough; two are safe). It also runs
the oversight package's nightly risk checks (``onecard.oversight.jobs.JOBS``), each once per local day
however many schedulers run (``scheduled_runs``). It keeps no
state in APScheduler's job store -- the outbox tables are the state -- so a restart loses nothing.
With ONECARD_RUN_SCHEDULER_IN_DEV_SERVER=1, ``start_background(app)`` runs it inside the
development server instead (never under gunicorn: every worker would run its own copy).
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

log = logging.getLogger("onecard.notifications")
DEFAULT_INTERVAL_SECONDS = 5


def _job(app: Flask, echo):
    def run():
        from notifications import jobs
        from onecard.extensions import db
        from onecard.serving.jobs import recorded
        with app.app_context():
            try:
                with recorded("notices"):     # heartbeat row + JSON line per run (metrics, missed-job check)
                    summary = jobs.tick()
                if echo and (summary["claimed"] or summary["held"] or any(summary["enqueued"].values())):
                    echo(json.dumps(summary, ensure_ascii=False))
            except Exception:  # noqa: BLE001 - one bad run must not stop the scheduler; the outbox keeps the work
                log.exception("notice scheduler run failed")
                db.session.rollback()
            finally:
                db.session.remove()
    return run


def _audit_anchor():
    from onecard import audit
    return audit.scheduled_anchor()


def _purge_files():
    from onecard import files_at_rest
    return files_at_rest.purge_expired()


# The platform's own nightly work, beside the oversight package's JOBS: the audit chain's daily anchor at 23:50
# (the day's head, before the day ends) and the purge of files past their retention at 03:00.
PLATFORM_JOBS = [
    (_audit_anchor, {"trigger": "cron", "hour": 23, "minute": 50, "timezone": "Asia/Shanghai",
                     "id": "audit.anchor", "replace_existing": True, "coalesce": True, "max_instances": 1}),
    (_purge_files, {"trigger": "cron", "hour": 3, "minute": 0, "timezone": "Asia/Shanghai",
                    "id": "files.purge", "replace_existing": True, "coalesce": True, "max_instances": 1}),
]


DEFAULT_ALERT_INTERVAL_SECONDS = 60


def _daily_jobs():
    from onecard.oversight.jobs import JOBS
    return JOBS + PLATFORM_JOBS


def scheduled_job_periods(config, interval: float | None = None) -> dict[str, float]:
    """The timetable the missed-job alert checks against: each job and the longest it may go between runs."""
    periods = {"notices": interval or float(config.get("NOTICE_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS),
               "alerts.check": float(config.get("ALERT_CHECK_INTERVAL_SECONDS") or DEFAULT_ALERT_INTERVAL_SECONDS)}
    for _func, trigger in _daily_jobs():
        periods[trigger["id"]] = 24 * 3600.0   # every one is a daily cron
    return periods


def _alerts_job(app: Flask, periods: dict[str, float], started):
    """Every minute, in every scheduler: alerts on batches waiting too long, a stalled outbox, missed jobs
    (each alert is unique by what it is about, so two schedulers checking at once tell nobody twice)."""
    def run():
        from onecard.alerts import service as alerts
        from onecard.extensions import db
        from onecard.serving.jobs import recorded
        with app.app_context():
            try:
                with recorded("alerts.check"):
                    alerts.check(jobs=periods, started=started)
            except Exception:  # noqa: BLE001 - logged; the next run checks again
                log.exception("alert check failed")
                db.session.rollback()
            finally:
                db.session.remove()
    return run


def build(app: Flask, *, blocking: bool = True, interval: float | None = None, echo=None):
    from onecard.timeutil import utcnow
    interval = interval or float(app.config.get("NOTICE_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="Asia/Shanghai")
    # max_instances=1 + coalesce: a slow run is never overlapped by the next one in this process
    scheduler.add_job(_job(app, echo), "interval", seconds=interval, id="notices", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(UTC))
    periods = scheduled_job_periods(app.config, interval)
    scheduler.add_job(_alerts_job(app, periods, utcnow()), "interval", seconds=periods["alerts.check"],
                      id="alerts.check", max_instances=1, coalesce=True)
    # The platform's other scheduled work runs in this same process (one scheduler to operate).
    for func, trigger in _daily_jobs():
        scheduler.add_job(_in_app(app, func, trigger["id"]), **trigger)
    return scheduler


def claim_slot(job_id: str, slot: str) -> int | None:
    """Claim (job, slot) for this process; None when another scheduler already has it (the unique key
    decides, on SQLite and PostgreSQL alike)."""
    import os
    import socket

    from sqlalchemy.exc import IntegrityError

    from onecard.extensions import db
    from onecard.notices.models import ScheduledRun
    run = ScheduledRun(job_id=job_id, slot=slot, host=f"{socket.gethostname()}:{os.getpid()}"[:120])
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return run.id


def _finish(run_id: int, outcome: str) -> None:
    from onecard.extensions import db
    from onecard.notices.models import ScheduledRun
    from onecard.timeutil import utcnow
    db.session.execute(sa.update(ScheduledRun).where(ScheduledRun.id == run_id)
                       .values(outcome=outcome, finished_at=utcnow()))
    db.session.commit()


def _in_app(app: Flask, func, job_id: str):
    """Run a daily job once per local day across every scheduler process of the platform."""
    def run():
        from onecard.extensions import db
        from onecard.serving.jobs import recorded
        from onecard.timeutil import local_today
        with app.app_context():
            run_id = None
            try:
                with recorded(job_id) as state:
                    run_id = claim_slot(job_id, local_today().isoformat())
                    if run_id is None:
                        log.info("scheduled job %s already ran today in another scheduler", job_id)
                        state["outcome"] = "skipped"
                        return
                    func()
                _finish(run_id, "done")
            except Exception:  # noqa: BLE001 - logged; the next scheduled run tries again
                log.exception("scheduled job %s failed", job_id)
                db.session.rollback()
                if run_id is not None:
                    _finish(run_id, "failed")
            finally:
                db.session.remove()
    run.__name__ = getattr(func, "__name__", "job")
    return run


def start_background(app: Flask) -> BackgroundScheduler:
    scheduler = build(app, blocking=False)
    scheduler.start()
    return scheduler
