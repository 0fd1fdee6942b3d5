"""Disbursement: batches, lines, the ledger. Extended by the disbursement work.

ArrivalEvent is the hand-off to the notices package: one row per
successful payment, unique on the payment it reports, so a replayed import
adds nothing.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.timeutil import utcnow


class ArrivalEvent(db.Model):
    """到账事件: money reached a resident's account; the notice outbox is filled from these."""
    __tablename__ = "arrival_events"
    id = sa.Column(sa.Integer, primary_key=True)
    payment_key = sa.Column(sa.String(40), nullable=False, unique=True)   # e.g. "line:123"
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    period = sa.Column(sa.String(7), nullable=False)
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False)
    account_last4 = sa.Column(sa.String(4), nullable=False)
    # Who was paid and into which account: the resident whose card or account received the money (the
    # listed person, the household head or the legal proxy) and the route (routing.ROUTE_LABELS), copied
    # from the batch line, so a notice channel can address the payee. Null only on events inserted
    # without a batch line (benchmarks, old rows): readers fall back to the listed resident.
    payee_resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))
    route = sa.Column(sa.String(12))
    paid_at = sa.Column(sa.DateTime, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    # 'arrival' (money reached the account) or 'return' (the bank sent a credited payment back, 退汇: key
    # "return:<line id>", paid_at is when it came back, note the bank's reason); each channel says which it tells.
    kind = sa.Column(sa.String(8), nullable=False, default="arrival", server_default="arrival")
    note = sa.Column(sa.String(200))
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("route is null or route in ('own_card','head_card','proxy','passbook')", name="route"),
        sa.CheckConstraint("kind in ('arrival','return')", name="kind"),
    )


class LedgerEntry(db.Model):
    """台账: the append-only record of every payment outcome, one row per batch line result.

    Written only by ``payments.ledger.record_outcomes`` when a bank result is recorded
    (paid or failed). Read by the citizen service (my subsidies), oversight (statistics,
    risk checks, 公示) and the departments' ledger exports. Town and village are
    copied in so statistics group without joining residents.
    """
    __tablename__ = "ledger_entries"
    id = sa.Column(sa.Integer, primary_key=True)
    # The batch line this outcome belongs to: one paid-or-failed row per line, and at most one reversal
    # ('returned', the bank's 退汇 of a paid line) beside its 'paid' row (uq_ledger_line_outcome).
    line_id = sa.Column(sa.Integer, nullable=False)
    batch_id = sa.Column(sa.Integer, nullable=False, index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    period = sa.Column(sa.String(7), nullable=False)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False)   # the beneficiary
    payee_resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))              # head or proxy, if not self
    route = sa.Column(sa.String(12), nullable=False)       # own_card, head_card, proxy, passbook
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    account_last4 = sa.Column(sa.String(4), nullable=False)
    # Blind index of the account paid into (privacy.blind_index(account, "account")): lets oversight
    # find one account receiving for many unrelated people without decrypting anything.
    account_bidx = sa.Column(sa.String(40), index=True)
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False)
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    outcome = sa.Column(sa.String(8), nullable=False)      # paid, failed, or returned (a reversal of paid)
    failure_code = sa.Column(sa.String(20))
    failure_reason = sa.Column(sa.String(200))
    reissue_of_line_id = sa.Column(sa.Integer)             # set on a re-issue's outcome
    approved_at = sa.Column(sa.DateTime)                   # finance approval of the batch
    occurred_at = sa.Column(sa.DateTime, nullable=False)   # when the bank paid or refused
    recorded_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("outcome in ('paid','failed','returned')", name="outcome"),
        sa.CheckConstraint("route in ('own_card','head_card','proxy','passbook')", name="route"),
        sa.CheckConstraint("outcome = 'paid' or failure_reason is not null", name="failure_has_reason"),
        # A line's result is recorded once (its status moves sent -> paid/failed once), so line and outcome
        # unique allows exactly its result and, for a paid line, one reversal.
        sa.UniqueConstraint("line_id", "outcome", name="uq_ledger_line_outcome"),
        sa.Index("ix_ledger_resident_time", "resident_id", "occurred_at"),
        # Money paid into someone else's card (household head, legal proxy): few rows, read by that payee.
        sa.Index("ix_ledger_payee_time", "payee_resident_id", "occurred_at",
                 sqlite_where=sa.text("payee_resident_id IS NOT NULL"),
                 postgresql_where=sa.text("payee_resident_id IS NOT NULL")),
        sa.Index("ix_ledger_project_period", "project_id", "period"),
    )


# ---------------------------------------------------------------- disbursement (issue 4)
# Additive: ArrivalEvent and LedgerEntry above keep their columns (other packages read them).

from onecard.privacy import Encrypted  # noqa: E402

AGREEMENT_STATES = {"active": "有效", "terminated": "已终止"}
FEEDBACK_METHODS = {"file": "结果文件回盘", "api": "接口回传"}

agreement_projects = sa.Table(
    "agreement_projects", db.metadata,
    sa.Column("agreement_id", sa.Integer, sa.ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
)


class Agreement(db.Model):
    """代发协议: a department entrusts a cooperating bank with paying some of its projects."""
    __tablename__ = "agreements"
    id = sa.Column(sa.Integer, primary_key=True)
    number = sa.Column(sa.String(40), nullable=False, unique=True)        # 协议编号
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    payment_schedule = sa.Column(sa.String(200), nullable=False)          # 发放时间安排
    feedback_method = sa.Column(sa.String(8), nullable=False, default="file")
    fund_supervision = sa.Column(sa.String(200), nullable=False)          # 资金监管方式
    reconciliation_method = sa.Column(sa.String(200), nullable=False)     # 对账方式
    valid_from = sa.Column(sa.Date, nullable=False)
    valid_until = sa.Column(sa.Date, nullable=False)
    status = sa.Column(sa.String(12), nullable=False, default="active")
    created_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("valid_from <= valid_until", name="validity"),
        sa.CheckConstraint("status in ('active','terminated')", name="status"),
        sa.CheckConstraint("feedback_method in ('file','api')", name="feedback_method"),
    )


class PassbookAccount(db.Model):
    """一本通: the older passbook account a resident is paid through during the parallel period."""
    __tablename__ = "passbook_accounts"
    id = sa.Column(sa.Integer, primary_key=True)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False)
    account = sa.Column(Encrypted, nullable=False)
    account_bidx = sa.Column(sa.String(40), nullable=False, index=True)
    account_last4 = sa.Column(sa.String(4), nullable=False)
    status = sa.Column(sa.String(8), nullable=False, default="active")
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.UniqueConstraint("resident_id", "bank_id"),
        sa.CheckConstraint("status in ('active','closed')", name="status"),
    )


BATCH_STATES = ["draft", "submitted", "reviewed", "approved", "sent", "feedback_received", "reconciled", "closed",
                "returned", "cancelled"]
# Line states. LIVE_LINE_STATES are the ones the never-twice index covers.
# released: a held line whose reason went away, paid late with the project's next batch (payments.owed);
# returned: a paid line the bank sent back (退汇, payments.returns), owed again until its re-issue.
# written_off: a failed or returned payment its department decided not to pay, with a reason (owed.cancel).
# disputed: a routed line held at batch creation because the person is listed or paid in a project that excludes
# this one for the period (onecard.exclusions); live, so nothing else pays the period until the department decides.
LINE_STATES = ["held", "pending", "sent", "paid", "failed", "superseded", "rejoined", "cancelled", "released",
               "returned", "written_off", "disputed"]
LIVE_LINE_STATES = ("pending", "sent", "paid", "failed", "returned", "disputed")
ROUTES = ("own_card", "head_card", "proxy", "passbook")
_LIVE_SQL = "status in ('pending','sent','paid','failed','returned','disputed')"


class Batch(db.Model):
    """发放批次: one payment run of a project and period through its agent bank."""
    __tablename__ = "batches"
    id = sa.Column(sa.Integer, primary_key=True)
    number = sa.Column(sa.String(40), unique=True)                       # 批次号, set after insert
    kind = sa.Column(sa.String(8), nullable=False, default="regular")    # regular or reissue (补发)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)   # agent bank
    agreement_id = sa.Column(sa.Integer, sa.ForeignKey("agreements.id"), nullable=False)
    list_id = sa.Column(sa.Integer, sa.ForeignKey("recipient_lists.id"))
    period = sa.Column(sa.String(7), nullable=False)
    status = sa.Column(sa.String(20), nullable=False, default="draft")
    line_count = sa.Column(sa.Integer, nullable=False, default=0)         # payable lines (not held)
    total_fen = sa.Column(sa.BigInteger, nullable=False, default=0)
    held_count = sa.Column(sa.Integer, nullable=False, default=0)
    submitted_count = sa.Column(sa.Integer)                               # fixed at submission
    submitted_fen = sa.Column(sa.BigInteger)
    paid_count = sa.Column(sa.Integer)
    paid_fen = sa.Column(sa.BigInteger)
    failed_count = sa.Column(sa.Integer)
    failed_fen = sa.Column(sa.BigInteger)
    bank_layout = sa.Column(sa.String(12))
    file_sha256 = sa.Column(sa.String(64))                                # checksum of the exported detail lines
    return_reason = sa.Column(sa.String(300))
    created_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    submitted_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    reviewed_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    approved_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    sent_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    submitted_at = sa.Column(sa.DateTime)
    reviewed_at = sa.Column(sa.DateTime)
    approved_at = sa.Column(sa.DateTime)
    sent_at = sa.Column(sa.DateTime)
    feedback_at = sa.Column(sa.DateTime)
    reconciled_at = sa.Column(sa.DateTime)
    closed_at = sa.Column(sa.DateTime)
    returned_at = sa.Column(sa.DateTime)
    cancelled_at = sa.Column(sa.DateTime)
    status_changed_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("status in (" + ",".join(f"'{s}'" for s in BATCH_STATES) + ")", name="status"),
        sa.CheckConstraint("kind in ('regular','reissue')", name="kind"),
        sa.CheckConstraint("line_count >= 0 and total_fen >= 0", name="totals"),
        sa.Index("ix_batches_project_period", "project_id", "period"),
    )


class BatchLine(db.Model):
    """发放明细: one person's payment in a batch, with where it goes and why.

    Never twice (the database's guarantee, not only a check): the partial unique
    index ``uq_batch_lines_one_live_payment`` allows at most one *live* line
    (pending, sent, paid, failed) per beneficiary, project and period across all
    batches. Lines that do not pay leave the index: ``held`` (could not be routed;
    the person may join a later batch once fixed), ``rejoined`` (a held line whose
    person was taken into a later batch), ``cancelled`` (its draft batch was
    cancelled) and ``superseded`` (a failed line replaced by its re-issue). A failed
    line stays live until its re-issue is created: the re-issue marks it superseded
    with a compare-and-set in the same transaction that inserts the new line, so at
    every commit exactly one live line exists for the person and period, and two
    re-issues of one failure, two batches from one list, or two overlapping batches
    cannot both hold a live line: the second insert violates the index and is refused.
    A failed line carries no money, so superseding it never hides a payment: a paid
    line can never leave the index.
    """
    __tablename__ = "batch_lines"
    id = sa.Column(sa.Integer, primary_key=True)
    batch_id = sa.Column(sa.Integer, sa.ForeignKey("batches.id"), nullable=False)   # ix_batch_lines_batch
    recipient_row_id = sa.Column(sa.Integer, sa.ForeignKey("recipient_rows.id"))
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))    # beneficiary (see the indexes below)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False)
    period = sa.Column(sa.String(7), nullable=False)
    name = sa.Column(sa.String(40), nullable=False)                     # beneficiary as listed
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    status = sa.Column(sa.String(12), nullable=False)
    route = sa.Column(sa.String(12))
    route_reason = sa.Column(sa.String(200), nullable=False)            # why this account (or why held)
    payee_resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"))
    payee_name = sa.Column(sa.String(40))
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"))          # bank of the payee's account
    account = sa.Column(Encrypted)
    account_bidx = sa.Column(sa.String(40))   # copied to the ledger for the shared-account risk check
    account_last4 = sa.Column(sa.String(4))
    proxy_appointment_id = sa.Column(sa.Integer, sa.ForeignKey("proxy_appointments.id"))
    # The beneficiary's household, on a per-household project's line only (到户资金: one live line per household,
    # project and period, by uq_batch_lines_one_live_household).
    household_id = sa.Column(sa.Integer, sa.ForeignKey("households.id"))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"))
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    outcome = sa.Column(sa.String(8))                                   # paid or failed, from the bank
    failure_code = sa.Column(sa.String(20))
    failure_reason = sa.Column(sa.String(200))
    reissue_of_line_id = sa.Column(sa.Integer, sa.ForeignKey("batch_lines.id"))
    # On a line failed for an account reason: why staff let it go again to the same, unchanged account
    # (reissues.allow_resend; audited). Without it such a line waits in the worklist as 账户未变更.
    resend_reason = sa.Column(sa.String(200))
    resend_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    resend_at = sa.Column(sa.DateTime)
    # A late payment (补发往期): the owed line of an earlier batch this line pays, in its original period.
    late_of_line_id = sa.Column(sa.Integer, sa.ForeignKey("batch_lines.id"))
    result_at = sa.Column(sa.DateTime)                                  # when the bank's result was imported
    # When the bank paid or refused, by the value date of its result: that day's start (local), but never
    # before the payment file was sent nor after the import. Null when the bank gave no date (then the
    # ledger and the arrival notice use result_at).
    bank_at = sa.Column(sa.DateTime)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("status in (" + ",".join(f"'{s}'" for s in LINE_STATES) + ")", name="status"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("route is null or route in ('own_card','head_card','proxy','passbook')", name="route"),
        sa.CheckConstraint("status in ('held','rejoined','cancelled','released') or (route is not null and account is not null"
                           " and resident_id is not null and bank_id is not null)", name="routed_has_account"),
        sa.CheckConstraint("outcome is null or outcome in ('paid','failed')", name="outcome"),
        sa.Index("uq_batch_lines_one_live_payment", "resident_id", "project_id", "period", unique=True,
                 sqlite_where=sa.text(_LIVE_SQL), postgresql_where=sa.text(_LIVE_SQL)),
        # 到户资金 pays the household once: at most one live line per household, project and period.
        sa.Index("uq_batch_lines_one_live_household", "household_id", "project_id", "period", unique=True,
                 sqlite_where=sa.text(f"household_id is not null and {_LIVE_SQL}"),
                 postgresql_where=sa.text(f"household_id is not null and {_LIVE_SQL}")),
        # Status is left out of these on purpose: a batch moves every line's status several times, and each
        # index holding it would be rewritten for every line at every step.
        sa.Index("ix_batch_lines_batch", "batch_id"),
        sa.Index("ix_batch_lines_project_period", "project_id", "period"),
        sa.Index("uq_batch_lines_one_reissue", "reissue_of_line_id", unique=True,
                 sqlite_where=sa.text("reissue_of_line_id is not null and status <> 'cancelled'"),
                 postgresql_where=sa.text("reissue_of_line_id is not null and status <> 'cancelled'")),
        sa.Index("uq_batch_lines_one_late_payment", "late_of_line_id", unique=True,
                 sqlite_where=sa.text("late_of_line_id is not null and status <> 'cancelled'"),
                 postgresql_where=sa.text("late_of_line_id is not null and status <> 'cancelled'")),
    )


class ResultStaging(db.Model):
    """Bank results being imported, checked set-based against the batch before anything changes.

    Rows live only inside the import's transaction (inserted, checked, applied, deleted).
    """
    __tablename__ = "payment_result_staging"
    id = sa.Column(sa.Integer, primary_key=True)
    token = sa.Column(sa.String(32), nullable=False)
    seq = sa.Column(sa.Integer, nullable=False)            # position in the file, for reports
    line_id = sa.Column(sa.Integer, nullable=False)
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    outcome = sa.Column(sa.String(8), nullable=False)
    failure_code = sa.Column(sa.String(20))
    failure_reason = sa.Column(sa.String(200))
    value_date = sa.Column(sa.Date)                        # the bank's 入账日期, when it gave one
    __table_args__ = (sa.Index("ix_result_staging_token_line", "token", "line_id"),)


class IdempotencyKey(db.Model):
    """A used idempotency key: a retried unsafe request with the same key gets the first answer back."""
    __tablename__ = "idempotency_keys"
    id = sa.Column(sa.Integer, primary_key=True)
    key = sa.Column(sa.String(80), nullable=False)
    actor = sa.Column(sa.String(40), nullable=False)       # "staff:12"
    endpoint = sa.Column(sa.String(80), nullable=False)
    request_hash = sa.Column(sa.String(64), nullable=False)
    response = sa.Column(sa.Text, nullable=False)          # JSON
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (sa.UniqueConstraint("actor", "key"),)


# ---------------------------------------------------------------- the money's whole life (issue 18)

class PaymentReturn(db.Model):
    """退票/退汇: a credited payment the bank later sent back (account closed, frozen after credit, wrong holder).

    One per paid line (unique line_id: a second return of the same line is refused by the database); the
    ledger gets a reversal entry (outcome 'returned') and the line becomes owed (status returned) until its
    re-issue; ``repaid_line_id`` is that re-issue once it is made.
    """
    __tablename__ = "payment_returns"
    id = sa.Column(sa.Integer, primary_key=True)
    line_id = sa.Column(sa.Integer, sa.ForeignKey("batch_lines.id"), nullable=False, unique=True)
    batch_id = sa.Column(sa.Integer, sa.ForeignKey("batches.id"), nullable=False, index=True)
    # scope columns copied in (permissions.scope_filter): the agent bank and the paying department
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False, index=True)
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), nullable=False, index=True)
    period = sa.Column(sa.String(7), nullable=False)
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    reason_code = sa.Column(sa.String(20))
    reason = sa.Column(sa.String(200), nullable=False)
    returned_on = sa.Column(sa.Date, nullable=False)          # the bank's 退汇日期
    source = sa.Column(sa.String(8), nullable=False)          # file or api
    file_sha256 = sa.Column(sa.String(64))
    repaid_line_id = sa.Column(sa.Integer, sa.ForeignKey("batch_lines.id"))
    created_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("source in ('file','api')", name="source"),
    )
