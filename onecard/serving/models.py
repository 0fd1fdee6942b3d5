"""What the operations side keeps in the database."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow


class JobHeartbeat(db.Model):
    """定时任务最近一次运行: one row per scheduled job, overwritten by each run of any scheduler process.

    The notice drain runs every few seconds, so its runs are not kept one by one (``scheduled_runs`` keeps
    the daily jobs' runs); this row is what /metrics and the "job missed" check read.
    """
    __tablename__ = "job_heartbeats"
    job_id = sa.Column(sa.String(60), primary_key=True)
    host = sa.Column(sa.String(120), nullable=False)
    started_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finished_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    outcome = sa.Column(sa.String(10), nullable=False)
    duration_ms = sa.Column(sa.Integer, nullable=False, default=0)
    last_success_at = sa.Column(sa.DateTime)
    __table_args__ = (sa.CheckConstraint("outcome in ('done','failed','skipped')", name="outcome"),)
