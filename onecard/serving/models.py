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


class KeyRotationStep(db.Model):
    """密钥轮换进度: one row per step of ``onecard rotate-keys`` (a table's ciphertexts, or one blind-index
    column), committed with each chunk it re-keys, so a killed rotation resumes where it stopped."""
    __tablename__ = "key_rotation_steps"
    step = sa.Column(sa.String(80), primary_key=True)      # field:<table> | blind:<table>.<column> | derive:...
    target_key = sa.Column(sa.String(8), nullable=False)    # id of the key the step rotates to
    last_id = sa.Column(sa.Integer, nullable=False, default=0)
    rows_changed = sa.Column(sa.Integer, nullable=False, default=0)
    started_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finished_at = sa.Column(sa.DateTime)


class BlindIndexRekey(db.Model):
    """Old blind index -> new, written while the plaintext columns are re-indexed, for the columns that only
    copy a blind index (the ledger's account, binding codes). Emptied when the rotation ends."""
    __tablename__ = "blind_index_rekeys"
    purpose = sa.Column(sa.String(20), primary_key=True)
    old_bidx = sa.Column(sa.String(40), primary_key=True)
    new_bidx = sa.Column(sa.String(40), nullable=False)
