"""Citizen sessions (居民登录): who is on the phone, how they sign in and out.

A session is a signed-in phone (WeChat openid, a plain browser, or a development login),
bound to a resident once real-name binding (onecard.citizens.codes.bind) succeeds. Each
function is one transaction: it commits at the end or raises a DomainError.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from onecard import audit, tokens, wechat
from onecard.actors import Actor
from onecard.citizens.models import CitizenSession
from onecard.errors import Forbidden, Invalid, NotFound, Unauthenticated
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.privacy import blind_indexes
from onecard.staff.models import AuthToken
from onecard.timeutil import utcnow
from onecard.validation import normalize_id_number


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
    """Whether the development login (and its demo hints) is on: DEV_LOGIN set, and never in production."""
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
        bidxs = blind_indexes(normalize_id_number(id_number), "id")
        rid = db.session.execute(sa.select(Resident.id).where(Resident.id_bidx.in_(bidxs))).scalar()
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
def live_session(*columns) -> sa.Select:
    """``columns`` of the citizen session behind a live token (bind parameters ``token_hash`` and ``now``):
    the one statement of "who is signed in", for authenticate() and for reads that check the token in the
    same query (payments.my_subsidies)."""
    return (sa.select(*columns)
            .select_from(_AUTH.join(_SESSIONS, _AUTH.c.subject_id == _SESSIONS.c.id))
            .where(tokens.live("citizen", _TOKEN_HASH, _NOW)))


_TOKEN_LOOKUP = live_session(_SESSIONS.c.id, _SESSIONS.c.resident_id, _SESSIONS.c.openid)


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
    """退出登录: the token stops working at once (other sessions of the same phone are untouched)."""
    tokens.revoke(token)
    db.session.commit()
