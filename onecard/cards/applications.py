"""Card applications (社保卡申领): what a resident (or village staff with consent) applies for and does with
their card, and how the bureau and the issuing bank move an application along.

Every card status change goes through CARD_MACHINE and every application status change through
APPLICATION_MACHINE (onecard.cards.lifecycle). Activation and loss are confirmed by an SMS code
(onecard.citizens.codes) or, in the village-assisted mode, by the resident's consent. Each function is
one transaction: it commits at the end or raises a DomainError.
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app

from onecard import audit
from onecard.actors import Actor
from onecard.cards import service as cards
from onecard.cards.lifecycle import (
    APPLICATION_LABELS,
    APPLICATION_MACHINE,
    APPLIED_CARD_WORDS,
    CARD_LABELS,
    CARD_MACHINE,
)
from onecard.cards.models import Card, CardApplication
from onecard.citizens import codes
from onecard.citizens.codes import CodeSent
from onecard.citizens.models import VerificationCode
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.privacy import mask_last4, mask_name, mask_tail
from onecard.reference import branches
from onecard.reference.models import Bank, BankBranch
from onecard.staff import permissions
from onecard.timeutil import local_str
from onecard.validation import normalize_bank_card, normalize_text

if TYPE_CHECKING:
    from onecard.citizens.models import AssistConsent

permissions.register({
    "card_application.read": {"admin", "bank_operator", "finance", "auditor"},
    "card_application.process": {"admin", "bank_operator"},
    # The applicant's full details (to make and hand over the card): the issuing bank's own clerk only.
    "card_application.applicant": {"bank_operator"},
})

# The steps in which the bank works on an application and so may read who the applicant is.
APPLICANT_VISIBLE = frozenset({"submitted", "accepted", "in_production", "ready", "posted"})

PHOTO_MAX_BYTES = 2 * 1024 * 1024

def _bank_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Bank.id, Bank.name)).all())


def _application_dict(a: CardApplication, banks: dict[int, str]) -> dict:
    return {"id": a.id, "kind": a.kind, "kind_label": "补换卡" if a.kind == "replacement" else "新申领",
            "status": a.status, "status_label": APPLICATION_LABELS[a.status], "bank_id": a.bank_id,
            "bank_name": banks.get(a.bank_id), "branch": a.branch, "branch_id": a.branch_id, "delivery": a.delivery,
            "delivery_label": "邮寄到家" if a.delivery == "post" else "到网点领取",
            "status_note": a.status_note, "created_at": local_str(a.created_at),
            "status_changed_at": local_str(a.status_changed_at),
            "assisted": a.submitted_by_staff_id is not None}


def _making(card: Card | None) -> CardApplication | None:
    """The application behind a card that is being made, if any."""
    if card is None or card.status != "applied":
        return None
    return db.session.execute(sa.select(CardApplication).where(CardApplication.card_id == card.id)
                              .order_by(CardApplication.id.desc()).limit(1)).scalar_one_or_none()


def card_label(card: Card | None) -> str:
    """The card's status in words, following its application's step while it is being made."""
    application = _making(card)
    if application is not None and application.status in APPLIED_CARD_WORDS:
        return APPLIED_CARD_WORDS[application.status][0]
    return CARD_LABELS[card.status if card else "not_applied"]


def progress_since(since: dict[int, datetime]) -> dict[int, str]:
    """For follow-up lists: what changed for each resident since a moment (their list's match), in words.

    ``since`` maps resident id -> that moment. A resident who applied after it shows 已申请 with where the
    application stands; one whose card became usable shows so; the others are absent.
    """
    if not since:
        return {}
    out: dict[int, str] = {}
    ids = list(since)
    apps = db.session.execute(sa.select(CardApplication).where(CardApplication.resident_id.in_(ids))
                              .order_by(CardApplication.id)).scalars().all()
    for a in apps:
        if since[a.resident_id] is None or a.created_at > since[a.resident_id]:
            out[a.resident_id] = f"已申请（{APPLICATION_LABELS[a.status]}，{local_str(a.created_at, '%m-%d')}）"
    for card in db.session.execute(sa.select(Card).where(Card.resident_id.in_(ids),
                                                         Card.status == "active")).scalars():
        moment = since[card.resident_id]
        if moment is None or card.status_changed_at > moment:
            out[card.resident_id] = "社保卡已可用（待下次比对）"
    return out


def card_view(resident_id: int) -> dict:
    """My card: status in plain words, bank, masked numbers, what to do next, and what I can do here."""
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在", code="resident_not_found")
    card = cards.live_card(resident_id)
    banks = _bank_names()
    view = cards.status_view(card)
    status = view["status"]
    making = _making(card)
    if making is not None and making.status in APPLIED_CARD_WORDS:
        view["label"], view["next_step"] = APPLIED_CARD_WORDS[making.status]
    latest = db.session.execute(sa.select(CardApplication).where(CardApplication.resident_id == resident_id)
                                .order_by(CardApplication.id.desc()).limit(1)).scalar_one_or_none()
    view.update({
        "name": mask_name(resident.name), "id_masked": resident.id_masked,
        "mobile_masked": resident.mobile_masked,
        "bank_name": banks.get(card.bank_id) if card else None,
        "card_number_masked": mask_tail("*" * 6 + card.card_last4) if card and card.card_last4 else None,
        "account_masked": mask_last4(card.account_last4) if card else None,
        "can_apply": card is None,
        "can_activate": status == "issued",
        "can_report_loss": status in ("active", "issued"),
        "can_replace": status == "lost",
        "application": _application_dict(latest, banks) if latest else None,
        "sms_opt_out": bool(resident.sms_opt_out),
    })
    return view


def list_applications(resident_id: int) -> list[dict]:
    """My applications (申领进度), newest first."""
    banks = _bank_names()
    rows = db.session.execute(sa.select(CardApplication).where(CardApplication.resident_id == resident_id)
                              .order_by(CardApplication.id.desc())).scalars().all()
    return [_application_dict(a, banks) for a in rows]


def list_banks() -> list[dict]:
    """The issuing banks a resident may choose (可选的发卡银行), each with its open collection branches (网点)."""
    by_bank: dict[int, list[dict]] = {}
    for b in branches.list_branches():
        by_bank.setdefault(b["bank_id"], []).append({"id": b["id"], "name": b["name"], "address": b["address"]})
    return [{"id": b.id, "code": b.code, "name": b.name, "branch_name": b.branch_name,
             "branches": by_bank.get(b.id, [])}
            for b in db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars()]


_MAGIC = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}


def photo_dir() -> str:
    """Where uploaded pictures (application photos, consent forms) are kept."""
    return current_app.config.get("PHOTO_DIR") or os.path.join(current_app.instance_path, "photos")


def check_upload(data: bytes | None, *, field: str = "photo", what: str = "照片", required: bool = True) -> str | None:
    """The extension of an acceptable picture (JPEG or PNG by its first bytes, at most 2 MB), None when absent."""
    if not data:
        if required:
            raise Invalid(f"请上传{what}（JPG或PNG格式）", code=f"{field}_required", field=field)
        return None
    if len(data) > PHOTO_MAX_BYTES:
        raise Invalid(f"{what}太大了（{len(data) // 1024} KB），请上传不超过2 MB的图片", code=f"{field}_too_large",
                      field=field)
    ext = next((e for magic, e in _MAGIC.items() if data.startswith(magic)), None)
    if ext is None:
        raise Invalid(f"{what}格式不对，只能上传JPG或PNG图片", code=f"{field}_type", field=field)
    return ext


def save_upload(data: bytes | None, *, field: str = "photo", what: str = "照片", required: bool = True,
                subdir: str = "") -> str | None:
    """Check an uploaded picture (check_upload) and store it under a random name."""
    ext = check_upload(data, field=field, what=what, required=required)
    if ext is None:
        return None
    folder = os.path.join(photo_dir(), subdir) if subdir else photo_dir()
    os.makedirs(folder, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{ext}"
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(data)
    return os.path.join(subdir, name) if subdir else name


def _application_args(bank_id: int, branch_id: int | None, branch: str | None, delivery: str, address: str | None,
                      photo: bytes | None, photo_required: bool) -> dict:
    """Every field of the application form checked at once: one Invalid naming each faulty field in
    details["fields"] (the pages show each beside its field), the first as the error's own field."""
    errors: dict[str, str] = {}
    codes_: list[str] = []

    def check(fn):
        try:
            return fn()
        except Invalid as exc:
            if (exc.field or "") not in errors:
                errors[exc.field or ""] = exc.message
                codes_.append(exc.code)
            return None

    def refuse(message: str, code: str, field: str):
        raise Invalid(message, code=code, field=field)

    bank = db.session.get(Bank, bank_id or 0)
    if bank is None:
        check(lambda: refuse("请选择发卡银行", "bank_required", "bank_id"))
    if delivery not in ("branch", "post"):
        check(lambda: refuse("请选择领卡方式：到网点领取或邮寄到家", "delivery_invalid", "delivery"))
    chosen = None
    if delivery == "branch" and bank is not None:
        if not branch_id and branch:   # a client that sends the branch's name: it must be one on the list
            branch_id = _branch_id_by_name(bank.id, branch)
        chosen = check(lambda: branches.open_branch_of(bank.id, branch_id))
    elif delivery == "branch" and not branch_id:
        check(lambda: refuse("请从列表中选择领卡网点", "branch_required", "branch_id"))
    address = check(lambda: normalize_text(address, field="postal_address", max_len=200,
                                           required=delivery == "post", label="邮寄地址"))
    check(lambda: check_upload(photo, required=photo_required))
    if errors:
        field, message = next(iter(errors.items()))
        raise Invalid(message, code=codes_[0], field=field, details={"fields": errors})
    return {"bank_id": bank.id, "branch_id": chosen.id if chosen else None, "branch": chosen.name if chosen else None,
            "delivery": delivery, "postal_address": address if delivery == "post" else None}


def _branch_id_by_name(bank_id: int, name: str) -> int | None:
    return db.session.execute(sa.select(BankBranch.id).where(BankBranch.bank_id == bank_id,
                                                             BankBranch.name == name.strip())).scalar()


def apply_for_card(actor: Actor, resident_id: int, *, bank_id: int, delivery: str, branch: str | None = None,
                   postal_address: str | None = None, photo: bytes | None = None, branch_id: int | None = None) -> dict:
    """申领: a new card. Refused (409) while the resident has a live card; a lost card is replaced instead."""
    args = _application_args(bank_id, branch_id, branch, delivery, postal_address, photo, True)
    existing = cards.live_card(resident_id)
    if existing is not None:
        hint = "请使用“补换卡”" if existing.status == "lost" else "无需重复申领"
        raise Conflict(f"您已经有一张社保卡，当前状态：{card_label(existing)}。{hint}", code="card_exists")
    photo_path = save_upload(photo)
    card = Card(resident_id=resident_id, bank_id=args["bank_id"], status="not_applied", source="citizen")
    db.session.add(card)
    try:
        db.session.flush()
    except sa.exc.IntegrityError as exc:   # another request made a card in between: the one-live-card index
        db.session.rollback()
        raise Conflict("您已有社保卡，无需重复申领", code="card_exists") from exc
    CARD_MACHINE.transition(card, "applied", actor)
    application = CardApplication(resident_id=resident_id, card_id=card.id, kind="new", photo_path=photo_path,
                                  submitted_by_staff_id=actor.id if actor.kind == "staff" else None, **args)
    db.session.add(application)
    db.session.flush()
    audit.record("card_application.submitted", actor=actor, entity_type="card_application",
                 entity_id=application.id, after={"bank_id": args["bank_id"], "delivery": delivery})
    db.session.commit()
    return _application_dict(application, _bank_names())


def request_card_code(actor: Actor, resident_id: int, purpose: str, *, session_id: int | None = None) -> CodeSent:
    """Send the code that confirms 激活 (activate) or 挂失 (loss) to the resident's mobile on record."""
    card = cards.live_card(resident_id)
    _check_card_allows(card, purpose)
    resident = db.session.get(Resident, resident_id)
    if not resident.mobile:
        raise Conflict("您没有登记手机号码，请带身份证到银行网点或村协办员处办理", code="no_mobile")
    codes.check_session_limit(session_id)
    codes.check_number_limit(resident.mobile_bidx)
    code = codes.new_code(purpose, resident_id=resident_id, mobile_bidx=resident.mobile_bidx,
                          session_id=session_id, ip=actor.ip)
    db.session.commit()
    codes.send_code(resident.mobile, purpose, code)
    return CodeSent(f"验证码已发送至手机 {resident.mobile_masked}，5分钟内有效", resident.mobile_masked,
                    dev_code=codes.dev_code(code))


def _check_card_allows(card: Card | None, purpose: str) -> None:
    status = card.status if card else "not_applied"
    if purpose == "activate" and status != "issued":
        raise Conflict(f"您的社保卡状态为“{CARD_LABELS[status]}”，不需要激活" if status == "active"
                       else f"您的社保卡状态为“{CARD_LABELS[status]}”，现在不能激活", code="card_not_activatable")
    if purpose == "loss" and status not in ("active", "issued"):
        raise Conflict(f"您的社保卡状态为“{CARD_LABELS[status]}”，不能挂失", code="card_not_losable")


def card_action(actor: Actor, resident_id: int, purpose: str, target: str, code: str | None,
                consent: AssistConsent | None = None) -> dict:
    """Move the live card to ``target`` for ``purpose`` (activate, loss), confirmed by the resident's SMS code,
    or by the village-assisted consent instead (recorded in the audit entry). Refuses what the card's status
    does not allow (409)."""
    card = cards.live_card(resident_id)
    _check_card_allows(card, purpose)
    if consent is None:
        codes.consume_code(purpose, code or "", [VerificationCode.resident_id == resident_id])
    CARD_MACHINE.transition(card, target, actor, audit_after={"consent_id": consent.id} if consent else None)
    if target == "active":
        cards.became_payable(actor, resident_id)
    db.session.commit()
    return card_view(resident_id)


def activate_card(actor: Actor, resident_id: int, code: str) -> dict:
    """激活: an issued card's financial function is switched on, confirmed by the SMS code."""
    return card_action(actor, resident_id, "activate", "active", code)


def report_loss(actor: Actor, resident_id: int, code: str) -> dict:
    """挂失: the card is blocked at once, confirmed by the SMS code; money waits until a replacement."""
    return card_action(actor, resident_id, "loss", "lost", code)


def request_replacement(actor: Actor, resident_id: int, *, bank_id: int | None = None, delivery: str = "branch",
                        branch: str | None = None, postal_address: str | None = None,
                        photo: bytes | None = None, branch_id: int | None = None) -> dict:
    """补换卡 after a loss: the lost card is cancelled and a new one is made (with its application to follow)."""
    card = cards.live_card(resident_id)
    if card is None or card.status != "lost":
        raise Conflict("只有已挂失的社保卡可以在这里补卡；请先挂失", code="card_not_lost")
    args = _application_args(bank_id or card.bank_id, branch_id, branch, delivery, postal_address, photo, False)
    photo_path = save_upload(photo, required=False)
    new = cards.start_replacement(actor, card.id, bank_id=args["bank_id"])
    application = CardApplication(resident_id=resident_id, card_id=new.id, kind="replacement",
                                  photo_path=photo_path,
                                  submitted_by_staff_id=actor.id if actor.kind == "staff" else None, **args)
    db.session.add(application)
    db.session.flush()
    audit.record("card_application.submitted", actor=actor, entity_type="card_application",
                 entity_id=application.id, after={"kind": "replacement", "bank_id": args["bank_id"]})
    db.session.commit()
    return _application_dict(application, _bank_names())


# --------------------------------------------------------------------------- staff: moving applications along

STAFF_MOVES = {"accept": "accepted", "in_production": "in_production", "ready": "ready", "posted": "posted",
               "collected": "collected", "reject": "rejected"}


def _load_application(actor: Actor, application_id: int, action: str) -> CardApplication:
    application = db.session.get(CardApplication, application_id)
    if application is None:
        raise NotFound("申领记录不存在", code="application_not_found")
    permissions.require(actor, action, application, hide=True)
    return application


def staff_list_applications(actor: Actor, status: str | None = None) -> list[dict]:
    """Applications in the actor's scope (a bank sees those for its own bank), newest first."""
    permissions.require(actor, "card_application.read")
    stmt = sa.select(CardApplication).where(permissions.scope_filter(actor, CardApplication))
    if status:
        stmt = stmt.where(CardApplication.status == status)
    banks = _bank_names()
    return [_application_dict(a, banks) for a in
            db.session.execute(stmt.order_by(CardApplication.id.desc()).limit(500)).scalars()]


def process_application(actor: Actor, application_id: int, action: str, *, account: str | None = None,
                        card_number: str | None = None, note: str | None = None) -> dict:
    """Staff move an application along; the card follows (ready/posted -> 待领取, collected -> 已发放, reject -> 注销)."""
    if action not in STAFF_MOVES:
        raise Invalid("不认识的操作", code="action_invalid", field="action")
    application = _load_application(actor, application_id, "card_application.process")
    note = normalize_text(note, field="note", max_len=200, required=action == "reject", label="说明")
    target = STAFF_MOVES[action]
    APPLICATION_MACHINE.check(application.status, target)
    card = db.session.get(Card, application.card_id) if application.card_id else None
    if (target == "posted") != (application.delivery == "post") and target in ("ready", "posted"):
        raise Conflict("领卡方式为“邮寄到家”的用“已邮寄”，到网点领取的用“待领取”", code="delivery_mismatch",
                       field="action")
    if target in ("ready", "posted"):
        account = normalize_bank_card(account, field="account")
        card_number = normalize_text(card_number, field="card_number", max_len=20, required=False, label="社保卡号")
        if card is not None:
            cards.set_account(card, account, card_number)
            CARD_MACHINE.transition(card, "ready", actor)
    elif target == "collected" and card is not None:
        CARD_MACHINE.transition(card, "issued", actor)
    elif target == "rejected" and card is not None and card.status != "cancelled":
        CARD_MACHINE.transition(card, "cancelled", actor, note=note)
    APPLICATION_MACHINE.transition(application, target, actor, note=note,
                                   extra_values={"status_note": note} if note else None)
    db.session.commit()
    return _application_dict(application, _bank_names())



def _applicant_application(actor: Actor, application_id: int) -> CardApplication:
    application = _load_application(actor, application_id, "card_application.applicant")
    if actor.bank_id is None or application.bank_id != actor.bank_id:   # never another bank's, never the bureau
        raise NotFound("申领记录不存在", code="application_not_found")
    if application.status not in APPLICANT_VISIBLE:
        raise Conflict(f"该申领已{APPLICATION_LABELS[application.status]}，不再显示申请人信息",
                       code="applicant_not_visible")
    return application


def applicant_for_bank(actor: Actor, application_id: int) -> dict:
    """What the issuing bank needs to make and hand over the card: name, ID number, phone, photo, chosen branch
    or postal address. Decrypted only for the clerk of the bank handling the application and only while the
    bank works on it (submitted .. posted); every view is audited."""
    application = _applicant_application(actor, application_id)
    resident = db.session.get(Resident, application.resident_id)
    branch = db.session.get(BankBranch, application.branch_id) if application.branch_id else None
    audit.record("card_application.applicant_viewed", actor=actor, entity_type="card_application",
                 entity_id=application.id, after={"status": application.status})
    db.session.commit()
    return {**_application_dict(application, _bank_names()), "name": resident.name,
            "id_number": resident.id_number, "mobile": resident.mobile,
            "has_photo": bool(application.photo_path),
            "branch_address": branch.address if branch else None,
            "postal_address": application.postal_address}


def applicant_photo(actor: Actor, application_id: int) -> tuple[bytes, str]:
    """The applicant's photo for the bank making the card (same rule as applicant_for_bank; the view is audited)."""
    application = _applicant_application(actor, application_id)
    if not application.photo_path:
        raise NotFound("该申领没有上传照片（补卡可沿用原照片）", code="photo_not_found")
    path = os.path.join(photo_dir(), application.photo_path)
    if not os.path.isfile(path):
        raise NotFound("照片文件不存在", code="photo_not_found")
    with open(path, "rb") as fh:
        data = fh.read()
    audit.record("card_application.photo_viewed", actor=actor, entity_type="card_application",
                 entity_id=application.id)
    db.session.commit()
    return data, "image/png" if application.photo_path.endswith(".png") else "image/jpeg"
