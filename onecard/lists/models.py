"""Recipient lists (发放名单, attachment 3) and their match (比对) against the card registry."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.extensions import db
from onecard.privacy import Encrypted
from onecard.timeutil import utcnow

MATCH_RESULTS = {
    "usable": "社保卡正常可用",
    "not_applied": "未申领社保卡",
    "not_issued": "已申领未发放",
    "not_activated": "已发放未激活",
    "lost_or_cancelled": "社保卡挂失或注销",
    "name_mismatch": "姓名与社保卡登记不符",
    "not_in_registry": "制卡信息中无此人",
}


class RecipientList(db.Model):
    """One clean upload of attachment 3 for a project and period."""
    __tablename__ = "recipient_lists"
    id = sa.Column(sa.Integer, primary_key=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False, index=True)
    period = sa.Column(sa.String(7), nullable=False)            # canonical period, see validation.parse_period
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    uploaded_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    file_name = sa.Column(sa.String(200), nullable=False)
    file_sha256 = sa.Column(sa.String(64), nullable=False)
    row_count = sa.Column(sa.Integer, nullable=False, default=0)
    total_fen = sa.Column(sa.BigInteger, nullable=False, default=0)
    status = sa.Column(sa.String(12), nullable=False, default="uploaded")
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    matched_at = sa.Column(sa.DateTime)
    # JSON: what the upload passed over or warned about (header_row, skipped: [{row, reason}],
    # warnings: [{row, column, value, message, suggestions}]), shown with the list.
    upload_notes = sa.Column(sa.Text, nullable=False, default="{}")
    __table_args__ = (
        sa.CheckConstraint("status in ('uploaded','matched','withdrawn')", name="status"),
        sa.CheckConstraint("row_count >= 0 and total_fen >= 0", name="totals"),
    )


class RecipientRow(db.Model):
    """One row of a recipient list, with its match result against the card registry."""
    __tablename__ = "recipient_rows"
    id = sa.Column(sa.Integer, primary_key=True)
    list_id = sa.Column(sa.Integer, sa.ForeignKey("recipient_lists.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    period = sa.Column(sa.String(7), nullable=False)
    row_no = sa.Column(sa.Integer, nullable=False)               # row in the uploaded file (for reports)
    name = sa.Column(sa.String(40), nullable=False)
    id_number = sa.Column(Encrypted, nullable=False)
    id_bidx = sa.Column(sa.String(40), nullable=False)
    ethnicity = sa.Column(sa.String(2), nullable=False)
    mobile = sa.Column(Encrypted)
    mobile_last4 = sa.Column(sa.String(4))
    town_id = sa.Column(sa.Integer, sa.ForeignKey("towns.id"), nullable=False)
    village_id = sa.Column(sa.Integer, sa.ForeignKey("villages.id"))
    # The 村（社区） as written when it is not a village of the town in the county's table (an optional column:
    # the row is stored and the upload warns with the closest names); null when village_id is set or none given.
    village_text = sa.Column(sa.String(60))
    bank_id = sa.Column(sa.Integer, sa.ForeignKey("banks.id"), nullable=False)     # 开户行 as listed
    account = sa.Column(Encrypted)                                                   # 银行卡号 as listed
    account_last4 = sa.Column(sa.String(4))
    amount_fen = sa.Column(sa.BigInteger, nullable=False)
    expected_date = sa.Column(sa.Date)
    # Match (比对) result, refreshed whenever the registry changes.
    match_result = sa.Column(sa.String(20))
    resident_id = sa.Column(sa.Integer, sa.ForeignKey("residents.id"), index=True)
    # The household (户) of the listed person at upload, set for a per-household project (到户资金) only:
    # its unit is the household, listed once per project and period (the unique key below).
    household_id = sa.Column(sa.Integer, sa.ForeignKey("households.id"))
    card_id = sa.Column(sa.Integer, sa.ForeignKey("cards.id"))
    matched_at = sa.Column(sa.DateTime)
    match_changed_at = sa.Column(sa.DateTime)
    __table_args__ = (
        # A person is listed at most once per project and period, across every list.
        sa.UniqueConstraint("project_id", "period", "id_bidx"),
        # A household is listed at most once per per-household project and period (NULLs, the per-person
        # projects' rows, never collide: both SQLite and PostgreSQL treat them as distinct).
        sa.UniqueConstraint("project_id", "period", "household_id", name="uq_recipient_rows_one_household"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint("match_result is null or match_result in ("
                           + ",".join(f"'{k}'" for k in MATCH_RESULTS) + ")", name="match_result"),
        # No separate index on id_bidx alone: every look-up by person goes through the unique key above
        # (project, period, person) or from a list's rows to residents; a second random-keyed index
        # made a million-row upload 2.5x slower.
    )


class ListUploadReport(db.Model):
    """The error report of a refused upload (附件3校验报告), kept so the uploader can download it as xlsx.

    Scoped like the list it would have become: the uploader's department (and the bureau) may read it.
    """
    __tablename__ = "list_upload_reports"
    id = sa.Column(sa.String(32), primary_key=True)             # random, unguessable
    department_id = sa.Column(sa.Integer, sa.ForeignKey("departments.id"), nullable=False, index=True)
    uploaded_by = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"))
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id"), nullable=False)
    period = sa.Column(sa.String(7), nullable=False)
    file_name = sa.Column(sa.String(200), nullable=False)
    error_count = sa.Column(sa.Integer, nullable=False)
    # the rows with errors (masked) and a 错误说明 column, sealed (files_at_rest); purged after its retention
    xlsx = sa.Column(sa.LargeBinary, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
