"""Disbursement use cases (发放): agreements, batches with maker-checker approval, bank files and results,
failures and re-issue, reconciliation. Each public function is one transaction.

Unsafe calls (submit, review, approve, return, send, results, re-issue) take an idempotency key:
a retry with the same key returns the first answer and changes nothing (see idempotency.py).
"""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from onecard import audit, privacy
from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments import bankfiles, idempotency, ledger, routing
from onecard.payments.lifecycle import BATCH_LABELS, BATCH_MACHINE
from onecard.payments.models import (
    Agreement,
    ArrivalEvent,
    Batch,
    BatchLine,
    LedgerEntry,
    PassbookAccount,
    ResultStaging,
    agreement_projects,
)
from onecard.people.models import Resident
from onecard.privacy import blind_index, last4, mask_last4
from onecard.projects.models import Project
from onecard.reference.models import Bank
from onecard.staff import permissions
from onecard.timeutil import local_day_start, local_today, to_local, utcnow
from onecard.validation import format_yuan, normalize_bank_card, normalize_text, parse_period

permissions.register({
    "agreement.manage": {"admin", "dept_operator"},
    "agreement.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "passbook.manage": {"admin", "dept_operator"},
    "batch.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "batch.create": {"dept_operator"},
    "batch.submit": {"dept_operator"},
    "batch.review": {"dept_reviewer"},
    "batch.approve": {"finance"},
    "batch.return": {"dept_reviewer", "finance"},
    "batch.cancel": {"dept_operator"},
    "batch.export": {"bank_operator"},
    "batch.results": {"bank_operator"},
    "batch.reconcile": {"dept_operator", "finance"},
    "batch.close": {"finance"},
    "payment.failures": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "bank_operator"},
    "payment.reissue": {"dept_operator"},
    "ledger.export": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
    "ledger.supervise": {"admin", "finance", "auditor"},
})

PAYABLE_LINE_STATES = ("pending", "sent", "paid", "failed", "superseded")   # counted in a batch's totals
CHUNK = 5000
_lines = BatchLine.__table__


# ---------------------------------------------------------------- agreements and passbooks

def create_agreement(actor: Actor, data: dict) -> Agreement:
    """Register a 代发协议 between a department and a bank for some of its projects. Refuses other departments'."""
    permissions.require(actor, "agreement.manage")
    department_id = permissions.target_department(actor, data.get("department_id"), what="代发协议")
    if db.session.get(Bank, data["bank_id"]) is None:
        raise Invalid("代发银行不存在", code="bank_not_found", field="bank_id")
    if data["valid_from"] > data["valid_until"]:
        raise Invalid("协议有效期起始日不能晚于截止日", code="agreement_validity", field="valid_until")
    project_ids = sorted(set(data["project_ids"]))
    if not project_ids:
        raise Invalid("请选择委托代发的项目", code="agreement_projects_required", field="project_ids")
    projects = db.session.execute(sa.select(Project).where(Project.id.in_(project_ids))).scalars().all()
    if len(projects) != len(project_ids) or any(p.department_id != department_id for p in projects):
        raise Invalid("委托项目须为本部门的已登记项目", code="agreement_project_scope", field="project_ids")
    if data.get("feedback_method", "file") not in ("file", "api"):
        raise Invalid("回盘方式应为 file 或 api", code="feedback_method", field="feedback_method")
    number = normalize_text(data["number"], field="number", max_len=40)
    if db.session.execute(sa.select(Agreement.id).where(Agreement.number == number)).first():
        raise Conflict("协议编号已存在", code="agreement_number_taken", field="number")
    agreement = Agreement(
        number=number, department_id=department_id, bank_id=data["bank_id"],
        payment_schedule=normalize_text(data["payment_schedule"], field="payment_schedule", max_len=200),
        feedback_method=data.get("feedback_method", "file"),
        fund_supervision=normalize_text(data["fund_supervision"], field="fund_supervision", max_len=200),
        reconciliation_method=normalize_text(data["reconciliation_method"], field="reconciliation_method",
                                             max_len=200),
        valid_from=data["valid_from"], valid_until=data["valid_until"], created_by=actor.id)
    db.session.add(agreement)
    db.session.flush()
    db.session.execute(sa.insert(agreement_projects), [{"agreement_id": agreement.id, "project_id": p}
                                                       for p in project_ids])
    audit.record("agreement.created", actor=actor, entity_type="agreement", entity_id=agreement.id,
                 after={"number": number, "bank_id": agreement.bank_id, "projects": project_ids})
    db.session.commit()
    return agreement


def agreement_view(a: Agreement) -> dict:
    pids = db.session.execute(sa.select(agreement_projects.c.project_id)
                              .where(agreement_projects.c.agreement_id == a.id)).scalars().all()
    return {"id": a.id, "number": a.number, "department_id": a.department_id, "bank_id": a.bank_id,
            "project_ids": sorted(pids), "payment_schedule": a.payment_schedule,
            "feedback_method": a.feedback_method, "fund_supervision": a.fund_supervision,
            "reconciliation_method": a.reconciliation_method, "valid_from": a.valid_from.isoformat(),
            "valid_until": a.valid_until.isoformat(), "status": a.status}


def list_agreements(actor: Actor) -> list[dict]:
    permissions.require(actor, "agreement.read")
    rows = db.session.execute(sa.select(Agreement).where(permissions.scope_filter(actor, Agreement))
                              .order_by(Agreement.id)).scalars().all()
    return [agreement_view(a) for a in rows]


def valid_agreement(project: Project, on: date) -> Agreement:
    """The active agreement between the project's department and its agent bank covering it on ``on``."""
    if project.bank_id is None:
        raise Conflict("该项目未指定代发银行，请先在项目中登记代发银行", code="project_without_bank", field="project_id")
    agreement = db.session.execute(
        sa.select(Agreement).join(agreement_projects, agreement_projects.c.agreement_id == Agreement.id)
        .where(agreement_projects.c.project_id == project.id, Agreement.department_id == project.department_id,
               Agreement.bank_id == project.bank_id, Agreement.status == "active",
               Agreement.valid_from <= on, Agreement.valid_until >= on).order_by(Agreement.id.desc())
    ).scalars().first()
    if agreement is None:
        raise Conflict("没有覆盖该项目和日期的有效代发协议，请先与代发银行签订（或续签）协议",
                       code="no_valid_agreement", field="project_id")
    return agreement


def _require_passbook_scope(actor: Actor, resident_id: int, bank_id: int) -> None:
    """A department records passbooks only for its own recipients, at a bank that pays one of its projects
    still paid by passbook: a passbook account redirects money, so no department may set one for another's
    people (the bureau's administrator may, for any)."""
    own_recipient = db.session.execute(
        sa.select(RecipientRow.id).join(RecipientList, RecipientList.id == RecipientRow.list_id)
        .where(RecipientRow.resident_id == resident_id, RecipientList.department_id == actor.department_id)
        .limit(1)).first()
    if own_recipient is None:
        raise NotFound("该居民不在本部门的发放名单中", code="resident_not_in_scope", field="resident_id")
    pays_by_passbook = db.session.execute(
        sa.select(Project.id).where(Project.department_id == actor.department_id, Project.via_passbook.is_(True),
                                    Project.bank_id == bank_id).limit(1)).first()
    if pays_by_passbook is None:
        raise Invalid("本部门没有由该银行通过一本通发放的项目", code="passbook_bank_scope", field="bank_id")


def register_passbook(actor: Actor, resident_id: int, bank_id: int, account: str) -> PassbookAccount:
    """Record a resident's 一本通 passbook account (used only for projects still paid by passbook)."""
    permissions.require(actor, "passbook.manage")
    if db.session.get(Resident, resident_id) is None:
        raise NotFound("居民不存在", code="resident_not_found", field="resident_id")
    if db.session.get(Bank, bank_id) is None:
        raise NotFound("银行不存在", code="bank_not_found", field="bank_id")
    if actor.kind == "staff" and actor.role == "dept_operator":
        _require_passbook_scope(actor, resident_id, bank_id)
    account = normalize_bank_card(account, field="account", luhn=False)
    pb = PassbookAccount(resident_id=resident_id, bank_id=bank_id, account=account,
                         account_bidx=blind_index(account, "account"), account_last4=last4(account))
    db.session.add(pb)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("该居民在此银行已登记一本通账户", code="passbook_exists", field="resident_id") from None
    audit.record("passbook.registered", actor=actor, entity_type="passbook", entity_id=pb.id,
                 after={"resident_id": resident_id, "bank_id": bank_id, "account_last4": pb.account_last4})
    db.session.commit()
    return pb


# ---------------------------------------------------------------- batches

def batch_view(b: Batch) -> dict:
    project = db.session.get(Project, b.project_id)
    return {
        "id": b.id, "number": b.number, "kind": b.kind, "project_id": b.project_id,
        "project_name": project.name if project else None, "department_id": b.department_id,
        "bank_id": b.bank_id, "agreement_id": b.agreement_id, "period": b.period, "status": b.status,
        "status_label": BATCH_LABELS.get(b.status, b.status), "line_count": b.line_count, "total_fen": b.total_fen,
        "total_yuan": format_yuan(b.total_fen or 0), "held_count": b.held_count,
        "submitted_count": b.submitted_count, "submitted_fen": b.submitted_fen, "paid_count": b.paid_count,
        "paid_fen": b.paid_fen, "failed_count": b.failed_count, "failed_fen": b.failed_fen,
        "file_sha256": b.file_sha256, "bank_layout": b.bank_layout, "return_reason": b.return_reason,
        "created_by": b.created_by, "submitted_by": b.submitted_by, "reviewed_by": b.reviewed_by,
        "approved_by": b.approved_by,
        "approved_at": b.approved_at.isoformat() if b.approved_at else None,
    }


def _load(actor: Actor, batch_id: int, action: str, *, for_update: bool = False) -> Batch:
    stmt = sa.select(Batch).where(Batch.id == batch_id)
    if for_update and db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    batch = db.session.execute(stmt).scalar_one_or_none()
    # Out of scope looks like absent: a bank or department learns nothing of others' batches.
    if batch is None or not permissions.in_scope(actor, batch):
        raise NotFound("发放批次不存在", code="batch_not_found")
    permissions.require(actor, action, batch)
    return batch


def get_batch(actor: Actor, batch_id: int) -> dict:
    return batch_view(_load(actor, batch_id, "batch.read"))


def list_batches(actor: Actor, *, status: str | None = None, project_id: int | None = None,
                 period: str | None = None) -> list[dict]:
    permissions.require(actor, "batch.read")
    stmt = sa.select(Batch).where(permissions.scope_filter(actor, Batch))
    if status:
        stmt = stmt.where(Batch.status == status)
    if project_id:
        stmt = stmt.where(Batch.project_id == project_id)
    if period:
        stmt = stmt.where(Batch.period == parse_period(period))
    return [batch_view(b) for b in db.session.execute(stmt.order_by(Batch.id.desc()).limit(500)).scalars()]


def _totals(batch_id: int) -> tuple[int, int]:
    count, fen = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_lines.c.amount_fen), 0))
        .where(_lines.c.batch_id == batch_id, _lines.c.status.in_(PAYABLE_LINE_STATES))
    ).one()
    return int(count), int(fen)


def _check_totals(batch: Batch) -> None:
    """Totals fixed at submission must still equal the lines (recomputed in SQL) at every later step."""
    count, fen = _totals(batch.id)
    if (count, fen) != (batch.submitted_count, batch.submitted_fen):
        raise Conflict(f"批次明细合计（{count}笔，{format_yuan(fen)}）与提交时确定的合计（{batch.submitted_count}笔，"
                       f"{format_yuan(batch.submitted_fen or 0)}）不一致，已停止办理，请联系管理员核查",
                       code="totals_mismatch", field="batch",
                       details={"lines": {"count": count, "fen": fen},
                                "fixed": {"count": batch.submitted_count, "fen": batch.submitted_fen}})


def _new_batch(actor: Actor, project: Project, period: str, agreement: Agreement, kind: str,
               list_id: int | None) -> Batch:
    batch = Batch(kind=kind, project_id=project.id, department_id=project.department_id, bank_id=project.bank_id,
                  agreement_id=agreement.id, list_id=list_id, period=period, status="draft", created_by=actor.id)
    db.session.add(batch)
    db.session.flush()
    prefix = "BF" if kind == "reissue" else "PB"
    batch.number = f"{prefix}{period.replace('-', '')}{project.code or project.id}{batch.id:06d}"
    return batch


def _insert_lines(batch: Batch, project: Project, source: list[dict], routed: list[dict], now) -> None:
    rows = []
    for src, r in zip(source, routed, strict=True):
        rows.append({
            "batch_id": batch.id, "recipient_row_id": src.get("recipient_row_id"), "resident_id": src["resident_id"],
            "project_id": project.id, "department_id": project.department_id, "period": batch.period,
            "name": src["name"], "amount_fen": src["amount_fen"], "status": r["status"], "route": r["route"],
            "route_reason": r["route_reason"], "payee_resident_id": r["payee_resident_id"],
            "payee_name": r["payee_name"], "bank_id": r["bank_id"], "account": r["account"],
            "account_last4": r["account_last4"], "account_bidx": r["account_bidx"],
            "proxy_appointment_id": r["proxy_appointment_id"],
            "town_id": r["town_id"], "village_id": r["village_id"], "outcome": None, "failure_code": None,
            "failure_reason": None, "reissue_of_line_id": src.get("reissue_of_line_id"), "result_at": None,
            "created_at": now})
    if rows:
        _executemany(_lines.name, rows)


BULK_CACHE_KIB = 65536


def _bulk_cache() -> None:
    """A bigger SQLite page cache for the bulk steps (fixed size, whatever the batch size).

    The default 2 MiB cache cannot hold the index pages a million-line insert or update walks through (the
    ledger's account index is in random order), and every miss is a read from the OS. The setting stays on
    the pooled connection; PostgreSQL sizes its buffers itself.
    """
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")


def _insert_sql(table: str, cols: list[str]) -> str:
    """An INSERT for a driver-level executemany of plain tuples (the bulk paths' hot loop)."""
    mark = "?" if db.session.connection().dialect.paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"


def _executemany(table: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    db.session.connection().exec_driver_sql(_insert_sql(table, cols), [tuple(r[c] for c in cols) for r in rows])


def _refresh_counts(batch: Batch) -> None:
    count, fen = _totals(batch.id)
    held = db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch.id,
                                                               _lines.c.status == "held")).scalar()
    batch.line_count, batch.total_fen, batch.held_count = count, fen, int(held)


def create_batch(actor: Actor, project_id: int, period: str, *, list_id: int | None = None,
                 idempotency_key: str | None, today: date | None = None) -> dict:
    """A department operator makes a draft batch from the matched list(s) of a project and period.

    Everyone listed who has no live line yet for the project and period is routed; those who cannot be
    routed are held with the reason. Refuses without a valid agreement, and refuses a batch with nothing
    to pay (everyone already in a batch or held). Two operators at once: the second is refused by the
    never-twice index (409 already_in_batch) or finds nobody left (409 nothing_to_pay).
    """
    permissions.require(actor, "batch.create")
    period = parse_period(period)
    return idempotency.run(actor, "batch.create", idempotency_key,
                           {"project_id": project_id, "period": period, "list_id": list_id},
                           lambda: _create_batch(actor, project_id, period, list_id, today))


def batchable_lists(actor: Actor) -> list[dict]:
    """Matched lists of the operator's projects a batch can be made from (the console's list picker)."""
    permissions.require(actor, "batch.create")
    rows = db.session.execute(
        sa.select(RecipientList.id, RecipientList.period, RecipientList.row_count, RecipientList.total_fen,
                  RecipientList.file_name, Project.id, Project.name)
        .join(Project, Project.id == RecipientList.project_id)
        .where(RecipientList.status == "matched", permissions.scope_filter(actor, RecipientList))
        .order_by(RecipientList.id.desc()).limit(200)).all()
    return [{"id": i, "period": per, "row_count": n, "total_yuan": format_yuan(fen or 0), "file_name": f,
             "project_id": pid, "project_name": pname} for i, per, n, fen, f, pid, pname in rows]


def create_batch_from_list(actor: Actor, list_id: int, *, idempotency_key: str | None) -> dict:
    """create_batch for one chosen matched list (its project and period are the list's)."""
    permissions.require(actor, "batch.create")
    recipient_list = db.session.get(RecipientList, list_id)
    if recipient_list is None or not permissions.in_scope(actor, recipient_list):
        raise NotFound("发放名单不存在", code="list_not_found", field="list_id")
    return create_batch(actor, recipient_list.project_id, recipient_list.period, list_id=list_id,
                        idempotency_key=idempotency_key)


def _create_batch(actor: Actor, project_id: int, period: str, list_id: int | None, today: date | None) -> dict:
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
    permissions.require(actor, "batch.create", project)
    if project.status != "coded":
        raise Conflict("项目尚未编码或已停用，不能发放", code="project_not_payable", field="project_id")
    today = today or local_today()
    agreement = valid_agreement(project, today)
    batch = _new_batch(actor, project, period, agreement, "regular", list_id)
    # Uncorrelated on purpose: evaluated once (hashed), not once per row (a correlated NOT EXISTS was quadratic
    # on SQLite, whose planner chose the project/period index for each row).
    live = sa.select(_lines.c.resident_id).where(_lines.c.project_id == project.id, _lines.c.period == period,
                                                 _lines.c.resident_id.is_not(None),
                                                 _lines.c.status.in_(("pending", "sent", "paid", "failed")))
    listed = (sa.select(RecipientRow.id, RecipientRow.resident_id, RecipientRow.match_result, RecipientRow.name,
                        RecipientRow.amount_fen)
              .join(RecipientList, RecipientList.id == RecipientRow.list_id)
              .where(RecipientList.project_id == project.id, RecipientList.period == period,
                     RecipientList.status == "matched")
              .order_by(RecipientRow.id))
    stmt = listed.where(sa.or_(RecipientRow.resident_id.is_(None), RecipientRow.resident_id.not_in(live)))
    # The usual first batch of a period finds no live line: the set-based insert then leaves the filter out,
    # because an INSERT whose SELECT reads batch_lines makes SQLite stage every selected row in a temporary
    # table first (a third slower at scale). Same rows either way; a line made meanwhile by a concurrent batch
    # still meets the never-twice index (409 already_in_batch), as with the filter.
    any_live = db.session.execute(sa.select(sa.exists(live))).scalar()
    if list_id:
        stmt = stmt.where(RecipientList.id == list_id)
        listed = listed.where(RecipientList.id == list_id)
    now = utcnow()
    _bulk_cache()
    try:
        inserted = routing.insert_own_card_lines(batch, project, (stmt if any_live else listed)
                                                 .with_only_columns(RecipientRow.id).order_by(None), now)
        listed_count = db.session.execute(listed.with_only_columns(sa.func.count(RecipientRow.id))
                                          .order_by(None)).scalar()
        # Each listed row gives at most one line (one active card per person; a second would break the
        # never-twice index), so when every listed row got its line nobody is left to route one by one.
        last_id = 0 if inserted < listed_count else None
        while last_id is not None:
            chunk = db.session.execute(stmt.where(RecipientRow.id > last_id).limit(CHUNK)).all()
            if not chunk:
                break
            last_id = chunk[-1].id
            source = [{"recipient_row_id": r.id, "resident_id": r.resident_id, "match_result": r.match_result,
                       "name": r.name, "amount_fen": r.amount_fen} for r in chunk]
            _insert_lines(batch, project, source, routing.route_rows(project, source, today), now)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("名单中有人已在其他发放批次中（同一项目同一期间每人只能发放一次）", code="already_in_batch") from None
    # Held lines of earlier batches whose person is now in this one are closed as rejoined.
    db.session.execute(
        sa.update(_lines).where(_lines.c.status == "held", _lines.c.project_id == project.id,
                                _lines.c.period == period, _lines.c.batch_id != batch.id,
                                _lines.c.recipient_row_id.in_(sa.select(_lines.c.recipient_row_id)
                                                              .where(_lines.c.batch_id == batch.id)))
        .values(status="rejoined"))
    _refresh_counts(batch)
    if batch.line_count == 0:
        raise Conflict("没有可发放的明细：名单中的人员已在其他批次中，或全部暂缓（见暂缓原因）", code="nothing_to_pay")
    audit.record("batch.created", actor=actor, entity_type="batch", entity_id=batch.id,
                 after={"number": batch.number, "lines": batch.line_count, "fen": batch.total_fen,
                        "held": batch.held_count})
    return batch_view(batch)


def _is_maker(actor: Actor, batch: Batch, *, step: str) -> bool:
    makers = {batch.submitted_by} if step == "review" else {batch.submitted_by, batch.reviewed_by}
    return actor.id is not None and actor.id in makers


def _returner_role(status: str) -> str:
    """Who sends a batch back: the department reviewer before review, finance after."""
    return "dept_reviewer" if status == "submitted" else "finance"


def _maker_checker(actor: Actor, batch: Batch, *, step: str) -> None:
    if _is_maker(actor, batch, step=step):
        raise Forbidden("经办与审核、审批须由不同人员办理：您已办理过该批次的前一环节", code="maker_checker")


def submit(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The department operator submits a draft (or corrected) batch; its totals are fixed now."""
    def work():
        batch = _load(actor, batch_id, "batch.submit", for_update=True)
        count, fen = _totals(batch.id)
        if count == 0:
            raise Conflict("批次没有可发放的明细", code="nothing_to_pay")
        BATCH_MACHINE.transition(batch, "submitted", actor, extra_values={
            "submitted_by": actor.id, "submitted_count": count, "submitted_fen": fen, "line_count": count,
            "total_fen": fen, "reviewed_by": None, "approved_by": None},
            audit_after={"count": count, "fen": fen})
        return batch_view(batch)
    return idempotency.run(actor, "batch.submit", idempotency_key, {"batch_id": batch_id}, work)


def review(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The department reviewer checks a submitted batch (never one they submitted)."""
    def work():
        batch = _load(actor, batch_id, "batch.read", for_update=True)
        _maker_checker(actor, batch, step="review")
        permissions.require(actor, "batch.review", batch)
        _check_totals(batch)
        BATCH_MACHINE.transition(batch, "reviewed", actor, extra_values={"reviewed_by": actor.id})
        return batch_view(batch)
    return idempotency.run(actor, "batch.review", idempotency_key, {"batch_id": batch_id}, work)


def approve(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """Finance approves a reviewed batch (never one they submitted or reviewed); the agreement must still be valid."""
    def work():
        batch = _load(actor, batch_id, "batch.read", for_update=True)
        _maker_checker(actor, batch, step="approve")
        permissions.require(actor, "batch.approve", batch)
        _check_totals(batch)
        valid_agreement(db.session.get(Project, batch.project_id), local_today())
        BATCH_MACHINE.transition(batch, "approved", actor, extra_values={"approved_by": actor.id})
        return batch_view(batch)
    return idempotency.run(actor, "batch.approve", idempotency_key, {"batch_id": batch_id}, work)


def return_batch(actor: Actor, batch_id: int, reason: str, *, idempotency_key: str | None) -> dict:
    """退回修改: the reviewer (submitted) or finance (reviewed, approved) sends a batch back with the reason."""
    reason = normalize_text(reason, field="reason", max_len=300)

    def work():
        batch = _load(actor, batch_id, "batch.return", for_update=True)
        if batch.status in ("submitted", "reviewed", "approved") and actor.role != _returner_role(batch.status):
            raise Forbidden("当前环节不由您的岗位退回", code="forbidden_role")
        BATCH_MACHINE.transition(batch, "returned", actor, extra_values={"return_reason": reason}, note=reason)
        return batch_view(batch)
    return idempotency.run(actor, "batch.return", idempotency_key, {"batch_id": batch_id, "reason": reason}, work)


def remove_line(actor: Actor, line_id: int, reason: str) -> dict:
    """The operator takes a line out of a draft or returned batch (correction); the person may join a later batch."""
    line = db.session.get(BatchLine, line_id)
    if line is None:
        raise NotFound("明细不存在", code="line_not_found")
    batch = _load(actor, line.batch_id, "batch.submit")
    if batch.status not in ("draft", "returned"):
        raise Conflict("只有草稿或退回的批次可以调整明细", code="batch_not_editable")
    if line.status not in ("pending", "held"):
        raise Conflict("该明细不能移出", code="line_not_removable")
    reason = normalize_text(reason, field="reason", max_len=200)
    db.session.execute(sa.update(_lines).where(_lines.c.id == line.id).values(status="cancelled"))
    _restore_superseded([line.id])
    _refresh_counts(batch)
    audit.record("batch.line_removed", actor=actor, entity_type="batch", entity_id=batch.id,
                 after={"line_id": line.id}, note=reason)
    db.session.commit()
    return batch_view(batch)


def _restore_superseded(cancelled_line_ids: list[int] | None = None, batch_id: int | None = None) -> None:
    """A cancelled re-issue line gives its original failure back to the worklist (it becomes live again)."""
    src = sa.select(_lines.c.reissue_of_line_id).where(_lines.c.reissue_of_line_id.is_not(None))
    src = src.where(_lines.c.id.in_(cancelled_line_ids)) if cancelled_line_ids else src.where(
        _lines.c.batch_id == batch_id, _lines.c.status == "cancelled")
    db.session.execute(sa.update(_lines).where(_lines.c.id.in_(src), _lines.c.status == "superseded")
                       .values(status="failed"))


def cancel(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """作废 a draft or returned batch: its lines leave the never-twice index and may be paid in another batch."""
    def work():
        batch = _load(actor, batch_id, "batch.cancel", for_update=True)
        BATCH_MACHINE.transition(batch, "cancelled", actor)
        db.session.execute(sa.update(_lines).where(_lines.c.batch_id == batch.id,
                                                   _lines.c.status.in_(("pending", "held")))
                           .values(status="cancelled"))
        _restore_superseded(batch_id=batch.id)
        return batch_view(batch)
    return idempotency.run(actor, "batch.cancel", idempotency_key, {"batch_id": batch_id}, work)


# The steps a batch page offers: (step, permission action, target state of the lifecycle).
BATCH_STEPS = (
    ("submit", "batch.submit", "submitted"), ("review", "batch.review", "reviewed"),
    ("approve", "batch.approve", "approved"), ("return", "batch.return", "returned"),
    ("cancel", "batch.cancel", "cancelled"), ("export", "batch.export", "sent"),
    ("results", "batch.results", "feedback_received"), ("reconcile", "batch.reconcile", "reconciled"),
    ("close", "batch.close", "closed"),
)
# The main path shown as a row of steps: state, who-column (None: read from the audit trail).
BATCH_PATH = (("draft", "created_by"), ("submitted", "submitted_by"), ("reviewed", "reviewed_by"),
              ("approved", "approved_by"), ("sent", "sent_by"), ("feedback_received", None),
              ("reconciled", None), ("closed", None))


def available_actions(actor: Actor, batch: Batch) -> list[str]:
    """The steps this actor may take on this batch now: a move the lifecycle allows from its state, a role the
    policy permits, in scope, and not the maker checking their own work. The step functions still check all of
    it themselves; this only decides which buttons a page shows."""
    steps = []
    for step, action, target in BATCH_STEPS:
        if not (BATCH_MACHINE.allowed(batch.status, target) and permissions.can(actor, action)
                and permissions.in_scope(actor, batch)):
            continue
        if step in ("review", "approve") and _is_maker(actor, batch, step=step):
            continue
        if step == "return" and actor.role != _returner_role(batch.status):
            continue
        steps.append(step)
    return steps


def batch_page(actor: Actor, batch_id: int, *, limit: int = 50, offset: int = 0) -> dict:
    """Everything a batch's page shows: the view, the path of states with who and when (from the audit trail),
    the totals that must agree, held lines with reasons, one page of lines and the steps this actor may take."""
    batch = _load(actor, batch_id, "batch.read")
    trail = audit.entries_for("batch", batch.id)
    done_by: dict[str, tuple[str, object]] = {}
    for e in trail:
        state = "draft" if e.action in ("batch.created", "batch.reissue_created") else e.action.removeprefix("batch.")
        done_by[state] = (e.actor_label, e.at)
    reached = {s for s, _ in BATCH_PATH if getattr(batch, BATCH_MACHINE.timestamps.get(s, "created_at"), None)}
    order = [s for s, _ in BATCH_PATH]
    current = order.index(batch.status) if batch.status in order else -1
    path = [{"state": s, "label": BATCH_LABELS[s], "done": s in reached or i <= current,
             "current": i == current, "by": done_by.get(s, (None, None))[0],
             "at": getattr(batch, BATCH_MACHINE.timestamps.get(s, "created_at"), None)}
            for i, (s, _) in enumerate(BATCH_PATH)]
    count, fen = _totals(batch.id)
    totals = {"lines": (count, fen),
              "fixed": (batch.submitted_count, batch.submitted_fen) if batch.submitted_count is not None else None,
              "outcome": None}
    if batch.paid_count is not None:
        totals["outcome"] = (batch.paid_count + (batch.failed_count or 0),
                             (batch.paid_fen or 0) + (batch.failed_fen or 0))
    totals["fixed_agrees"] = totals["fixed"] is None or totals["fixed"] == totals["lines"]
    totals["outcome_agrees"] = totals["outcome"] is None or totals["outcome"] == totals["fixed"]
    held = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == batch.id, BatchLine.status == "held")
                              .order_by(BatchLine.id).limit(200)).scalars()
    line_total = db.session.execute(sa.select(sa.func.count()).where(_lines.c.batch_id == batch.id)).scalar()
    return {"batch": batch_view(batch), "path": path, "trail": trail, "totals": totals,
            "held": [line_view(x) for x in held], "lines": list_lines(actor, batch.id, limit=limit, offset=offset),
            "line_total": int(line_total), "actions": available_actions(actor, batch),
            "returned": batch.status in ("returned", "cancelled")}


def list_lines(actor: Actor, batch_id: int, *, status: str | None = None, limit: int = 200,
               offset: int = 0) -> list[dict]:
    batch = _load(actor, batch_id, "batch.read")
    stmt = sa.select(BatchLine).where(BatchLine.batch_id == batch.id)
    if status:
        stmt = stmt.where(BatchLine.status == status)
    rows = db.session.execute(stmt.order_by(BatchLine.id).limit(min(limit, 1000)).offset(offset)).scalars()
    return [line_view(x) for x in rows]


def line_view(x: BatchLine) -> dict:
    return {"id": x.id, "batch_id": x.batch_id, "resident_id": x.resident_id, "name": x.name,
            "project_id": x.project_id, "period": x.period, "amount_fen": x.amount_fen,
            "amount_yuan": format_yuan(x.amount_fen), "status": x.status, "route": x.route,
            "route_label": routing.ROUTE_LABELS.get(x.route or "", None), "route_reason": x.route_reason,
            "payee_name": x.payee_name, "bank_id": x.bank_id,
            "account_masked": mask_last4(x.account_last4),
            "outcome": x.outcome, "failure_code": x.failure_code, "failure_reason": x.failure_reason,
            "reissue_of_line_id": x.reissue_of_line_id, "town_id": x.town_id, "village_id": x.village_id,
            "bank_date": to_local(x.bank_at).date().isoformat() if x.bank_at else None}


# ---------------------------------------------------------------- bank files

def _file_dir() -> str:
    path = current_app.config.get("BANK_FILE_DIR") or os.path.join(current_app.instance_path, "bank_files")
    os.makedirs(path, exist_ok=True)
    return path


def bank_file_path(batch: Batch) -> str:
    return os.path.join(_file_dir(), f"{batch.number}.csv")


def export_bank_file(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The agent bank's operator takes the approved batch's payment file; the batch is marked sent.

    The file is kept under the instance folder so a retry (same key) or a re-download gets the same bytes.
    """
    def work():
        batch = _load(actor, batch_id, "batch.export", for_update=True)
        if batch.status != "approved":
            BATCH_MACHINE.check(batch.status, "sent")
        _check_totals(batch)
        bank = db.session.get(Bank, batch.bank_id)
        layout = bankfiles.layout_for(bank.code)
        project = db.session.get(Project, batch.project_id)
        path = bank_file_path(batch)
        # Written under a private name and put in place only once the batch is really marked sent,
        # so a concurrent (refused) export never touches the file the bank receives.
        tmp_path = f"{path}.{uuid.uuid4().hex}.tmp"
        _bulk_cache()

        checksum = bankfiles.write_payment_file(tmp_path, layout, batch.number, batch.submitted_count,
                                                batch.submitted_fen, _payment_rows(batch.id),
                                                project_code=project.code, period=batch.period)
        try:
            db.session.execute(sa.update(_lines).where(_lines.c.batch_id == batch.id,
                                                       _lines.c.status == "pending").values(status="sent"))
            BATCH_MACHINE.transition(batch, "sent", actor, extra_values={
                "sent_by": actor.id, "file_sha256": checksum, "bank_layout": layout.code},
                audit_after={"file_sha256": checksum})
        except BaseException:
            os.remove(tmp_path)
            raise
        os.replace(tmp_path, path)
        return {**batch_view(batch), "file_name": os.path.basename(path)}
    return idempotency.run(actor, "batch.export", idempotency_key, {"batch_id": batch_id}, work)


def _payment_rows(batch_id: int):
    """The pending lines of a batch in id order, in chunks of (id, payee name, account in clear, amount fen).

    One streamed query (a server-side cursor on PostgreSQL), ciphertext read raw and decrypted once per line
    here, so memory holds one chunk whatever the batch size.
    """
    decrypt = privacy.decryptor()
    result = db.session.execute(
        sa.select(_lines.c.id, _lines.c.payee_name, sa.type_coerce(_lines.c.account, routing.RAW), _lines.c.amount_fen)
        .where(_lines.c.batch_id == batch_id, _lines.c.status == "pending").order_by(_lines.c.id)
        .execution_options(yield_per=CHUNK))
    for part in result.partitions():
        yield [(line_id, name, decrypt(account), amount) for line_id, name, account, amount in part]


def sent_file(actor: Actor, batch_id: int) -> tuple[str, str]:
    """Re-download the payment file of a sent batch (bank operator)."""
    batch = _load(actor, batch_id, "batch.export")
    path = bank_file_path(batch)
    if batch.file_sha256 is None or not os.path.exists(path):
        raise NotFound("该批次尚未导出代发文件", code="bank_file_not_found")
    return path, os.path.basename(path)


def import_result_file(actor: Actor, batch_id: int, stream, *, file_sha256: str,
                       idempotency_key: str | None) -> dict:
    """The bank's result file (回盘文件) for a sent batch; refused whole with a report if anything disagrees."""
    def work():
        batch = _load(actor, batch_id, "batch.results", for_update=True)
        layout = bankfiles.layout_for(db.session.get(Bank, batch.bank_id).code)
        header, details, digest = bankfiles.parse_result_file(layout, stream)
        return _apply_results(actor, batch, header, details, digest=digest)
    return idempotency.run(actor, "batch.results", idempotency_key, {"batch_id": batch_id, "file": file_sha256},
                           work)


def import_result_json(actor: Actor, batch_id: int, data: dict, *, idempotency_key: str | None) -> dict:
    """The same as a result file, through the bank API: batch number, totals and one result per line."""
    items = data["results"]

    def work():
        batch = _load(actor, batch_id, "batch.results", for_update=True)
        header = bankfiles.ResultHeader(data["batch_number"], data["count"], data["total_fen"], None)
        details = (bankfiles.parse_result_item(i["line_id"], i["amount_fen"], i["outcome"], i.get("failure_code") or "",
                                               i.get("reason") or "", where=f"第{n}条", seq=n,
                                               value_date=i.get("value_date"))
                   for n, i in enumerate(items, start=1))
        return _apply_results(actor, batch, header, details, digest=None)
    body = {"batch_id": batch_id, "data": data}
    return idempotency.run(actor, "batch.results", idempotency_key, body, work)


def _refuse(message: str, problems: list[str], code: str) -> None:
    raise Conflict(message + "：" + "；".join(problems[:5]), code=code, field="file", details={"problems": problems})


def _apply_results(actor: Actor, batch: Batch, header, details, *, digest) -> dict:
    if batch.status != "sent":
        BATCH_MACHINE.check(batch.status, "feedback_received")
    problems: list[str] = []
    if header.batch_number != batch.number:
        _refuse("回盘结果不属于该批次，未做任何变更",
                [f"文件批次号为 {header.batch_number[:40]}，应为 {batch.number}"], "wrong_batch")
    _check_totals(batch)
    token = uuid.uuid4().hex
    count = fen = 0
    st = ResultStaging.__table__
    _bulk_cache()
    conn = db.session.connection()
    insert = _insert_sql(st.name, ["token", "seq", "line_id", "amount_fen", "outcome", "failure_code",
                                   "failure_reason", "value_date"])
    buf: list[tuple] = []
    for item in details:    # (seq, line id, amount fen, outcome, failure code, failure reason, value date)
        count += 1
        fen += item[2]
        buf.append((token, *item))
        if len(buf) >= CHUNK:
            conn.exec_driver_sql(insert, buf)
            buf = []
    if buf:
        conn.exec_driver_sql(insert, buf)
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
    db.session.execute(
        sa.update(_lines).where(_lines.c.batch_id == batch.id, _lines.c.id == st.c.line_id, st.c.token == token)
        .values(status=st.c.outcome, outcome=st.c.outcome, failure_code=st.c.failure_code,
                failure_reason=st.c.failure_reason, result_at=now, bank_at=bank_at))
    _write_ledger(batch, now)
    db.session.execute(sa.delete(st).where(st.c.token == token))
    paid_count, paid_fen, failed_count, failed_fen = _outcomes(batch.id)
    BATCH_MACHINE.transition(batch, "feedback_received", actor, extra_values={
        "paid_count": paid_count, "paid_fen": paid_fen, "failed_count": failed_count, "failed_fen": failed_fen},
        audit_after={"paid": paid_count, "failed": failed_count})
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


# ---------------------------------------------------------------- failures, re-issue, reconciliation

def failures(actor: Actor, *, project_id: int | None = None, period: str | None = None,
             limit: int = 500) -> list[dict]:
    """The worklist of failed payments (not yet re-issued) with the bank's reason, in the actor's scope."""
    permissions.require(actor, "payment.failures")
    stmt = (sa.select(BatchLine).join(Batch, Batch.id == BatchLine.batch_id)
            .where(BatchLine.status == "failed",
                   permissions.scope_filter(actor, BatchLine, bank_col=Batch.bank_id)))
    if project_id:
        stmt = stmt.where(BatchLine.project_id == project_id)
    if period:
        stmt = stmt.where(BatchLine.period == parse_period(period))
    return [line_view(x) for x in db.session.execute(stmt.order_by(BatchLine.id).limit(limit)).scalars()]


def reissue(actor: Actor, project_id: int, period: str, *, line_ids: list[int] | None = None,
            idempotency_key: str | None, today: date | None = None) -> dict:
    """补发: a re-issue batch for failed lines whose account is now fixed; each new line refers to its original.

    The original failed line is superseded (compare-and-set) in the same transaction, so the person never has
    two live lines for the period. Lines still unroutable stay on the worklist and are reported.
    """
    period = parse_period(period)

    def work():
        permissions.require(actor, "payment.reissue")
        project = db.session.get(Project, project_id)
        if project is None:
            raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
        permissions.require(actor, "payment.reissue", project)
        on = today or local_today()
        agreement = valid_agreement(project, on)
        stmt = (sa.select(BatchLine.id, BatchLine.resident_id, BatchLine.name, BatchLine.amount_fen,
                          BatchLine.recipient_row_id)
                .join(Batch, Batch.id == BatchLine.batch_id)
                .where(BatchLine.project_id == project.id, BatchLine.period == period, BatchLine.status == "failed",
                       Batch.status.in_(("feedback_received", "reconciled", "closed"))).order_by(BatchLine.id))
        if line_ids:
            stmt = stmt.where(BatchLine.id.in_(line_ids))
        failed = db.session.execute(stmt).all()
        if not failed:
            raise Conflict("没有待补发的失败明细", code="nothing_to_reissue")
        source = [{"reissue_of_line_id": f.id, "resident_id": f.resident_id, "name": f.name,
                   "amount_fen": f.amount_fen, "recipient_row_id": f.recipient_row_id, "match_result": "usable"}
                  for f in failed]
        routed = routing.route_rows(project, source, on)
        ready = [(s, r) for s, r in zip(source, routed, strict=True) if r["status"] == "pending"]
        blocked = [{"line_id": s["reissue_of_line_id"], "reason": r["route_reason"]}
                   for s, r in zip(source, routed, strict=True) if r["status"] != "pending"]
        if not ready:
            raise Conflict("失败明细的账户问题尚未解决，暂不能补发：" + blocked[0]["reason"], code="nothing_to_reissue",
                           details={"blocked": blocked[:50]})
        batch = _new_batch(actor, project, period, agreement, "reissue", None)
        ids = [s["reissue_of_line_id"] for s, _ in ready]
        changed = db.session.execute(sa.update(_lines).where(_lines.c.id.in_(ids), _lines.c.status == "failed")
                                     .values(status="superseded")).rowcount
        if changed != len(ids):
            raise Conflict("失败明细已被他人补发，请刷新后重试", code="reissue_concurrent_change")
        try:
            _insert_lines(batch, project, [s for s, _ in ready], [r for _, r in ready], utcnow())
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("该明细已在其他补发批次中", code="already_in_batch") from None
        _refresh_counts(batch)
        audit.record("batch.reissue_created", actor=actor, entity_type="batch", entity_id=batch.id,
                     after={"number": batch.number, "reissue_of": ids, "blocked": len(blocked)})
        return {**batch_view(batch), "blocked": blocked}
    return idempotency.run(actor, "payment.reissue", idempotency_key,
                           {"project_id": project_id, "period": period, "line_ids": sorted(line_ids or [])}, work)


def reconcile(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """对账: sent = paid + failed in count and fen, equal to the totals fixed at submission and to the ledger."""
    def work():
        batch = _load(actor, batch_id, "batch.reconcile", for_update=True)
        if batch.status != "feedback_received":
            BATCH_MACHINE.check(batch.status, "reconciled")
        _check_totals(batch)
        sent_count, sent_fen = db.session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_lines.c.amount_fen), 0))
            .where(_lines.c.batch_id == batch.id, _lines.c.status.in_(("sent", "paid", "failed", "superseded")))
        ).one()
        paid_count, paid_fen, failed_count, failed_fen = _outcomes(batch.id)
        lt = LedgerEntry.__table__
        ledger_count, ledger_fen = db.session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(lt.c.amount_fen), 0))
            .where(lt.c.batch_id == batch.id)).one()
        figures = {"sent_count": int(sent_count), "sent_fen": int(sent_fen), "paid_count": paid_count,
                   "paid_fen": paid_fen, "failed_count": failed_count, "failed_fen": failed_fen,
                   "ledger_count": int(ledger_count), "ledger_fen": int(ledger_fen)}
        ok = (figures["sent_count"] == paid_count + failed_count == batch.submitted_count == ledger_count
              and figures["sent_fen"] == paid_fen + failed_fen == batch.submitted_fen == ledger_fen)
        if not ok:
            raise Conflict("对账不平：发送笔数金额与成功加失败或台账不一致，请核查", code="reconcile_mismatch",
                           details=figures)
        BATCH_MACHINE.transition(batch, "reconciled", actor, audit_after=figures)
        return {**batch_view(batch), "reconciliation": figures}
    return idempotency.run(actor, "batch.reconcile", idempotency_key, {"batch_id": batch_id}, work)


def close(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """Finance archives a reconciled batch."""
    def work():
        batch = _load(actor, batch_id, "batch.close", for_update=True)
        _check_totals(batch)
        BATCH_MACHINE.transition(batch, "closed", actor)
        return batch_view(batch)
    return idempotency.run(actor, "batch.close", idempotency_key, {"batch_id": batch_id}, work)
