"""Agreements (代发协议) between a department and its agent bank, and the residents' 一本通 passbook accounts."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.payments.models import Agreement, PassbookAccount, agreement_projects
from onecard.people.models import Resident
from onecard.privacy import blind_index, last4
from onecard.projects.models import Project
from onecard.reference.models import Bank
from onecard.staff import permissions
from onecard.validation import normalize_bank_card, normalize_text


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



def set_bank_format(actor: Actor, bank_code: str, format_code: str) -> Bank:
    """Which file format (代发文件格式) a cooperating bank reads and answers in: data, not code. Refuses an
    unknown bank or a format no module registers. Batches already exported keep the format recorded on
    them, so their result files are still read as they were sent. Audited."""
    from onecard.payments import bankformats
    fmt = bankformats.format_named(format_code)
    bank = db.session.execute(sa.select(Bank).where(Bank.code == bank_code)).scalar_one_or_none()
    if bank is None:
        raise NotFound(f"没有代码为“{bank_code}”的合作银行", code="bank_not_found", field="bank")
    before = bank.bank_format
    bank.bank_format = fmt.code
    audit.record("bank.format_set", actor=actor, entity_type="bank", entity_id=bank.id,
                 before={"bank_format": before}, after={"bank_format": fmt.code})
    db.session.commit()
    return bank
