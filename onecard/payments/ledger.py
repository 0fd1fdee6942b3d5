"""The ledger (台账): the one writer of ledger rows, the department's ledger and the finance supervision report.

``record_outcomes`` writes the ledger rows of a result import (set-based, one INSERT ... SELECT) and
``append_entries`` rows no batch line produced (the demo county's history); both end in the oversight
summary hook, so anything that must follow every ledger write goes here and nowhere else.
The exports read the append-only ledger_entries only. Text cells are written as strings with a leading
= + - @ neutralised, so a name or reason can never become a live spreadsheet formula.
"""
from __future__ import annotations

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.db import local_month
from onecard.extensions import db
from onecard.oversight import summary as oversight_summary
from onecard.payments.models import BatchLine, LedgerEntry
from onecard.payments.routing import ROUTE_LABELS
from onecard.people.models import Resident
from onecard.projects.models import Project
from onecard.reference.models import Bank, Department, Town, Village
from onecard.sheets import REPORT_STYLE, write_xlsx
from onecard.staff import permissions
from onecard.timeutil import local_str
from onecard.validation import format_yuan, parse_period

_LEDGER_COLUMNS = ["line_id", "batch_id", "project_id", "department_id", "period", "resident_id", "payee_resident_id",
                   "route", "bank_id", "account_last4", "account_bidx", "town_id", "village_id", "amount_fen",
                   "outcome", "failure_code", "failure_reason", "reissue_of_line_id", "approved_at", "occurred_at",
                   "recorded_at"]


def moved_at(result_at):
    """When a batch line's money moved, as the ledger and the arrival notice both record it: the bank's own
    date for the line (``bank_at``) when its result gave one, else the time the result was imported."""
    lines = BatchLine.__table__
    return sa.func.coalesce(lines.c.bank_at, sa.literal(result_at, sa.DateTime))


def record_outcomes(batch_id: int, result_at, *, approved_at) -> int:
    """Append one ledger entry per line of batch ``batch_id`` whose bank result was recorded at ``result_at``.

    Runs inside the caller's transaction (the result import); the rows it writes are exactly those with
    ``batch_id = batch_id and recorded_at = result_at``. A line can be recorded once only (unique line_id).
    Returns the number of entries written.
    """
    lines = BatchLine.__table__
    sel = sa.select(
        lines.c.id, lines.c.batch_id, lines.c.project_id, lines.c.department_id, lines.c.period, lines.c.resident_id,
        sa.case((lines.c.payee_resident_id != lines.c.resident_id, lines.c.payee_resident_id), else_=None),
        lines.c.route, lines.c.bank_id, lines.c.account_last4, lines.c.account_bidx, lines.c.town_id,
        lines.c.village_id, lines.c.amount_fen, lines.c.outcome, lines.c.failure_code, lines.c.failure_reason,
        lines.c.reissue_of_line_id, sa.literal(approved_at, sa.DateTime), moved_at(result_at),
        sa.literal(result_at, sa.DateTime),
    ).where(lines.c.batch_id == batch_id, lines.c.outcome.is_not(None), lines.c.result_at == result_at)
    table = LedgerEntry.__table__
    written = db.session.execute(sa.insert(table).from_select(_LEDGER_COLUMNS, sel)).rowcount
    # The statistics and risk checks read small tables kept up to date with the ledger, in this transaction.
    oversight_summary.record_ledger(table.c.batch_id == batch_id, table.c.recorded_at == result_at)
    return written


def record_reversal(line_id: int, *, occurred_at, recorded_at, failure_code: str | None, failure_reason: str) -> None:
    """退汇: a reversal entry (outcome 'returned') beside the line's paid entry, which is never edited; the same
    beneficiary, account, place and amount, with the bank's reason. A second reversal of a line is refused by
    uq_ledger_line_outcome."""
    table = LedgerEntry.__table__
    cols = [c for c in _LEDGER_COLUMNS if c not in ("outcome", "failure_code", "failure_reason", "occurred_at",
                                                    "recorded_at")]
    sel = sa.select(*[table.c[c] for c in cols], sa.literal("returned"), sa.literal(failure_code, sa.String),
                    sa.literal(failure_reason, sa.String), sa.literal(occurred_at, sa.DateTime),
                    sa.literal(recorded_at, sa.DateTime)).where(table.c.line_id == line_id, table.c.outcome == "paid")
    paid = db.session.execute(sa.select(sa.func.count()).select_from(table)
                              .where(table.c.line_id == line_id, table.c.outcome == "paid")).scalar()
    if paid != 1:     # (counted first: the driver need not report an INSERT ... SELECT's row count)
        raise RuntimeError(f"ledger: line {line_id} has no paid entry to reverse")
    db.session.execute(sa.insert(table).from_select(
        cols + ["outcome", "failure_code", "failure_reason", "occurred_at", "recorded_at"], sel))
    oversight_summary.record_ledger(table.c.line_id == line_id, table.c.outcome == "returned")


def reversal_totals(batch_id: int) -> tuple[int, int]:
    table = LedgerEntry.__table__
    n, fen = db.session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(table.c.amount_fen), 0))
                                .where(table.c.batch_id == batch_id, table.c.outcome == "returned")).one()
    return int(n), int(fen)


def append_entries(rows: list[dict]) -> int:
    """Insert ready ledger rows (fresh line ids above every earlier one) and count them in the summaries."""
    if not rows:
        return 0
    table = LedgerEntry.__table__
    db.session.execute(sa.insert(table), rows)
    line_ids = [r["line_id"] for r in rows]
    oversight_summary.record_ledger(table.c.line_id.between(min(line_ids), max(line_ids)))
    return len(rows)


_OUTCOME_LABELS = {"paid": "成功", "failed": "失败", "returned": "退汇（冲正）"}


def department_ledger(actor: Actor, *, project_id: int | None = None, period: str | None = None) -> bytes:
    """台账 of the actor's department (everything for finance/auditors): one row per payment outcome."""
    permissions.require(actor, "ledger.export")
    payee = sa.orm.aliased(Resident)
    stmt = (sa.select(LedgerEntry, Project.code, Project.name, Resident.name, Resident.id_masked, Town.name,
                      Village.name, Bank.name, payee.name)
            .join(Project, Project.id == LedgerEntry.project_id)
            .join(Resident, Resident.id == LedgerEntry.resident_id)
            .join(Town, Town.id == LedgerEntry.town_id)
            .outerjoin(Village, Village.id == LedgerEntry.village_id)
            .join(Bank, Bank.id == LedgerEntry.bank_id)
            .outerjoin(payee, payee.id == LedgerEntry.payee_resident_id)
            .where(permissions.scope_filter(actor, LedgerEntry))
            .order_by(LedgerEntry.id))
    if project_id:
        stmt = stmt.where(LedgerEntry.project_id == project_id)
    if period:
        stmt = stmt.where(LedgerEntry.period == parse_period(period))
    headers = ["项目编码", "项目名称", "期间", "姓名", "身份证号（脱敏）", "镇街", "村（社区）", "金额（元）", "金额（分）",
               "结果", "失败原因", "支付路径", "收款人（非本人时）", "收款银行", "账号后四位", "批次", "补发原明细",
               "审批时间", "发生时间"]

    def rows():
        for e, pcode, pname, name, idm, town, village, bank, payee_name in db.session.execute(
                stmt.execution_options(yield_per=2000)):
            yield [pcode, pname, e.period, name, idm, town, village, format_yuan(e.amount_fen), e.amount_fen,
                   _OUTCOME_LABELS[e.outcome], e.failure_reason, ROUTE_LABELS.get(e.route, e.route),
                   payee_name, bank, e.account_last4, e.batch_id, e.reissue_of_line_id or "",
                   local_str(e.approved_at), local_str(e.occurred_at)]
    return write_xlsx(headers, rows(), sheet_name="台账", constant_memory=True, **REPORT_STYLE)


def supervision_rows(actor: Actor, *, month: str | None = None) -> list[dict]:
    """Finance supervision: paid and failed counts and fen by project, department, town, bank and month."""
    permissions.require(actor, "ledger.supervise")
    m = local_month(LedgerEntry.occurred_at).label("month")
    paid = LedgerEntry.outcome == "paid"
    failed = LedgerEntry.outcome == "failed"      # a reversal (退汇, 'returned') is neither
    stmt = (sa.select(Project.name, Department.name, Town.name, Bank.name, m,
                      sa.func.count().filter(paid), sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen)
                                                                     .filter(paid), 0),
                      sa.func.count().filter(failed), sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen)
                                                                       .filter(failed), 0))
            .join(Project, Project.id == LedgerEntry.project_id)
            .join(Department, Department.id == LedgerEntry.department_id)
            .join(Town, Town.id == LedgerEntry.town_id)
            .join(Bank, Bank.id == LedgerEntry.bank_id)
            .group_by(Project.name, Department.name, Town.name, Bank.name, m)
            .order_by(m, Department.name, Project.name, Town.name, Bank.name))
    if month:
        stmt = stmt.where(m == parse_period(month))
    return [{"project": p, "department": d, "town": t, "bank": b, "month": mo, "paid_count": pc,
             "paid_fen": int(pf), "failed_count": fc, "failed_fen": int(ff)}
            for p, d, t, b, mo, pc, pf, fc, ff in db.session.execute(stmt)]


def supervision_report(actor: Actor, *, month: str | None = None) -> bytes:
    data = supervision_rows(actor, month=month)
    headers = ["月份", "主管部门", "项目", "镇街", "代发银行", "成功笔数", "成功金额（元）", "失败笔数", "失败金额（元）"]
    return write_xlsx(headers, ([r["month"], r["department"], r["project"], r["town"], r["bank"], r["paid_count"],
                                 format_yuan(r["paid_fen"]), r["failed_count"], format_yuan(r["failed_fen"])]
                                for r in data),
                      sheet_name="资金监管", constant_memory=True, **REPORT_STYLE)
