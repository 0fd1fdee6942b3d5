"""One record per import of the provincial card-issuing data (制卡数据), with its report."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow


class RegistryImport(db.Model):
    """社保卡制卡数据导入: who imported which file (by SHA-256) when, and what changed."""
    __tablename__ = "registry_imports"
    id = sa.Column(sa.Integer, primary_key=True)
    imported_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    file_name = sa.Column(sa.String(200), nullable=False)
    file_sha256 = sa.Column(sa.String(64), nullable=False, index=True)
    started_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finished_at = sa.Column(sa.DateTime)
    rows_total = sa.Column(sa.Integer, nullable=False, default=0)
    rows_applied = sa.Column(sa.Integer, nullable=False, default=0)
    new_residents = sa.Column(sa.Integer, nullable=False, default=0)
    new_cards = sa.Column(sa.Integer, nullable=False, default=0)
    status_changes = sa.Column(sa.Integer, nullable=False, default=0)
    status_change_detail = sa.Column(sa.Text, nullable=False, default="{}")   # JSON {"active→lost": n}
    account_changes = sa.Column(sa.Integer, nullable=False, default=0)
    replaced_cards = sa.Column(sa.Integer, nullable=False, default=0)
    unchanged = sa.Column(sa.Integer, nullable=False, default=0)
    error_count = sa.Column(sa.Integer, nullable=False, default=0)
    errors = sa.Column(sa.Text, nullable=False, default="[]")                # JSON, first 10,000 errors
    rematch = sa.Column(sa.String(20), nullable=False, default="unavailable")  # done (unavailable: old imports)
    # JSON: the re-match run with the import (periods, lists_checked, changed, lists: [{list_id, changed, ...}]).
    rematch_detail = sa.Column(sa.Text, nullable=False, default="{}")
    __table_args__ = (
        sa.CheckConstraint("rows_total >= 0 and error_count >= 0", name="counts"),
    )
