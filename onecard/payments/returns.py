"""Returns after payment (退票/退汇): the bank reports, days after crediting it, that a payment came back.

The agent bank names the original line (an API call, or a return file: xlsx/CSV with 明细号, 金额, 退汇原因代码,
退汇原因, 退汇日期). All or nothing: every return in a file is checked before anything changes. For each return
the line moves 成功 → 已退汇 (compare-and-set: a line is returned once), a ``PaymentReturn`` row is written (unique
per line: the database refuses a second), the ledger gets a reversal entry (never an edit), an arrival event of
kind 'return' tells the resident in plain words (notices channel 'sms_ret'), and the line is owed again with the
bank's reason until the department re-issues it (reissues.reissue takes returned lines like failed ones).

Refused: a line that was never paid (or is not this bank's), a second return of the same line, a different
amount, a return date before the payment or in the future.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.alerts import service as alerts
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.payments import idempotency, ledger
from onecard.payments.common import _lines
from onecard.payments.lifecycle import move_lines
from onecard.payments.models import ArrivalEvent, Batch, BatchLine, PaymentReturn
from onecard.sheets import SheetErrors, read_rows
from onecard.staff import permissions
from onecard.timeutil import local_day_start, local_today, to_local, utcnow
from onecard.validation import format_yuan, normalize_text, parse_amount_fen, parse_date

permissions.register({
    "payment.return": {"bank_operator"},
    "payment.returns.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
})

# The bank's return reasons residents are told about in plain words (others get the bank's own text).
RETURN_ADVICE = {
    "account_closed": "银行账户已销户",
    "account_frozen": "银行账户已冻结",
    "holder_mismatch": "收款账户户名与本人不符",
}

FILE_HEADERS = ["明细号", "金额", "退汇原因", "退汇日期"]
FILE_ALIASES = {"line_id": "明细号", "原明细号": "明细号", "金额（元）": "金额", "amount": "金额", "原因": "退汇原因",
                "reason": "退汇原因", "原因代码": "退汇原因代码", "reason_code": "退汇原因代码", "returned_on": "退汇日期",
                "日期": "退汇日期"}


@dataclass
class ReturnItem:
    line_id: int
    amount_fen: int
    reason: str
    returned_on: date
    reason_code: str | None = None
    row: int | None = None          # the file's row number, for the error report


def record_return(actor: Actor, data: dict, *, idempotency_key: str | None) -> dict:
    """One return through the bank API: {line_id, amount_fen, reason, reason_code?, returned_on}."""
    permissions.require(actor, "payment.return")
    item = ReturnItem(line_id=data["line_id"], amount_fen=data["amount_fen"],
                      reason=normalize_text(data["reason"], field="reason", max_len=200),
                      reason_code=(data.get("reason_code") or None), returned_on=data["returned_on"])

    def work():
        problems = _check(actor, [item])
        if problems:
            _, code, message, status = problems[0]
            raise (NotFound if status == 404 else Conflict)(message, code=code, field="line_id")
        return {"returns": _apply(actor, [item], source="api", file_sha256=None)}
    return idempotency.run(actor, "payment.return", idempotency_key,
                           {"line_id": item.line_id, "amount_fen": item.amount_fen, "reason": item.reason,
                            "reason_code": item.reason_code, "returned_on": item.returned_on}, work)


def import_return_file(actor: Actor, stream, filename: str, *, file_sha256: str,
                       idempotency_key: str | None) -> dict:
    """退汇文件: every row checked first; one bad row refuses the whole file with a report by row and column."""
    permissions.require(actor, "payment.return")

    def work():
        errors = SheetErrors()
        items: list[ReturnItem] = []
        for row_no, cells in read_rows(stream, filename, required=FILE_HEADERS, header_aliases=FILE_ALIASES):
            item = _parse_row(row_no, cells, errors)
            if item is not None:
                items.append(item)
        if not items and not errors:
            raise Invalid("退汇文件没有明细", code="sheet_invalid", field="file")
        for row, _code, message, _ in _check(actor, items):
            errors.add(row, "明细号", None, message)
        errors.raise_if_any("退汇文件有错误，已全部拒收，未做任何变更。请按错误说明核对后重新上传")
        return {"returns": _apply(actor, items, source="file", file_sha256=file_sha256)}
    return idempotency.run(actor, "payment.return_file", idempotency_key, {"file": file_sha256}, work)


def _parse_row(row_no: int, cells: dict, errors: SheetErrors) -> ReturnItem | None:
    before = errors.count

    def check(column, fn):
        try:
            return fn(cells.get(column))
        except Invalid as exc:
            errors.add(row_no, column, cells.get(column), exc.message)
            return None
    line_id = check("明细号", _line_number)
    amount = check("金额", lambda v: parse_amount_fen(v, field="金额"))
    reason = check("退汇原因", lambda v: normalize_text(v, field="退汇原因", max_len=200))
    returned_on = check("退汇日期", lambda v: parse_date(v, field="退汇日期"))
    code = cells.get("退汇原因代码")
    if errors.count > before:
        return None
    return ReturnItem(line_id, amount, reason, returned_on, str(code)[:20] if code else None, row=row_no)


def _line_number(value) -> int:
    text = str(value or "").strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise Invalid("明细号应为代发文件中的明细编号（数字）", field="明细号")
    return int(text)


def _check(actor: Actor, items: list[ReturnItem]) -> list[tuple[int | None, str, str, int]]:
    """(row, code, message, http status) for each return that cannot be taken; empty when all can."""
    ids = [i.line_id for i in items]
    found = {line.id: (line, batch) for line, batch in db.session.execute(
        sa.select(BatchLine, Batch).join(Batch, Batch.id == BatchLine.batch_id).where(BatchLine.id.in_(ids)))}
    returned = set(db.session.execute(sa.select(PaymentReturn.line_id).where(PaymentReturn.line_id.in_(ids)))
                   .scalars())
    today = local_today()
    seen: set[int] = set()
    problems = []
    for i in items:
        line, batch = found.get(i.line_id, (None, None))
        where = f"明细{i.line_id}"
        if i.line_id in seen:
            problems.append((i.row, "duplicate_line", f"{where}在文件中出现多次", 409))
        elif line is None or not permissions.in_scope(actor, batch):
            # Another bank's line looks absent: a bank learns nothing of others' payments.
            problems.append((i.row, "line_not_found", f"{where}不存在或不是本行代发的明细", 404))
        elif i.line_id in returned:
            problems.append((i.row, "already_returned", f"{where}已登记过退汇，不能重复退汇", 409))
        elif line.status != "paid":
            problems.append((i.row, "line_not_paid", f"{where}未发放成功（状态：{_label(line.status)}），不能退汇", 409))
        elif line.amount_fen != i.amount_fen:
            problems.append((i.row, "amount_mismatch", f"{where}退汇金额{format_yuan(i.amount_fen)}与原发放金额"
                                                      f"{format_yuan(line.amount_fen)}不符", 409))
        else:
            paid_day = to_local(line.bank_at or line.result_at).date()
            if not paid_day <= i.returned_on <= today:
                problems.append((i.row, "return_date_invalid", f"{where}退汇日期{i.returned_on.isoformat()}应在发放日"
                                                              f"（{paid_day.isoformat()}）至今天之间", 409))
        seen.add(i.line_id)
    return problems


def _label(status: str) -> str:
    from onecard.payments.lifecycle import LINE_MACHINE
    return LINE_MACHINE.label(status)


def _apply(actor: Actor, items: list[ReturnItem], *, source: str, file_sha256: str | None) -> list[dict]:
    now = utcnow()
    out = []
    for i in items:
        moved = move_lines("returned", _lines.c.id == i.line_id, only_from=("paid",),
                           failure_code=i.reason_code, failure_reason=f"退汇：{i.reason}"[:200])
        if moved != 1:
            db.session.rollback()
            raise Conflict(f"明细{i.line_id}已被他人登记退汇，请刷新后核对", code="already_returned", field="line_id")
        line = db.session.get(BatchLine, i.line_id)
        db.session.refresh(line)
        paid_at = line.bank_at or line.result_at
        at = min(max(local_day_start(i.returned_on), paid_at), now)
        ret = PaymentReturn(line_id=line.id, batch_id=line.batch_id, bank_id=_batch_bank(line.batch_id),
                            department_id=line.department_id, project_id=line.project_id,
                            resident_id=line.resident_id, period=line.period, amount_fen=line.amount_fen,
                            reason_code=i.reason_code, reason=i.reason, returned_on=i.returned_on, source=source,
                            file_sha256=file_sha256, created_by=actor.id, created_at=now)
        db.session.add(ret)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict(f"明细{i.line_id}已登记过退汇，不能重复退汇", code="already_returned",
                           field="line_id") from None
        ledger.record_reversal(line.id, occurred_at=at, recorded_at=now, failure_code=i.reason_code,
                               failure_reason=f"退汇：{i.reason}"[:200])
        db.session.add(ArrivalEvent(payment_key=f"return:{line.id}", resident_id=line.resident_id,
                                    project_id=line.project_id, period=line.period, amount_fen=line.amount_fen,
                                    bank_id=line.bank_id, account_last4=line.account_last4,
                                    payee_resident_id=line.payee_resident_id or line.resident_id, route=line.route,
                                    paid_at=at, created_at=now, kind="return",
                                    note=RETURN_ADVICE.get(i.reason_code or "", i.reason)[:200]))
        audit.record("payment.returned", actor=actor, entity_type="batch_line", entity_id=line.id,
                     before={"status": "paid"},
                     after={"status": "returned", "amount_fen": line.amount_fen, "reason": i.reason,
                            "reason_code": i.reason_code, "returned_on": i.returned_on.isoformat(),
                            "source": source})
        out.append(return_view(ret))
    db.session.flush()
    by_batch: dict[int, list[dict]] = {}
    for r in out:
        by_batch.setdefault(r["batch_id"], []).append(r)
    for batch_id, returned in by_batch.items():
        alerts.payments_returned(db.session.get(Batch, batch_id), returned)
    return out


def _batch_bank(batch_id: int) -> int:
    return db.session.execute(sa.select(Batch.bank_id).where(Batch.id == batch_id)).scalar_one()


def return_view(r: PaymentReturn) -> dict:
    return {"id": r.id, "line_id": r.line_id, "batch_id": r.batch_id, "project_id": r.project_id,
            "period": r.period, "amount_fen": r.amount_fen, "amount_yuan": format_yuan(r.amount_fen),
            "reason_code": r.reason_code, "reason": r.reason, "returned_on": r.returned_on.isoformat(),
            "source": r.source}


def list_returns(actor: Actor, *, batch_id: int | None = None, limit: int = 500) -> list[dict]:
    permissions.require(actor, "payment.returns.read")
    stmt = sa.select(PaymentReturn).where(permissions.scope_filter(actor, PaymentReturn))
    if batch_id:
        stmt = stmt.where(PaymentReturn.batch_id == batch_id)
    return [return_view(r) for r in db.session.execute(stmt.order_by(PaymentReturn.id).limit(limit)).scalars()]


def figures(batch_id: int) -> dict:
    """A batch's returns for its reconciliation: returned, returned and re-paid (its re-issue line paid), and
    the reversal entries the ledger holds for it (which must equal the returns)."""
    reissue = sa.orm.aliased(BatchLine)
    pr = PaymentReturn
    returned_count, returned_fen, repaid_count, repaid_fen = db.session.execute(
        sa.select(sa.func.count(pr.id), sa.func.coalesce(sa.func.sum(pr.amount_fen), 0),
                  sa.func.count(reissue.id), sa.func.coalesce(sa.func.sum(reissue.amount_fen), 0))
        .outerjoin(reissue, sa.and_(reissue.reissue_of_line_id == pr.line_id, reissue.outcome == "paid",
                                    reissue.status.in_(("paid", "returned"))))
        .where(pr.batch_id == batch_id)).one()
    reversals = ledger.reversal_totals(batch_id)
    return {"returned_count": int(returned_count), "returned_fen": int(returned_fen),
            "returned_repaid_count": int(repaid_count), "returned_repaid_fen": int(repaid_fen),
            "ledger_returned_count": reversals[0], "ledger_returned_fen": reversals[1]}
