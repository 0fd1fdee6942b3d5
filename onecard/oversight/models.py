"""Oversight tables: risk-check runs and their findings (the finance bureau's worklist), public disclosures (公示)."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow

FINDING_STATES = {"open": "待核查", "confirmed": "已确认问题", "dismissed": "已排除"}
DISCLOSURE_STATES = {"published": "公示中", "withdrawn": "已撤回"}


class RiskRun(db.Model):
    """One run of every risk check (on demand by finance, or by the scheduler)."""
    __tablename__ = "risk_runs"
    id = sa.Column(sa.Integer, primary_key=True)
    trigger = sa.Column(sa.String(10), nullable=False, default="manual")     # manual or schedule
    actor_label = sa.Column(sa.String(100), nullable=False, default="")
    actor_id = sa.Column(sa.Integer)
    params = sa.Column(sa.Text, nullable=False, default="{}")                # thresholds used (JSON)
    counts = sa.Column(sa.Text, nullable=False, default="{}")                # findings per check (JSON)
    new_findings = sa.Column(sa.Integer, nullable=False, default=0)
    started_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    finished_at = sa.Column(sa.DateTime)
    __table_args__ = (sa.CheckConstraint("trigger in ('manual','schedule')", name="trigger"),)


class RiskFinding(db.Model):
    """疑点: one irregularity a check found, with its evidence, kept across runs by (check_code, subject_key).

    A later run that finds the same thing again only moves ``last_run_id``: a finding finance
    already dismissed stays dismissed.
    """
    __tablename__ = "risk_findings"
    id = sa.Column(sa.Integer, primary_key=True)
    check_code = sa.Column(sa.String(30), nullable=False)
    subject_key = sa.Column(sa.String(120), nullable=False)      # stable identity of what was found
    first_run_id = sa.Column(sa.Integer, sa.ForeignKey("risk_runs.id"), nullable=False)
    last_run_id = sa.Column(sa.Integer, sa.ForeignKey("risk_runs.id"), nullable=False, index=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"))
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"))
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    amount_fen = sa.Column(sa.BigInteger, nullable=False, default=0)
    summary = sa.Column(sa.String(300), nullable=False)
    evidence = sa.Column(sa.Text, nullable=False, default="{}")   # masked JSON: ledger ids, counts, last4s
    status = sa.Column(sa.String(10), nullable=False, default="open")
    note = sa.Column(sa.String(500))
    decided_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    decided_at = sa.Column(sa.DateTime)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.UniqueConstraint("check_code", "subject_key", name="uq_risk_findings_subject"),
        sa.CheckConstraint("status in ('open','confirmed','dismissed')", name="status"),
        sa.Index("ix_risk_findings_check_status", "check_code", "status"),
    )


class Disclosure(db.Model):
    """公示: a project's payments for one period, published masked on the public page until withdrawn."""
    __tablename__ = "disclosures"
    id = sa.Column(sa.Integer, primary_key=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    period = sa.Column(sa.String(7), nullable=False)
    title = sa.Column(sa.String(200), nullable=False)
    status = sa.Column(sa.String(10), nullable=False, default="published")
    row_count = sa.Column(sa.Integer, nullable=False, default=0)
    total_fen = sa.Column(sa.BigInteger, nullable=False, default=0)
    published_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    published_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    withdrawn_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    withdrawn_at = sa.Column(sa.DateTime)
    withdraw_reason = sa.Column(sa.String(300))
    status_changed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("status in ('published','withdrawn')", name="status"),
        # At most one live disclosure per project and period; a withdrawn one may be republished anew.
        sa.Index("uq_disclosures_live", "project_id", "period", unique=True,
                 sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'")),
    )
