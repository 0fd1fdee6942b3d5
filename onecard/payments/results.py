"""The bank's answer (回盘): a result file or the bank API's results, checked whole against the batch
(totals, checksum, every line once, value dates), then applied set-based with the ledger and arrival events
in the same transaction; and reconciliation (对账) of what was sent against what came back and the ledger."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.alerts import service as alerts
from onecard.db import bulk_insert
from onecard.errors import Conflict, Invalid
from onecard.extensions import db
from onecard.payments import bankformats, idempotency, ledger, returns
from onecard.payments.common import (
    CHUNK,
    _bulk_cache,
    _lines,
    batch_view,
    check_totals,
    load_batch,
)
from onecard.payments.lifecycle import BATCH_MACHINE, move_lines
from onecard.payments.models import ArrivalEvent, Batch, LedgerEntry, ResultStaging
from onecard.timeutil import local_day_start, to_local, utcnow
from onecard.validation import format_yuan

# A bank's answer refused for what it says (not for who sent it or when): the department and finance are told.
RESULT_REFUSALS = frozenset({"result_rejected", "wrong_batch", "result_file_format", "unknown_failure_code"})


def _telling_refusals(batch_id: int, content_digest: str, run):
    """Run the import; when its content is refused, tell the people concerned once per distinct content (the
    refusal rolled everything back, so the alert is written in a transaction of its own), then refuse."""
    try:
        return run()
    except (Invalid, Conflict) as exc:
        if exc.code not in RESULT_REFUSALS:
            raise
        db.session.rollback()
        alerts.result_refused(batch_id, exc.message, content_digest)
        raise


def import_result_file(actor: Actor, batch_id: int, stream, *, file_sha256: str,
                       idempotency_key: str | None) -> dict:
    """The bank's result file (回盘文件) for a sent batch; refused whole with a report if anything disagrees."""
    def work():
        batch = load_batch(actor, batch_id, "batch.results", for_update=True)
        if batch.bank_layout is None:
            # Never exported: no format to read it with, and nothing to answer (refused as any early result).
            BATCH_MACHINE.check(batch.status, "feedback_received")
        # Read with the format the payment file was written in, whatever the bank uses now.
        header, details, digest = bankformats.format_named(batch.bank_layout).parse_result_file(stream)
        return _apply_results(actor, batch, header, details, digest=digest)
    return _telling_refusals(batch_id, file_sha256, lambda: idempotency.run(
        actor, "batch.results", idempotency_key, {"batch_id": batch_id, "file": file_sha256}, work))


def import_result_json(actor: Actor, batch_id: int, data: dict, *, idempotency_key: str | None) -> dict:
    """The same as a result file, through the bank API: batch number, totals and one result per line."""
    items = data["results"]

    def work():
        batch = load_batch(actor, batch_id, "batch.results", for_update=True)
        header = bankformats.ResultHeader(data["batch_number"], data["count"], data["total_fen"], None)
        details = (bankformats.parse_result_item(i["line_id"], i["amount_fen"], i["outcome"], i.get("failure_code") or "",
                                               i.get("reason") or "", where=f"第{n}条", seq=n,
                                               value_date=i.get("value_date"))
                   for n, i in enumerate(items, start=1))
        return _apply_results(actor, batch, header, details, digest=None)
    body = {"batch_id": batch_id, "data": data}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return _telling_refusals(batch_id, digest,
                             lambda: idempotency.run(actor, "batch.results", idempotency_key, body, work))


def _refuse(message: str, problems: list[str], code: str) -> None:
    raise Conflict(message + "：" + "；".join(problems[:5]), code=code, field="file", details={"problems": problems})


def _apply_results(actor: Actor, batch: Batch, header, details, *, digest) -> dict:
    if batch.status != "sent":
        BATCH_MACHINE.check(batch.status, "feedback_received")
    problems: list[str] = []
    if header.batch_number != batch.number:
        _refuse("回盘结果不属于该批次，未做任何变更",
                [f"文件批次号为 {header.batch_number[:40]}，应为 {batch.number}"], "wrong_batch")
    check_totals(batch)
    token = uuid.uuid4().hex
    count = fen = 0
    st = ResultStaging.__table__
    _bulk_cache()
    columns = ["token", "seq", "line_id", "amount_fen", "outcome", "failure_code", "failure_reason", "value_date"]
    buf: list[tuple] = []
    for item in details:    # (seq, line id, amount fen, outcome, failure code, failure reason, value date)
        count += 1
        fen += item[2]
        buf.append((token, *item))
        if len(buf) >= CHUNK:
            bulk_insert(st, columns, buf)
            buf = []
    bulk_insert(st, columns, buf)
    if digest is not None and digest.hexdigest() != header.checksum:
        problems.append("明细校验值（SHA-256）与首行不符，文件可能被改动或不完整")
    if (count, fen) != (header.count, header.total_fen):
        problems.append(f"首行合计为 {header.count} 笔 {format_yuan(header.total_fen)}，明细实为 {count} 笔 "
                        f"{format_yuan(fen)}")
    if (header.count, header.total_fen) != (batch.submitted_count, batch.submitted_fen):
        problems.append(f"批次合计为 {batch.submitted_count} 笔 {format_yuan(batch.submitted_fen)}，回盘合计为 "
                        f"{header.count} 笔 {format_yuan(header.total_fen)}")
    problems += _line_problems(batch, token, count)
    now = utcnow()
    bank_at, date_problems = _value_dates(batch, token, now, unit="条" if digest is None else "行")
    problems += date_problems
    if problems:
        db.session.rollback()
        _refuse("回盘结果与批次不符，已全部拒收，未做任何变更", problems, "result_rejected")
    move_lines(("paid", "failed"), _lines.c.batch_id == batch.id, _lines.c.id == st.c.line_id, st.c.token == token,
               status=st.c.outcome, outcome=st.c.outcome, failure_code=st.c.failure_code,
               failure_reason=st.c.failure_reason, result_at=now, bank_at=bank_at)
    _write_ledger(batch, now)
    db.session.execute(sa.delete(st).where(st.c.token == token))
    paid_count, paid_fen, failed_count, failed_fen = _outcomes(batch.id)
    BATCH_MACHINE.transition(batch, "feedback_received", actor, extra_values={
        "paid_count": paid_count, "paid_fen": paid_fen, "failed_count": failed_count, "failed_fen": failed_fen},
        audit_after={"paid": paid_count, "failed": failed_count})
    alerts.batch_results_arrived(batch, paid=paid_count, failed=failed_count)
    return batch_view(batch)


def _value_dates(batch: Batch, token: str, now: datetime, *, unit: str):
    """The staged value dates as each line's ``bank_at`` (a SQL expression over the staging row), and the
    lines whose date cannot be right: before the day the file was sent, or after today.

    A date becomes the start of that day in local time, but never earlier than the file was sent (a line paid
    the day it was sent was paid after it was sent) nor later than now. A result has few distinct dates, so
    they are mapped in Python once each and applied by one CASE.
    """
    st = ResultStaging.__table__
    days = db.session.execute(sa.select(st.c.value_date).where(st.c.token == token, st.c.value_date.is_not(None))
                              .distinct()).scalars().all()
    if not days:
        return None, []
    sent_at = batch.sent_at or now
    first_day, today = to_local(sent_at).date(), to_local(now).date()
    wrong = [d for d in days if not first_day <= d <= today]
    if wrong:
        lines = db.session.execute(sa.select(st.c.seq, st.c.value_date).where(st.c.token == token,
                                                                                st.c.value_date.in_(wrong))
                                   .order_by(st.c.seq).limit(5)).all()
        return None, [f"第{seq}{unit}入账日期 {day.isoformat()} 不在代发文件发送之日（{first_day.isoformat()}）"
                      f"至今天（{today.isoformat()}）之间" for seq, day in lines]

    def moment(day: date) -> datetime:
        return min(max(local_day_start(day), sent_at), now)
    return sa.case(*[(st.c.value_date == d, sa.literal(moment(d), sa.DateTime)) for d in days],
                   else_=sa.null()), []


def _line_problems(batch: Batch, token: str, staged: int) -> list[str]:
    """What is wrong with the staged results line by line: repeats, strangers, wrong amounts, missing lines.

    A consistent file (the usual case) is recognised with two cheap passes: every staged result joins a sent line
    of this batch with the same amount, no line is answered twice, and as many results as sent lines, so
    together they answer each sent line exactly once and the four detailed queries below would all come back
    empty. Only otherwise are those run, for the report.
    """
    st = ResultStaging.__table__
    dup = db.session.execute(sa.select(st.c.line_id).where(st.c.token == token).group_by(st.c.line_id)
                             .having(sa.func.count() > 1).limit(1)).first()
    if dup is None:
        matched = db.session.execute(
            sa.select(sa.func.count()).select_from(st).join(_lines, _lines.c.id == st.c.line_id)
            .where(st.c.token == token, _lines.c.batch_id == batch.id, _lines.c.status == "sent",
                   _lines.c.amount_fen == st.c.amount_fen)).scalar()
        sent = db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch.id,
                                                                   _lines.c.status == "sent")).scalar()
        if matched == staged == sent:
            return []
    problems: list[str] = []
    dups = db.session.execute(sa.select(st.c.line_id).where(st.c.token == token).group_by(st.c.line_id)
                              .having(sa.func.count() > 1).limit(10)).scalars().all()
    if dups:
        problems.append("重复的明细：" + "、".join(map(str, dups)))
    unknown = db.session.execute(
        sa.select(st.c.line_id).where(st.c.token == token, ~sa.exists().where(
            _lines.c.id == st.c.line_id, _lines.c.batch_id == batch.id, _lines.c.status == "sent")).limit(10)
    ).scalars().all()
    if unknown:
        problems.append("不属于该批次的明细：" + "、".join(map(str, unknown)))
    wrong_amount = db.session.execute(
        sa.select(st.c.line_id).join(_lines, _lines.c.id == st.c.line_id)
        .where(st.c.token == token, _lines.c.batch_id == batch.id, _lines.c.amount_fen != st.c.amount_fen)
        .limit(10)).scalars().all()
    if wrong_amount:
        problems.append("金额与代发明细不符：" + "、".join(map(str, wrong_amount)))
    missing = db.session.execute(
        sa.select(_lines.c.id).where(_lines.c.batch_id == batch.id, _lines.c.status == "sent", ~sa.exists().where(
            st.c.token == token, st.c.line_id == _lines.c.id)).order_by(_lines.c.id).limit(10)).scalars().all()
    if missing:
        problems.append("缺少的明细：" + "、".join(map(str, missing)))
    return problems


def _outcomes(batch_id: int) -> tuple[int, int, int, int]:
    row = db.session.execute(sa.select(
        sa.func.count().filter(_lines.c.outcome == "paid"),
        sa.func.coalesce(sa.func.sum(_lines.c.amount_fen).filter(_lines.c.outcome == "paid"), 0),
        sa.func.count().filter(_lines.c.outcome == "failed"),
        sa.func.coalesce(sa.func.sum(_lines.c.amount_fen).filter(_lines.c.outcome == "failed"), 0),
    ).where(_lines.c.batch_id == batch_id)).one()
    return tuple(int(v) for v in row)


def _write_ledger(batch: Batch, now) -> None:
    """One ledger entry per line outcome and one arrival event per payment, set-based, in the import's transaction."""
    ledger.record_outcomes(batch.id, now, approved_at=batch.approved_at)
    at = ArrivalEvent.__table__
    db.session.execute(sa.insert(at).from_select(
        ["payment_key", "resident_id", "project_id", "period", "amount_fen", "bank_id", "account_last4",
         "payee_resident_id", "route", "paid_at", "created_at"],
        sa.select(sa.literal("line:") + sa.cast(_lines.c.id, sa.String), _lines.c.resident_id, _lines.c.project_id,
                  _lines.c.period, _lines.c.amount_fen, _lines.c.bank_id, _lines.c.account_last4,
                  sa.func.coalesce(_lines.c.payee_resident_id, _lines.c.resident_id), _lines.c.route,
                  ledger.moved_at(now), sa.literal(now, sa.DateTime))
        .where(_lines.c.batch_id == batch.id, _lines.c.outcome == "paid", _lines.c.result_at == now)))



def reconciliation_figures(batch: Batch) -> dict:
    """The batch's reconciliation (对账) figures, at any time after its results: sent = paid + failed (the bank's
    answers), equal to the totals fixed at submission and to the ledger's results; its returns (退汇) each with a
    reversal entry in the ledger; what reached residents = paid − returned + returned-and-repaid; ``balanced``."""
    sent_count, sent_fen = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_lines.c.amount_fen), 0))
        .where(_lines.c.batch_id == batch.id,
               _lines.c.status.in_(("sent", "paid", "failed", "superseded", "returned", "written_off")))
    ).one()
    paid_count, paid_fen, failed_count, failed_fen = _outcomes(batch.id)
    lt = LedgerEntry.__table__
    ledger_count, ledger_fen = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(lt.c.amount_fen), 0))
        .where(lt.c.batch_id == batch.id, lt.c.outcome.in_(("paid", "failed")))).one()
    figures = {"sent_count": int(sent_count), "sent_fen": int(sent_fen), "paid_count": paid_count,
               "paid_fen": paid_fen, "failed_count": failed_count, "failed_fen": failed_fen,
               "ledger_count": int(ledger_count), "ledger_fen": int(ledger_fen), **returns.figures(batch.id)}
    figures["received_count"] = paid_count - figures["returned_count"] + figures["returned_repaid_count"]
    figures["received_fen"] = paid_fen - figures["returned_fen"] + figures["returned_repaid_fen"]
    figures["balanced"] = (
        figures["sent_count"] == paid_count + failed_count == batch.submitted_count == figures["ledger_count"]
        and figures["sent_fen"] == paid_fen + failed_fen == batch.submitted_fen == figures["ledger_fen"]
        and (figures["returned_count"], figures["returned_fen"])
        == (figures["ledger_returned_count"], figures["ledger_returned_fen"]))
    return figures


def reconcile(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """对账: sent = paid + failed in count and fen, equal to the totals fixed at submission and to the ledger,
    and every return (退汇) reversed in the ledger."""
    def work():
        batch = load_batch(actor, batch_id, "batch.reconcile", for_update=True)
        if batch.status != "feedback_received":
            BATCH_MACHINE.check(batch.status, "reconciled")
        check_totals(batch)
        figures = reconciliation_figures(batch)
        if not figures["balanced"]:
            raise Conflict("对账不平：发送笔数金额与成功加失败或台账不一致，请核查", code="reconcile_mismatch",
                           details=figures)
        BATCH_MACHINE.transition(batch, "reconciled", actor, audit_after=figures)
        return {**batch_view(batch), "reconciliation": figures}
    return idempotency.run(actor, "batch.reconcile", idempotency_key, {"batch_id": batch_id}, work)
