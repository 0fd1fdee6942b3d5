"""Every scheduled job run leaves a trace: one JSON log line and its ``job_heartbeats`` row.

``recorded(job_id)`` wraps one run (the scheduler's notice drain and each daily job). The heartbeat is
written in its own short transaction after the run, so it never holds up or undoes the job's work.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import time

from onecard import db as dbutil
from onecard.extensions import db
from onecard.serving.models import JobHeartbeat
from onecard.timeutil import utcnow

log = logging.getLogger("onecard.jobs")


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def record(job_id: str, *, outcome: str, started_at, duration_ms: float) -> None:
    """Upsert the job's heartbeat (commits) and write its log line."""
    now = utcnow()
    values = {"job_id": job_id, "host": _host(), "started_at": started_at, "finished_at": now,
              "outcome": outcome, "duration_ms": int(duration_ms)}
    if outcome == "done":
        values["last_success_at"] = now
    statement = dbutil.upsert(JobHeartbeat.__table__).values(**values)
    update = {k: statement.excluded[k] for k in values if k != "job_id"}
    db.session.execute(statement.on_conflict_do_update(index_elements=["job_id"], set_=update))
    db.session.commit()
    log.info("scheduled job %s: %s", job_id, outcome, extra={"json_fields": {
        "kind": "job", "job": job_id, "outcome": outcome, "duration_ms": round(duration_ms, 2), "host": values["host"]}})


@contextlib.contextmanager
def recorded(job_id: str):
    """Time the body and record it as done, or failed when it raises (the exception goes on).

    The body may set ``state["outcome"] = "skipped"`` (another scheduler had the day's slot).
    """
    state = {"outcome": "done"}
    started_at, start = utcnow(), time.perf_counter()
    try:
        yield state
    except BaseException:
        db.session.rollback()
        record(job_id, outcome="failed", started_at=started_at, duration_ms=(time.perf_counter() - start) * 1000)
        raise
    record(job_id, outcome=state["outcome"], started_at=started_at,
           duration_ms=(time.perf_counter() - start) * 1000)
