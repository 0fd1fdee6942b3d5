"""Oversight tables: risk-check runs and their findings (the finance bureau's worklist), public disclosures (公示)."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.cards.models import Card
from onecard.extensions import db
from onecard.people.models import Resident
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


# ---- maintained summaries for the statistics report (see oversight/summary.py) ----------------------------

class LedgerStat(db.Model):
    """One figure line of the statistics report's ledger side: a dimension's key within one department.

    The ledger is append-only, so these sums only ever grow: ``summary.record_ledger`` adds each import's
    rows in the import's own transaction. ``key`` is the id as text, 'YYYY-MM' for months, 'none' for rows
    without a village; ``failure_code`` is '' for paid rows and failures without a code (a unique key
    needs no NULLs). Arrival time is kept in whole seconds so the sums are exact.
    """
    __tablename__ = "oversight_ledger_stats"
    id = sa.Column(sa.Integer, primary_key=True)
    dimension = sa.Column(sa.String(10), nullable=False)
    key = sa.Column(sa.String(12), nullable=False)
    department_id = sa.Column(sa.Integer, nullable=False)
    failure_code = sa.Column(sa.String(20), nullable=False)
    paid_n = sa.Column(sa.BigInteger, nullable=False)
    paid_fen = sa.Column(sa.BigInteger, nullable=False)
    failed_n = sa.Column(sa.BigInteger, nullable=False)
    reissued_n = sa.Column(sa.BigInteger, nullable=False)
    days_seconds = sa.Column(sa.BigInteger, nullable=False)   # approval to arrival, paid rows with an approval
    days_n = sa.Column(sa.BigInteger, nullable=False)
    returned_n = sa.Column(sa.BigInteger, nullable=False, default=0, server_default="0")    # 退汇 reversals
    returned_fen = sa.Column(sa.BigInteger, nullable=False, default=0, server_default="0")
    reason = sa.Column(sa.String(200))                        # smallest failure reason seen under this code
    __table_args__ = (sa.UniqueConstraint("dimension", "key", "department_id", "failure_code",
                                          name="uq_oversight_ledger_stats"),)


class LedgerStatBatch(db.Model):
    """Which batches have ledger rows under a dimension's key (the report counts them: not a sum)."""
    __tablename__ = "oversight_ledger_stat_batches"
    dimension = sa.Column(sa.String(10), primary_key=True)
    key = sa.Column(sa.String(12), primary_key=True)
    batch_id = sa.Column(sa.Integer, primary_key=True)
    department_id = sa.Column(sa.Integer, nullable=False)


class ListStat(db.Model):
    """The list side of the report for ONE recipient list, replaced whenever that list is refreshed.

    List rows change at matching and a list can be withdrawn, and "activated" follows card status, so
    these are not grown but recomputed per list; ``ListStatState`` says what state they were computed from.
    """
    __tablename__ = "oversight_list_stats"
    list_id = sa.Column(sa.Integer, primary_key=True)
    dimension = sa.Column(sa.String(10), primary_key=True)
    key = sa.Column(sa.String(12), primary_key=True)
    department_id = sa.Column(sa.Integer, nullable=False)
    recipients = sa.Column(sa.BigInteger, nullable=False)
    matched = sa.Column(sa.BigInteger, nullable=False)
    activated = sa.Column(sa.BigInteger, nullable=False)
    listed_fen = sa.Column(sa.BigInteger, nullable=False)


class ListStatState(db.Model):
    """The list's state when its ListStat rows were computed; any difference makes them stale."""
    __tablename__ = "oversight_list_stat_states"
    list_id = sa.Column(sa.Integer, primary_key=True)
    fingerprint = sa.Column(sa.String(200), nullable=False)
    # Card changes at or after this moment may not be in "activated" (includes a margin for transactions
    # that were still open when the refresh started).
    cards_as_of = sa.Column(sa.DateTime, nullable=False)
    refreshed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


# ---- small maintained tables the risk checks start from (see summary.record_ledger) ------------------------

class PayeeProject(db.Model):
    """Who has been paid by which project: when first and last, and the largest single amount (paid rows).

    About one row per beneficiary and project however many months are paid, so the checks for amounts
    above the standard and for recipients outside the project's category scan this instead of the ledger
    and look at the ledger rows of the few candidates only.
    """
    __tablename__ = "oversight_payee_projects"
    resident_id = sa.Column(sa.Integer, primary_key=True)
    project_id = sa.Column(sa.Integer, primary_key=True)
    first_at = sa.Column(sa.DateTime, nullable=False)
    last_at = sa.Column(sa.DateTime, nullable=False)
    max_fen = sa.Column(sa.BigInteger, nullable=False)
    # (project, largest amount): the above-standard check reads a range per project, not the table.
    __table_args__ = (sa.Index("ix_oversight_payee_projects_project", "project_id", "max_fen"),)


class AccountPayee(db.Model):
    """Which beneficiaries an account has been paid for (paid rows with an account index, not via a proxy)."""
    __tablename__ = "oversight_account_payees"
    account_bidx = sa.Column(sa.String(40), primary_key=True)
    resident_id = sa.Column(sa.Integer, primary_key=True)


class ProxyWard(db.Model):
    """Which beneficiaries a proxy (代管代持人) has received payments for."""
    __tablename__ = "oversight_proxy_wards"
    proxy_resident_id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, primary_key=True)


class RiskWatermark(db.Model):
    """How far a check that reads new ledger rows has read (ledger ids).

    ``safe_id``: every row up to it was examined by a run. ``pending_id`` is the highest id a later run saw
    at its start; it becomes safe only once ``pending_at`` is older than the margin, because on PostgreSQL
    a transaction still open then may commit lower ids afterwards.
    """
    __tablename__ = "oversight_risk_watermarks"
    check_code = sa.Column(sa.String(30), primary_key=True)
    safe_id = sa.Column(sa.Integer, nullable=False, default=0)
    pending_id = sa.Column(sa.Integer)
    pending_at = sa.Column(sa.DateTime)


# Residents flagged deceased are few: the paid-after-death check starts from them.
sa.Index("ix_residents_deceased", Resident.__table__.c.deceased_on,
         sqlite_where=sa.text("deceased_on IS NOT NULL"), postgresql_where=sa.text("deceased_on IS NOT NULL"))

# Cancelled and not yet activated cards are few: the checks about them start from this partial index.
# Not a plain index on status: without planner statistics SQLite drove the batch-creation join
# (status = 'active', 80% of all cards) from one, turning a one-second INSERT ... SELECT into many minutes.
# (SQLite, whose statements carry the status as a parameter, scans the cards table for these checks
# instead -- linear, ~0.2 s for two million cards; PostgreSQL plans with the values and uses it.)
_RARE_CARD_STATUS = sa.text("status IN ('cancelled', 'ready', 'issued')")
sa.Index("ix_cards_rare_status", Card.__table__.c.status, sqlite_where=_RARE_CARD_STATUS,
         postgresql_where=_RARE_CARD_STATUS)
# The statistics ask which cards changed since a list's summary was computed (usually none).
sa.Index("ix_cards_status_changed_at", Card.__table__.c.status_changed_at)
