"""Citizen use cases (居民服务): what a resident, or village staff beside them, may do.

Every door (mini-program API, H5 pages, staff assist API) calls these functions;
the rules live here once. Each function is one transaction: it commits at the end
or raises a DomainError (the app's handler rolls back).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from onecard import audit, tokens, wechat
from onecard.actors import Actor
from onecard.cards import service as cards
from onecard.cards.lifecycle import APPLICATION_LABELS, APPLICATION_MACHINE, CARD_LABELS, CARD_MACHINE
from onecard.cards.models import Card, CardApplication
from onecard.citizens import sms
from onecard.citizens.models import AssistConsent, CitizenSession, Complaint, VerificationCode
from onecard.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from onecard.extensions import db
from onecard.payments.models import LedgerEntry
from onecard.payments.my_subsidies import _mine, my_subsidies
from onecard.people.models import Resident
from onecard.privacy import blind_index, mask_last4, mask_name, mask_tail
from onecard.projects.models import CYCLES, Project
from onecard.reference.models import Bank, Department, Village
from onecard.staff import permissions
from onecard.staff.models import AuthToken, StaffAccount
from onecard.timeutil import local_str, utcnow
from onecard.validation import (
    format_yuan,
    normalize_bank_card,
    normalize_id_number,
    normalize_name,
    normalize_text,
)

permissions.register({
    "card_application.read": {"admin", "bank_operator", "finance", "auditor"},
    "card_application.process": {"admin", "bank_operator"},
    "complaint.read": {"admin", "dept_operator", "dept_reviewer", "finance", "auditor"},
    "complaint.reply": {"admin", "dept_operator", "dept_reviewer"},
})

CODE_TTL = timedelta(minutes=5)
CODE_MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)       # one code per number per minute
PER_NUMBER_PER_HOUR = 5                    # SMS to one number
PER_SESSION_PER_HOUR = 10                  # code requests from one signed-in phone (openid)
CONSENT_TTL = timedelta(minutes=30)        # one sitting with the village staff member
PHOTO_MAX_BYTES = 2 * 1024 * 1024
BINDING_SENT = "如信息正确，验证码已发送至登记的手机号码。若1分钟内未收到，请核对姓名和身份证号后重试。"

# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class CitizenContext:
    """Who is on the phone: the session, and the resident once bound."""
    session_id: int
    resident_id: int | None
    openid: str | None
    ip: str | None = None
    channel: str = "miniprogram"

    def actor(self) -> Actor:
        return Actor(kind="citizen", id=self.resident_id, label="居民本人", ip=self.ip, channel=self.channel)

    def require_resident(self) -> int:
        if self.resident_id is None:
            raise Forbidden("请先完成实名绑定（姓名、身份证号和短信验证码）", code="binding_required")
        return self.resident_id


@dataclass
class LoginResult:
    token: str
    expires_at: datetime
    bound: bool


def _new_session(*, openid: str | None, resident_id: int | None, ip: str | None, channel: str) -> LoginResult:
    session = CitizenSession(openid=openid, resident_id=resident_id, ip=ip, channel=channel)
    db.session.add(session)
    db.session.flush()
    token, row = tokens.issue("citizen", session.id, ttl_minutes=current_app.config["TOKEN_TTL_MINUTES"], ip=ip,
                              channel=channel)
    audit.record("citizen.login", actor=Actor(kind="citizen", id=resident_id, label="居民本人", ip=ip,
                                              channel=channel),
                 entity_type="citizen_session", entity_id=session.id, after={"channel": channel,
                                                                              "bound": resident_id is not None})
    db.session.commit()
    return LoginResult(token, row.expires_at, resident_id is not None)


def wechat_login(code: str, *, ip: str | None = None) -> LoginResult:
    """小程序登录: exchange the wx.login code for the openid; our own token comes back, never the session_key."""
    data = wechat.code_to_session(code)
    openid = data.get("openid")
    if not openid:
        raise Invalid("登录凭证无效，请重新进入小程序", code="wechat_code_invalid", field="code")
    resident_id = db.session.execute(sa.select(Resident.id).where(Resident.wechat_openid == openid)).scalar()
    return _new_session(openid=openid, resident_id=resident_id, ip=ip, channel="miniprogram")


def browser_login(*, ip: str | None = None) -> LoginResult:
    """手机浏览器登录 (H5 outside the mini-program): a new, unbound session with no WeChat identity.

    It can do nothing but real-name binding, whose code goes to the mobile the card registry holds
    for that person — the same proof the mini-program's binding asks for; the door's rate limit and
    the binding code limits bound how many anonymous sessions a caller can open.
    """
    return _new_session(openid=None, resident_id=None, ip=ip, channel="h5")


def dev_login_allowed() -> bool:
    cfg = current_app.config
    return bool(cfg.get("DEV_LOGIN")) and cfg.get("ENV") != "production"


def dev_login(*, resident_id: int | None = None, id_number: str | None = None, ip: str | None = None,
              channel: str = "dev") -> LoginResult:
    """开发登录 (development only; 404 in production): stands in for WeChat.

    With a resident id or ID number the session is bound to that resident at once;
    without, it is a fresh unbound phone that goes through real-name binding.
    """
    if not dev_login_allowed():
        raise NotFound("页面或记录不存在", code="not_found")
    rid = None
    if id_number:
        bidx = blind_index(normalize_id_number(id_number), "id")
        rid = db.session.execute(sa.select(Resident.id).where(Resident.id_bidx == bidx)).scalar()
        if rid is None:
            raise NotFound("没有这个身份证号的居民（开发登录）", code="resident_not_found", field="id_number")
    elif resident_id:
        if db.session.get(Resident, resident_id) is None:
            raise NotFound("没有这个居民（开发登录）", code="resident_not_found", field="resident_id")
        rid = resident_id
    return _new_session(openid=f"dev-{secrets.token_hex(8)}", resident_id=rid, ip=ip, channel=channel)


_SESSIONS, _AUTH = CitizenSession.__table__, AuthToken.__table__
_TOKEN_HASH, _NOW = sa.bindparam("token_hash"), sa.bindparam("now", type_=sa.DateTime)
# Built once (statement construction and cache keys cost more than the query): the session behind a
# live citizen token (onecard.tokens.live: right kind, not revoked, not expired).
_TOKEN_LOOKUP = (
    sa.select(_SESSIONS.c.id, _SESSIONS.c.resident_id, _SESSIONS.c.openid)
    .select_from(_AUTH.join(_SESSIONS, _AUTH.c.subject_id == _SESSIONS.c.id))
    .where(tokens.live("citizen", _TOKEN_HASH, _NOW))
)


def _require_token(token: str | None) -> str:
    if not token:
        raise Unauthenticated("请先登录", code="login_required")
    return tokens.digest(token)


def authenticate(token: str | None, *, ip: str | None = None, channel: str = "miniprogram") -> CitizenContext:
    """The session behind a citizen token (one indexed query), or Unauthenticated.

    Missing is ``login_required``; unknown, expired, revoked or a staff token are all ``token_invalid``.
    """
    params = {"token_hash": _require_token(token), "now": utcnow()}
    # A pooled connection of its own, not the ORM session: this runs on every citizen request.
    with db.engine.connect() as conn:
        row = conn.execute(_TOKEN_LOOKUP, params).first()
    if row is None:
        raise Unauthenticated("登录已过期，请重新登录", code="token_invalid")
    return CitizenContext(row.id, row.resident_id, row.openid, ip=ip, channel=channel)


def logout(token: str) -> None:
    tokens.revoke(token)
    db.session.commit()


# --------------------------------------------------------------------------- SMS codes


def _code_hash(purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def _number_allowed(mobile_bidx: str | None) -> bool:
    """Per-number limit kept in the database, so every worker process agrees."""
    if not mobile_bidx:
        return False
    now = utcnow()
    last, count = db.session.execute(
        sa.select(sa.func.max(VerificationCode.created_at), sa.func.count(VerificationCode.id))
        .where(VerificationCode.mobile_bidx == mobile_bidx, VerificationCode.created_at > now - timedelta(hours=1))
    ).one()
    return not (count >= PER_NUMBER_PER_HOUR or (last is not None and last > now - RESEND_AFTER))


def _check_number_limit(mobile_bidx: str | None) -> None:
    if not _number_allowed(mobile_bidx):
        raise RateLimited("验证码发送太频繁，请1分钟后再试；每小时最多5次", code="code_rate_limited")


def _check_session_limit(session_id: int | None) -> None:
    if session_id is None:
        return
    count = db.session.execute(
        sa.select(sa.func.count(VerificationCode.id)).where(
            VerificationCode.session_id == session_id,
            VerificationCode.created_at > utcnow() - timedelta(hours=1))
    ).scalar()
    if count >= PER_SESSION_PER_HOUR:
        raise RateLimited("获取验证码次数过多，请1小时后再试", code="code_rate_limited")


def _new_code(purpose: str, *, resident_id: int | None, mobile_bidx: str | None, session_id: int | None = None,
              staff_id: int | None = None, target_bidx: str | None = None, ip: str | None = None) -> str:
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.session.add(VerificationCode(
        purpose=purpose, resident_id=resident_id, session_id=session_id, staff_id=staff_id,
        target_bidx=target_bidx, mobile_bidx=mobile_bidx, code_hash=_code_hash(purpose, code),
        expires_at=utcnow() + CODE_TTL, ip=ip))
    db.session.flush()
    return code


PURPOSE_TEXT = {"bind": "实名绑定", "activate": "激活社保卡金融功能", "loss": "社保卡挂失",
                "assist": "授权村协办员代办"}


def _send_code(mobile: str, purpose: str, code: str, extra: str = "") -> None:
    sms.send_code_sms(mobile, f"您正在{PURPOSE_TEXT[purpose]}{extra}，验证码{code}，5分钟内有效。"
                              "请勿告诉他人（村协办员代办时可告知在场协办员）。")


def _consume_code(purpose: str, code: str, where: list) -> VerificationCode:
    """Check a code against the newest live one matching ``where``; count failures; mark it used.

    A wrong code is committed as an attempt before the refusal is raised (the refusal rolls back).
    """
    code = (code or "").strip()
    row = db.session.execute(
        sa.select(VerificationCode).where(VerificationCode.purpose == purpose, VerificationCode.used_at.is_(None),
                                          *where)
        .order_by(VerificationCode.id.desc()).limit(1)
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or row.expires_at <= now:
        raise Invalid("验证码已失效，请重新获取", code="code_expired", field="code")
    if row.attempts >= CODE_MAX_ATTEMPTS:
        raise RateLimited("验证码错误次数过多，请重新获取验证码", code="code_attempts_exceeded", field="code")
    good = hmac.compare_digest(row.code_hash, _code_hash(purpose, code)) and row.resident_id is not None
    if not good:
        db.session.execute(sa.update(VerificationCode).where(VerificationCode.id == row.id)
                           .values(attempts=VerificationCode.attempts + 1))
        db.session.commit()
        left = CODE_MAX_ATTEMPTS - row.attempts - 1
        raise Invalid(f"验证码不正确，还可以再试{left}次" if left > 0 else "验证码错误次数过多，请重新获取验证码",
                      code="code_wrong", field="code")
    # Single use: only one request can flip used_at.
    done = db.session.execute(sa.update(VerificationCode)
                              .where(VerificationCode.id == row.id, VerificationCode.used_at.is_(None))
                              .values(used_at=now)).rowcount
    if done != 1:
        raise Invalid("验证码已使用，请重新获取", code="code_used", field="code")
    return row


# --------------------------------------------------------------------------- real-name binding


@dataclass
class CodeSent:
    message: str
    mobile_masked: str | None = None
    dev_code: str | None = None     # only with DEV_LOGIN and the console provider (H5 demo hint); never in the API


def _dev_code(code: str) -> str | None:
    cfg = current_app.config
    return code if dev_login_allowed() and cfg.get("SMS_PROVIDER") == "console" and cfg.get("ENV") != "testing" \
        else None


def request_binding_code(ctx: CitizenContext, name: str, id_number: str) -> CodeSent:
    """实名绑定第一步: send a code to the mobile on record when name and ID belong together.

    The answer is the same whether or not they do (and a row is written either way), so
    nobody learns from it whether an ID number is registered.
    """
    name = normalize_name(name)
    id_number = normalize_id_number(id_number)
    _check_session_limit(ctx.session_id)
    bidx = blind_index(id_number, "id")
    resident = db.session.execute(sa.select(Resident).where(Resident.id_bidx == bidx)).scalar_one_or_none()
    match = (resident is not None and resident.name == name and resident.mobile is not None
             and resident.deceased_on is None and _number_allowed(resident.mobile_bidx))
    code = _new_code("bind", resident_id=resident.id if match else None,
                     mobile_bidx=resident.mobile_bidx if match else None, session_id=ctx.session_id,
                     target_bidx=bidx, ip=ctx.ip)
    db.session.commit()
    if match:
        _send_code(resident.mobile, "bind", code)
    return CodeSent(BINDING_SENT, dev_code=_dev_code(code) if match else None)


def request_binding_code_for_demo(ctx: CitizenContext, resident_id: int) -> CodeSent:
    """Development only: the binding step for a demo resident, so nobody has to type a (synthetic) full ID."""
    resident = db.session.get(Resident, resident_id) if dev_login_allowed() else None
    if resident is None:
        raise NotFound("页面或记录不存在", code="not_found")
    return request_binding_code(ctx, resident.name, resident.id_number)


def bind(ctx: CitizenContext, name: str | None, id_number: str | None, code: str) -> dict:
    """实名绑定: with the right code this phone (openid) is tied to the resident.

    Without name and ID (the H5 page's second step, which never echoes the ID back) the
    session's latest binding code is used; its row was tied to a resident only when name and ID matched.
    """
    where = [VerificationCode.session_id == ctx.session_id]
    if name or id_number:
        name = normalize_name(name)
        where.append(VerificationCode.target_bidx == blind_index(normalize_id_number(id_number), "id"))
    row = _consume_code("bind", code, where)
    resident = db.session.get(Resident, row.resident_id)
    if resident is None or (name and resident.name != name):
        raise Invalid("验证码不正确", code="code_wrong", field="code")
    if ctx.openid and resident.wechat_openid != ctx.openid:
        # An openid belongs to one resident: a phone re-binding to someone else releases the old tie first.
        db.session.execute(sa.update(Resident).where(Resident.wechat_openid == ctx.openid)
                           .values(wechat_openid=None))
        db.session.flush()
        resident.wechat_openid = ctx.openid
    db.session.execute(sa.update(CitizenSession).where(CitizenSession.id == ctx.session_id)
                       .values(resident_id=resident.id))
    actor = Actor(kind="citizen", id=resident.id, label="居民本人", ip=ctx.ip, channel=ctx.channel)
    audit.record("citizen.bound", actor=actor, entity_type="resident", entity_id=resident.id,
                 after={"session_id": ctx.session_id})
    db.session.commit()
    return {"bound": True, "name": mask_name(resident.name), "id_masked": resident.id_masked}


# --------------------------------------------------------------------------- card


def _bank_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Bank.id, Bank.name)).all())


def _application_dict(a: CardApplication, banks: dict[int, str]) -> dict:
    return {"id": a.id, "kind": a.kind, "kind_label": "补换卡" if a.kind == "replacement" else "新申领",
            "status": a.status, "status_label": APPLICATION_LABELS[a.status], "bank_id": a.bank_id,
            "bank_name": banks.get(a.bank_id), "branch": a.branch, "delivery": a.delivery,
            "delivery_label": "邮寄到家" if a.delivery == "post" else "到网点领取",
            "status_note": a.status_note, "created_at": local_str(a.created_at),
            "status_changed_at": local_str(a.status_changed_at),
            "assisted": a.submitted_by_staff_id is not None}


def card_view(resident_id: int) -> dict:
    """My card: status in plain words, bank, masked numbers, what to do next, and what I can do here."""
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在", code="resident_not_found")
    card = cards.live_card(resident_id)
    banks = _bank_names()
    view = cards.status_view(card)
    status = view["status"]
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
    banks = _bank_names()
    rows = db.session.execute(sa.select(CardApplication).where(CardApplication.resident_id == resident_id)
                              .order_by(CardApplication.id.desc())).scalars().all()
    return [_application_dict(a, banks) for a in rows]


def list_banks() -> list[dict]:
    return [{"id": b.id, "code": b.code, "name": b.name, "branch_name": b.branch_name}
            for b in db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars()]


_MAGIC = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}


def _photo_dir() -> str:
    return current_app.config.get("PHOTO_DIR") or os.path.join(current_app.instance_path, "photos")


def save_upload(data: bytes | None, *, field: str = "photo", what: str = "照片", required: bool = True,
                subdir: str = "") -> str | None:
    """Check an uploaded picture (JPEG or PNG by its first bytes, at most 2 MB) and store it under a random name."""
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
    folder = os.path.join(_photo_dir(), subdir) if subdir else _photo_dir()
    os.makedirs(folder, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{ext}"
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(data)
    return os.path.join(subdir, name) if subdir else name


def _application_args(bank_id: int, branch: str | None, delivery: str, address: str | None) -> dict:
    if db.session.get(Bank, bank_id or 0) is None:
        raise Invalid("请选择发卡银行", code="bank_required", field="bank_id")
    if delivery not in ("branch", "post"):
        raise Invalid("请选择领卡方式：到网点领取或邮寄到家", code="delivery_invalid", field="delivery")
    branch = normalize_text(branch, field="branch", max_len=100, required=delivery == "branch", label="领卡网点")
    address = normalize_text(address, field="postal_address", max_len=200, required=delivery == "post",
                             label="邮寄地址")
    return {"bank_id": bank_id, "branch": branch, "delivery": delivery,
            "postal_address": address if delivery == "post" else None}


def apply_for_card(actor: Actor, resident_id: int, *, bank_id: int, delivery: str, branch: str | None = None,
                   postal_address: str | None = None, photo: bytes | None = None) -> dict:
    """申领: a new card. Refused (409) while the resident has a live card; a lost card is replaced instead."""
    args = _application_args(bank_id, branch, delivery, postal_address)
    existing = cards.live_card(resident_id)
    if existing is not None:
        hint = "请使用“补换卡”" if existing.status == "lost" else "无需重复申领"
        raise Conflict(f"您已有社保卡（{CARD_LABELS[existing.status]}），{hint}", code="card_exists")
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
    _check_session_limit(session_id)
    _check_number_limit(resident.mobile_bidx)
    code = _new_code(purpose, resident_id=resident_id, mobile_bidx=resident.mobile_bidx, session_id=session_id,
                     ip=actor.ip)
    db.session.commit()
    _send_code(resident.mobile, purpose, code)
    return CodeSent(f"验证码已发送至手机 {resident.mobile_masked}，5分钟内有效", resident.mobile_masked,
                    dev_code=_dev_code(code))


def _check_card_allows(card: Card | None, purpose: str) -> None:
    status = card.status if card else "not_applied"
    if purpose == "activate" and status != "issued":
        raise Conflict(f"您的社保卡状态为“{CARD_LABELS[status]}”，不需要激活" if status == "active"
                       else f"您的社保卡状态为“{CARD_LABELS[status]}”，现在不能激活", code="card_not_activatable")
    if purpose == "loss" and status not in ("active", "issued"):
        raise Conflict(f"您的社保卡状态为“{CARD_LABELS[status]}”，不能挂失", code="card_not_losable")


def _card_action(actor: Actor, resident_id: int, purpose: str, target: str, code: str | None,
                 consent: AssistConsent | None = None) -> dict:
    card = cards.live_card(resident_id)
    _check_card_allows(card, purpose)
    if consent is None:
        _consume_code(purpose, code or "", [VerificationCode.resident_id == resident_id])
    CARD_MACHINE.transition(card, target, actor, audit_after={"consent_id": consent.id} if consent else None)
    db.session.commit()
    return card_view(resident_id)


def activate_card(actor: Actor, resident_id: int, code: str) -> dict:
    """激活: an issued card's financial function is switched on, confirmed by the SMS code."""
    return _card_action(actor, resident_id, "activate", "active", code)


def report_loss(actor: Actor, resident_id: int, code: str) -> dict:
    """挂失: the card is blocked at once, confirmed by the SMS code; money waits until a replacement."""
    return _card_action(actor, resident_id, "loss", "lost", code)


def request_replacement(actor: Actor, resident_id: int, *, bank_id: int | None = None, delivery: str = "branch",
                        branch: str | None = None, postal_address: str | None = None,
                        photo: bytes | None = None) -> dict:
    """补换卡 after a loss: the lost card is cancelled and a new one is made (with its application to follow)."""
    card = cards.live_card(resident_id)
    if card is None or card.status != "lost":
        raise Conflict("只有已挂失的社保卡可以在这里补卡；请先挂失", code="card_not_lost")
    args = _application_args(bank_id or card.bank_id, branch, delivery, postal_address)
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


# --------------------------------------------------------------------------- public policies


def public_policies() -> list[dict]:
    """补贴政策清单: coded projects, readable by anyone."""
    rows = db.session.execute(
        sa.select(Project.id, Project.code, Project.category, Project.name, Project.cycle, Project.standard_fen,
                  Project.per_household, Project.eligibility, Project.policy_basis, Department.name.label("dept"))
        .join(Department, Department.id == Project.department_id)
        .where(Project.status == "coded").order_by(Project.code)
    ).all()
    return [{"id": r.id, "code": r.code, "category": r.category, "name": r.name, "department": r.dept,
             "cycle": r.cycle, "cycle_label": CYCLES.get(r.cycle, r.cycle),
             "standard": (format_yuan(r.standard_fen) + ("/户" if r.per_household else "/人")) if r.standard_fen
             else "按核定标准发放", "eligibility": r.eligibility or "详见政策文件", "policy_basis": r.policy_basis}
            for r in rows]


# --------------------------------------------------------------------------- complaints


def _complaint_dict(c: Complaint, names: dict[int, str] | None = None) -> dict:
    names = names or {}
    return {"id": c.id, "text": c.text, "status": c.status, "status_label": "已答复" if c.status == "replied"
            else "待答复", "reply": c.reply, "replied_at": local_str(c.replied_at) or None,
            "created_at": local_str(c.created_at), "ledger_entry_id": c.ledger_entry_id,
            "project_id": c.project_id, "department_id": c.department_id,
            "department": names.get(c.department_id)}


def _department_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Department.id, Department.name)).all())


def file_complaint(actor: Actor, resident_id: int, text: str, *, ledger_entry_id: int | None = None,
                   project_id: int | None = None) -> dict:
    """投诉咨询: routed to the department of the payment's (or project's) owner; else to 人社局."""
    text = normalize_text(text, field="text", max_len=500, label="问题描述")
    department_id = None
    if ledger_entry_id:
        entry = db.session.execute(sa.select(LedgerEntry.project_id, LedgerEntry.department_id)
                                   .where(LedgerEntry.id == ledger_entry_id, _mine(resident_id))).first()
        if entry is None:
            raise NotFound("没有找到这笔发放记录", code="ledger_entry_not_found", field="ledger_entry_id")
        project_id, department_id = entry.project_id, entry.department_id
    elif project_id:
        project = db.session.get(Project, project_id)
        if project is None:
            raise NotFound("没有找到这个补贴项目", code="project_not_found", field="project_id")
        department_id = project.department_id
    if department_id is None:
        department_id = db.session.execute(sa.select(Department.id).where(Department.kind == "hrss")).scalar()
    complaint = Complaint(resident_id=resident_id, ledger_entry_id=ledger_entry_id, project_id=project_id,
                          department_id=department_id, text=text,
                          filed_by_staff_id=actor.id if actor.kind == "staff" else None)
    db.session.add(complaint)
    db.session.flush()
    audit.record("complaint.filed", actor=actor, entity_type="complaint", entity_id=complaint.id,
                 after={"department_id": department_id, "ledger_entry_id": ledger_entry_id},
                 on_behalf_of=resident_id if actor.kind == "staff" else None)
    db.session.commit()
    return _complaint_dict(complaint, _department_names())


def my_complaints(resident_id: int) -> list[dict]:
    names = _department_names()
    return [_complaint_dict(c, names) for c in db.session.execute(
        sa.select(Complaint).where(Complaint.resident_id == resident_id).order_by(Complaint.id.desc())).scalars()]


def staff_complaints(actor: Actor, status: str | None = None) -> list[dict]:
    """Complaints routed to the actor's department (everything for the bureau, finance and audit)."""
    permissions.require(actor, "complaint.read")
    stmt = sa.select(Complaint).where(permissions.scope_filter(actor, Complaint))
    if status:
        stmt = stmt.where(Complaint.status == status)
    names = _department_names()
    return [_complaint_dict(c, names) for c in db.session.execute(stmt.order_by(Complaint.id.desc()).limit(500))
            .scalars()]


def reply_complaint(actor: Actor, complaint_id: int, reply: str) -> dict:
    """The department answers; the resident reads it on the phone. Another department's complaint is 404."""
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        raise NotFound("投诉咨询不存在", code="complaint_not_found")
    permissions.require(actor, "complaint.reply", complaint, hide=True)
    reply = normalize_text(reply, field="reply", max_len=1000, label="答复内容")
    complaint.reply, complaint.status = reply, "replied"
    complaint.replied_by_staff_id, complaint.replied_at = actor.id, utcnow()
    audit.record("complaint.replied", actor=actor, entity_type="complaint", entity_id=complaint.id,
                 after={"status": "replied"}, on_behalf_of=None)
    db.session.commit()
    return _complaint_dict(complaint, _department_names())


# --------------------------------------------------------------------------- settings


def set_sms_opt_out(actor: Actor, resident_id: int, off: bool) -> dict:
    """到账短信开关 for the citizen doors; the rule (who may, what happens to unsent notices) lives in
    notifications.service.set_sms_opt_out."""
    from notifications.service import set_sms_opt_out as switch
    resident = switch(actor, resident_id, off)
    return {"sms_opt_out": bool(resident.sms_opt_out), "sms_notices": not resident.sms_opt_out}


# --------------------------------------------------------------------------- who acted for me

ACTION_LABELS = {
    "assist.consent": "取得您的代办授权", "assist.viewed": "查询了您的社保卡状态",
    "assist.subsidies_read": "查看了您的补贴到账记录", "card.applied": "为您申领社保卡",
    "card_application.submitted": "提交社保卡申领", "card.active": "为您激活社保卡",
    "complaint.filed": "为您提交投诉咨询", "card.lost": "为您挂失社保卡",
}


def assisted_actions(resident_id: int, limit: int = 100) -> list[dict]:
    """Everything staff did on my behalf (from the audit trail), newest first."""
    from onecard.audit import AuditEntry
    rows = db.session.execute(
        sa.select(AuditEntry.at, AuditEntry.actor_label, AuditEntry.action, AuditEntry.channel)
        .where(AuditEntry.on_behalf_of == resident_id).order_by(AuditEntry.seq.desc()).limit(limit)).all()
    return [{"at": local_str(r.at), "who": r.actor_label, "action": r.action,
             "what": ACTION_LABELS.get(r.action, r.action)} for r in rows]


# --------------------------------------------------------------------------- village-assisted mode (村协办员代办)


def _assist_resident(actor: Actor, resident_id: int) -> Resident:
    resident = db.session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("记录不存在", code="not_found")
    permissions.require(actor, "resident.assist", resident, hide=True)
    return resident


def _resident_brief(r: Resident, village_names: dict[int, str]) -> dict:
    return {"id": r.id, "name": r.name, "id_masked": r.id_masked, "mobile_masked": r.mobile_masked,
            "village": village_names.get(r.village_id), "relation_to_head": r.relation_to_head}


def assist_search(actor: Actor, query: str) -> list[dict]:
    """Residents of the staff member's own village (town for town staff) by name or full ID number; masked."""
    permissions.require(actor, "resident.assist")
    query = normalize_text(query, field="q", max_len=40, label="姓名或身份证号")
    stmt = sa.select(Resident).where(permissions.scope_filter(actor, Resident))
    if any(ch.isdigit() for ch in query):
        stmt = stmt.where(Resident.id_bidx == blind_index(normalize_id_number(query, field="q"), "id"))
    else:
        stmt = stmt.where(Resident.name == normalize_name(query, field="q"))
    rows = db.session.execute(stmt.order_by(Resident.id).limit(50)).scalars().all()
    names = dict(db.session.execute(sa.select(Village.id, Village.name)).all())
    return [_resident_brief(r, names) for r in rows]


def assist_view(actor: Actor, resident_id: int) -> dict:
    """The card status of a resident of my village (no consent needed to look; the look is audited)."""
    actor = actor.acting_for(_assist_resident(actor, resident_id).id)
    view = card_view(resident_id)
    view["applications"] = list_applications(resident_id)
    audit.record("assist.viewed", actor=actor, entity_type="resident", entity_id=resident_id)
    db.session.commit()
    return view


def assist_consent_code(actor: Actor, resident_id: int) -> CodeSent:
    """Send the consent code to the resident's own phone; the resident reads it out to the staff member."""
    resident = _assist_resident(actor, resident_id)
    if not resident.mobile:
        raise Conflict("该居民没有登记手机号码，请拍照上传签字的授权书", code="no_mobile")
    _check_number_limit(resident.mobile_bidx)
    code = _new_code("assist", resident_id=resident_id, mobile_bidx=resident.mobile_bidx, staff_id=actor.id,
                     ip=actor.ip)
    db.session.commit()
    label = actor.label.split("(")[0]
    _send_code(resident.mobile, "assist", code, extra=f"（协办员：{label}）")
    return CodeSent(f"验证码已发送至居民手机 {resident.mobile_masked}，请居民告诉您", resident.mobile_masked,
                    dev_code=_dev_code(code))


def grant_consent(actor: Actor, resident_id: int, *, code: str | None = None, form: bytes | None = None) -> dict:
    """代办授权: the resident's SMS code typed in by the staff member, or a photographed signed form."""
    resident = _assist_resident(actor, resident_id)
    if code:
        _consume_code("assist", code, [VerificationCode.resident_id == resident.id,
                                       VerificationCode.staff_id == actor.id])
        method, path = "sms", None
    elif form:
        method, path = "form", save_upload(form, field="form", what="签字授权书照片", subdir="consents")
    else:
        raise Invalid("请输入居民手机收到的验证码，或拍照上传签字的授权书", code="consent_required", field="code")
    consent = AssistConsent(resident_id=resident.id, staff_id=actor.id, method=method, form_path=path,
                            expires_at=utcnow() + CONSENT_TTL)
    db.session.add(consent)
    db.session.flush()
    audit.record("assist.consent", actor=actor.acting_for(resident.id), entity_type="assist_consent",
                 entity_id=consent.id, after={"method": method})
    db.session.commit()
    return {"consent_id": consent.id, "method": method, "expires_at": local_str(consent.expires_at)}


def _require_consent(actor: Actor, resident_id: int, consent_id: int | None) -> tuple[Actor, AssistConsent]:
    _assist_resident(actor, resident_id)
    consent = db.session.get(AssistConsent, consent_id or 0)
    if (consent is None or consent.resident_id != resident_id or consent.staff_id != actor.id
            or consent.expires_at <= utcnow()):
        raise Forbidden("需要居民本次的授权（短信验证码或签字授权书），请先取得授权", code="consent_required",
                        field="consent_id")
    return replace(actor.acting_for(resident_id), extra={"consent_id": consent.id}), consent


def assist_apply(actor: Actor, resident_id: int, consent_id: int, **kwargs) -> dict:
    acting, _ = _require_consent(actor, resident_id, consent_id)
    return apply_for_card(acting, resident_id, **kwargs)


def assist_activate(actor: Actor, resident_id: int, consent_id: int) -> dict:
    acting, consent = _require_consent(actor, resident_id, consent_id)
    return _card_action(acting, resident_id, "activate", "active", None, consent=consent)


def assist_subsidies(actor: Actor, resident_id: int, consent_id: int, *, page: int = 1) -> dict:
    acting, _ = _require_consent(actor, resident_id, consent_id)
    result = my_subsidies(resident_id, page=page)
    audit.record("assist.subsidies_read", actor=acting, entity_type="resident", entity_id=resident_id)
    db.session.commit()
    return result


def assist_complaint(actor: Actor, resident_id: int, consent_id: int, text: str,
                     ledger_entry_id: int | None = None) -> dict:
    acting, _ = _require_consent(actor, resident_id, consent_id)
    return file_complaint(acting, resident_id, text, ledger_entry_id=ledger_entry_id)


def staff_label(staff_id: int) -> str:
    account = db.session.get(StaffAccount, staff_id)
    return account.display_name if account else ""

