"""Prometheus metrics: what each process counts, and what the database tells at scrape time.

Counted in the worker that did the work (multiprocess mode under gunicorn: ``PROMETHEUS_MULTIPROC_DIR``
holds one file per worker, summed at scrape time):

  onecard_request_seconds{endpoint,method}     latency by Flask endpoint name (never the raw path: a path
                                               holds ids, and one series per id would never end)
  onecard_list_upload_rows_total               rows stored by list uploads
  onecard_list_upload_seconds_total            seconds those uploads took; rate(rows)/rate(seconds) is
                                               the upload speed, and
  onecard_list_upload_rows_per_second          a histogram of each upload's own speed

Read from the database when /metrics is scraped (the same answer from whichever worker answers):

  onecard_outbox_notices{state}                notices waiting to be sent (pending, retry_wait, held, claimed)
  onecard_outbox_oldest_pending_age_seconds    age of the oldest notice still waiting
  onecard_batches{status}                      payment batches by state
  onecard_batch_oldest_waiting_seconds{status} how long the longest-waiting batch has been submitted (waiting
                                               for review), reviewed (for approval) or sent (for the bank's results)
  onecard_job_last_run_timestamp_seconds{job,outcome}  last run of each scheduled job
  onecard_job_last_success_timestamp_seconds{job}
"""
from __future__ import annotations

import os
import time
from datetime import UTC

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily

from onecard.extensions import db

REQUEST_SECONDS = Histogram(
    "onecard_request_seconds", "Request latency by Flask endpoint", ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 300))
LIST_UPLOAD_ROWS = Counter("onecard_list_upload_rows", "Rows stored by recipient-list uploads")
LIST_UPLOAD_SECONDS = Counter("onecard_list_upload_seconds", "Seconds spent storing recipient-list uploads")
LIST_UPLOAD_SPEED = Histogram(
    "onecard_list_upload_rows_per_second", "Speed of each recipient-list upload (rows per second)",
    buckets=(100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 200_000, 400_000))

WAITING_STATES = ("pending", "retry_wait", "held", "claimed")
# Batch states that wait on a person or the bank, and the column saying since when.
BATCH_WAITS = {"submitted": "submitted_at", "reviewed": "reviewed_at", "sent": "sent_at"}


def list_uploaded(rows: int, seconds: float) -> None:
    """A list upload stored ``rows`` rows in ``seconds``."""
    LIST_UPLOAD_ROWS.inc(rows)
    LIST_UPLOAD_SECONDS.inc(seconds)
    if seconds > 0:
        LIST_UPLOAD_SPEED.observe(rows / seconds)


def _epoch(value) -> float:
    return value.replace(tzinfo=UTC).timestamp()


class DatabaseCollector:
    """The gauges read from the database, one short query each, on a connection of its own."""

    def collect(self):
        from onecard.notices.models import Notice
        from onecard.payments.models import Batch
        from onecard.serving.models import JobHeartbeat

        outbox = GaugeMetricFamily("onecard_outbox_notices", "Notices waiting to be sent, by state",
                                   labels=["state"])
        oldest = GaugeMetricFamily("onecard_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest notice still waiting to be sent (0 when none)")
        batches = GaugeMetricFamily("onecard_batches", "Payment batches by status", labels=["status"])
        waiting = GaugeMetricFamily("onecard_batch_oldest_waiting_seconds",
                                    "Age of the longest wait of a batch in this status (0 when none waits)",
                                    labels=["status"])
        last_run = GaugeMetricFamily("onecard_job_last_run_timestamp_seconds",
                                     "When each scheduled job last finished", labels=["job", "outcome"])
        last_ok = GaugeMetricFamily("onecard_job_last_success_timestamp_seconds",
                                    "When each scheduled job last succeeded", labels=["job"])
        with db.engine.connect() as conn:
            counts = dict(conn.execute(sa.select(Notice.state, sa.func.count()).where(
                Notice.state.in_(WAITING_STATES)).group_by(Notice.state)).all())
            for state in WAITING_STATES:
                outbox.add_metric([state], counts.get(state, 0))
            first = conn.execute(sa.select(sa.func.min(Notice.created_at)).where(
                Notice.state.in_(WAITING_STATES))).scalar()
            oldest.add_metric([], max(0.0, time.time() - _epoch(first)) if first else 0.0)
            for status, n in conn.execute(sa.select(Batch.status, sa.func.count()).group_by(Batch.status)):
                batches.add_metric([status], n)
            now = time.time()
            for status, column in BATCH_WAITS.items():
                since = conn.execute(sa.select(sa.func.min(getattr(Batch, column))).where(
                    Batch.status == status)).scalar()
                waiting.add_metric([status], max(0.0, now - _epoch(since)) if since else 0.0)
            for row in conn.execute(sa.select(JobHeartbeat.job_id, JobHeartbeat.outcome, JobHeartbeat.finished_at,
                                              JobHeartbeat.last_success_at)):
                last_run.add_metric([row.job_id, row.outcome], _epoch(row.finished_at))
                if row.last_success_at:
                    last_ok.add_metric([row.job_id], _epoch(row.last_success_at))
        yield from (outbox, oldest, batches, waiting, last_run, last_ok)


def exposition() -> bytes:
    """The text a scrape receives: every worker's counts (multiprocess) or this process's, plus the database."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUEST_SECONDS, LIST_UPLOAD_ROWS, LIST_UPLOAD_SECONDS, LIST_UPLOAD_SPEED):
            registry.register(collector)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
