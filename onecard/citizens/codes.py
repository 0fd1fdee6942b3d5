"""SMS verification codes (短信验证码) and real-name binding (实名绑定), which is their first use.

A code is 6 digits, lives 5 minutes, is used once and allows a few wrong attempts; only a keyed hash
is stored. The limits are kept in the database so every worker process agrees. Card actions
(onecard.cards.applications) and the village-assisted consent (onecard.citizens.assist) issue and
consume codes through the public functions here.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from onecard import audit
from onecard.actors import Actor
from onecard.citizens import sms
from onecard.citizens.models import CitizenSession, VerificationCode
from onecard.citizens.sessions import CitizenContext, dev_login_allowed
from onecard.errors import Invalid, NotFound, RateLimited
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.privacy import blind_index, blind_indexes, mask_name
from onecard.timeutil import local_str, utcnow
from onecard.validation import normalize_id_number, normalize_name

CODE_TTL = timedelta(minutes=5)
CODE_MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)       # one code per number per minute
PER_NUMBER_PER_HOUR = 5                    # SMS to one number
PER_SESSION_PER_HOUR = 10                  # code requests from one signed-in phone (openid)
BINDING_SENT = "如信息正确，验证码已发送至登记的手机号码。若1分钟内未收到，请核对姓名和身份证号后重试。"
PURPOSE_TEXT = {"bind": "实名绑定", "activate": "激活社保卡金融功能", "loss": "社保卡挂失",
                "assist": "授权村协办员代办"}


@dataclass
class CodeSent:
    message: str
    mobile_masked: str | None = None
    dev_code: str | None = None     # only with DEV_LOGIN and the console provider (H5 demo hint); never in the API


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


def check_number_limit(mobile_bidx: str | None) -> None:
    """Refuses (429) a code to a number that had one in the last minute or five in the last hour."""
    if not _number_allowed(mobile_bidx):
        raise RateLimited("验证码发送太频繁，请1分钟后再试；每小时最多5次", code="code_rate_limited")


def check_session_limit(session_id: int | None) -> None:
    """Refuses (429) a signed-in phone its eleventh code request within an hour (none without a session)."""
    if session_id is None:
        return
    count = db.session.execute(
        sa.select(sa.func.count(VerificationCode.id)).where(
            VerificationCode.session_id == session_id,
            VerificationCode.created_at > utcnow() - timedelta(hours=1))
    ).scalar()
    if count >= PER_SESSION_PER_HOUR:
        raise RateLimited("获取验证码次数过多，请1小时后再试", code="code_rate_limited")


def new_code(purpose: str, *, resident_id: int | None, mobile_bidx: str | None, session_id: int | None = None,
             staff_id: int | None = None, target_bidx: str | None = None, ip: str | None = None) -> str:
    """A fresh code for ``purpose``, stored as its keyed hash (flushed, not committed); returns the digits."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.session.add(VerificationCode(
        purpose=purpose, resident_id=resident_id, session_id=session_id, staff_id=staff_id,
        target_bidx=target_bidx, mobile_bidx=mobile_bidx, code_hash=_code_hash(purpose, code),
        expires_at=utcnow() + CODE_TTL, ip=ip))
    db.session.flush()
    return code


def send_code(mobile: str, purpose: str, code: str, extra: str = "") -> None:
    """Text the code to ``mobile`` at once, saying what it confirms."""
    sms.send_code_sms(mobile, f"您正在{PURPOSE_TEXT[purpose]}{extra}，验证码{code}，5分钟内有效。"
                              "请勿告诉他人（村协办员代办时可告知在场协办员）。")


def consume_code(purpose: str, code: str, where: list) -> VerificationCode:
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


@dataclass
class PendingCode:
    """A code step waiting for its digits: what the page needs to show it again after a reload or a back."""
    expires_in: int          # seconds the code stays valid
    resend_in: int           # seconds until a new code may be sent (0: now)
    resend_at: str           # local clock time from which a new code may be sent (HH:MM:SS)


def pending_code(purpose: str, *, session_id: int | None, resident_id: int | None = None) -> PendingCode | None:
    """The newest live, unused code for ``purpose`` matching ``where`` (a session, a resident), if any.

    The H5 pages show the code field whenever this exists, so a reload, a back or a mode switch
    never loses a code the resident already holds.
    """
    if session_id is None:
        return None
    where = [VerificationCode.session_id == session_id]
    if resident_id is not None:
        where.append(VerificationCode.resident_id == resident_id)
    row = db.session.execute(
        sa.select(VerificationCode).where(VerificationCode.purpose == purpose, VerificationCode.used_at.is_(None),
                                          *where)
        .order_by(VerificationCode.id.desc()).limit(1)
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or row.expires_at <= now or row.attempts >= CODE_MAX_ATTEMPTS:
        return None
    resend = row.created_at + RESEND_AFTER
    return PendingCode(expires_in=math.ceil((row.expires_at - now).total_seconds()),
                       resend_in=max(0, math.ceil((resend - now).total_seconds())),
                       resend_at=local_str(resend, "%H:%M:%S"))


def dev_code(code: str) -> str | None:
    """The code itself for the H5 demo hint (development login with the console SMS provider), else None."""
    cfg = current_app.config
    return code if dev_login_allowed() and cfg.get("SMS_PROVIDER") == "console" and cfg.get("ENV") != "testing" \
        else None


# --------------------------------------------------------------------------- real-name binding


def request_binding_code(ctx: CitizenContext, name: str, id_number: str) -> CodeSent:
    """实名绑定第一步: send a code to the mobile on record when name and ID belong together.

    The answer is the same whether or not they do (and a row is written either way), so
    nobody learns from it whether an ID number is registered.
    """
    name = normalize_name(name)
    id_number = normalize_id_number(id_number)
    check_session_limit(ctx.session_id)
    bidx = blind_index(id_number, "id")
    resident = db.session.execute(sa.select(Resident).where(
        Resident.id_bidx.in_(blind_indexes(id_number, "id")))).scalar_one_or_none()
    match = (resident is not None and resident.name == name and resident.mobile is not None
             and resident.deceased_on is None and _number_allowed(resident.mobile_bidx))
    code = new_code("bind", resident_id=resident.id if match else None,
                    mobile_bidx=resident.mobile_bidx if match else None, session_id=ctx.session_id,
                    target_bidx=bidx, ip=ctx.ip)
    db.session.commit()
    if match:
        send_code(resident.mobile, "bind", code)
    return CodeSent(BINDING_SENT, dev_code=dev_code(code) if match else None)


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
        where.append(VerificationCode.target_bidx.in_(blind_indexes(normalize_id_number(id_number), "id")))
    row = consume_code("bind", code, where)
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
