"""The notice scheduler: APScheduler 3 running enqueue + drain every few seconds, as its own process.

Run it with ``onecard scheduler`` (one process per machine is enough; two are safe). It also runs
the oversight package's nightly risk checks (``onecard.oversight.jobs.JOBS``). It keeps no
state in APScheduler's job store -- the outbox tables are the state -- so a restart loses nothing.
With ONECARD_RUN_SCHEDULER_IN_DEV_SERVER=1, ``start_background(app)`` runs it inside the
development server instead (never under gunicorn: every worker would run its own copy).
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

log = logging.getLogger("onecard.notifications")
DEFAULT_INTERVAL_SECONDS = 5


def _job(app: Flask, echo):
    def run():
        from notifications import jobs
        from onecard.extensions import db
        with app.app_context():
            try:
                summary = jobs.tick()
                if echo and (summary["claimed"] or summary["held"] or any(summary["enqueued"].values())):
                    echo(json.dumps(summary, ensure_ascii=False))
            except Exception:  # noqa: BLE001 - one bad run must not stop the scheduler; the outbox keeps the work
                log.exception("notice scheduler run failed")
                db.session.rollback()
            finally:
                db.session.remove()
    return run


def build(app: Flask, *, blocking: bool = True, interval: float | None = None, echo=None):
    interval = interval or float(app.config.get("NOTICE_INTERVAL_SECONDS") or DEFAULT_INTERVAL_SECONDS)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="Asia/Shanghai")
    # max_instances=1 + coalesce: a slow run is never overlapped by the next one in this process
    scheduler.add_job(_job(app, echo), "interval", seconds=interval, id="notices", max_instances=1, coalesce=True,
                      next_run_time=datetime.now(UTC))
    # The platform's other scheduled work runs in this same process (one scheduler to operate).
    from onecard.oversight.jobs import JOBS
    for func, trigger in JOBS:
        scheduler.add_job(_in_app(app, func), **trigger)
    return scheduler


def _in_app(app: Flask, func):
    def run():
        from onecard.extensions import db
        with app.app_context():
            try:
                func()
            except Exception:  # noqa: BLE001 - logged; the next scheduled run tries again
                log.exception("scheduled job %s failed", getattr(func, "__name__", func))
                db.session.rollback()
            finally:
                db.session.remove()
    run.__name__ = getattr(func, "__name__", "job")
    return run


def start_background(app: Flask) -> BackgroundScheduler:
    scheduler = build(app, blocking=False)
    scheduler.start()
    return scheduler
