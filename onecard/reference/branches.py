"""Bank branches (网点): reference data the bureau keeps; residents pick the branch where they collect a card."""
from __future__ import annotations

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.reference.models import Bank, BankBranch
from onecard.staff import permissions
from onecard.validation import normalize_text

permissions.register({"branch.manage": {"admin"}})


def _dict(b: BankBranch, banks: dict[int, str]) -> dict:
    return {"id": b.id, "bank_id": b.bank_id, "bank_name": banks.get(b.bank_id), "name": b.name,
            "address": b.address, "active": b.active}


def list_branches(*, bank_id: int | None = None, active_only: bool = True) -> list[dict]:
    """Branches, by bank then name (only the open ones unless asked)."""
    banks = dict(db.session.execute(sa.select(Bank.id, Bank.name)).all())
    stmt = sa.select(BankBranch)
    if bank_id is not None:
        stmt = stmt.where(BankBranch.bank_id == bank_id)
    if active_only:
        stmt = stmt.where(BankBranch.active.is_(True))
    rows = db.session.execute(stmt.order_by(BankBranch.bank_id, BankBranch.name)).scalars()
    return [_dict(b, banks) for b in rows]


def add_branch(actor: Actor, bank_id: int | None, name: str | None, address: str | None = None) -> dict:
    """The bureau adds a branch of a cooperating bank (refused twice under one bank)."""
    permissions.require(actor, "branch.manage")
    errors: dict[str, str] = {}
    bank = db.session.get(Bank, bank_id or 0)
    if bank is None:
        errors["bank_id"] = "请选择合作银行"
    try:
        name = normalize_text(name, field="name", max_len=80, label="网点名称")
    except Invalid as exc:
        errors["name"] = exc.message
    try:
        address = normalize_text(address, field="address", max_len=200, required=False, label="网点地址") or ""
    except Invalid as exc:
        errors["address"] = exc.message
    if errors:
        field, message = next(iter(errors.items()))
        raise Invalid(message, code="branch_invalid", field=field, details={"fields": errors})
    if db.session.execute(sa.select(BankBranch.id).where(BankBranch.bank_id == bank.id, BankBranch.name == name)
                          ).first():
        raise Conflict(f"{bank.name}已有网点“{name}”", code="branch_exists", field="name")
    branch = BankBranch(bank_id=bank.id, name=name, address=address, active=True)
    db.session.add(branch)
    db.session.flush()
    audit.record("branch.added", actor=actor, entity_type="bank_branch", entity_id=branch.id,
                 after={"bank_id": bank.id, "name": name, "address": address})
    db.session.commit()
    return _dict(branch, {bank.id: bank.name})


def set_branch_active(actor: Actor, branch_id: int, active: bool) -> dict:
    """Open or close a branch for new applications (applications already made keep it)."""
    permissions.require(actor, "branch.manage")
    branch = db.session.get(BankBranch, branch_id)
    if branch is None:
        raise NotFound("网点不存在", code="branch_not_found")
    before = branch.active
    branch.active = bool(active)
    audit.record("branch.opened" if active else "branch.closed", actor=actor, entity_type="bank_branch",
                 entity_id=branch.id, before={"active": before}, after={"active": branch.active})
    db.session.commit()
    return _dict(branch, dict(db.session.execute(sa.select(Bank.id, Bank.name)).all()))


def open_branch_of(bank_id: int, branch_id: int | None) -> BankBranch:
    """The open branch a resident chose, which must belong to the chosen bank; Invalid (field branch_id) otherwise."""
    branch = db.session.get(BankBranch, branch_id or 0)
    if branch is None or not branch.active:
        raise Invalid("请从列表中选择领卡网点", code="branch_required", field="branch_id")
    if branch.bank_id != bank_id:
        raise Invalid("这个网点不属于您选的银行，请重新选择", code="branch_bank_mismatch", field="branch_id")
    return branch
