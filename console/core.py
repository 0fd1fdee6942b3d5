"""What every console page shares: the session cookie, CSRF, sign-in check, security headers, errors.

The console session is one sealed cookie (AES-GCM, HttpOnly, SameSite=Strict, path
/console) carrying a staff token issued for the console only (the API refuses it),
so expiry and revocation are exactly the API's (``staff.service.authenticate``). The cookie also carries the CSRF token, the
time of the last request (idle timeout, CONSOLE_IDLE_MINUTES), the last-login
notice and one-shot messages. It is re-sealed on every response; a forged or
tampered cookie is simply ignored.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from functools import wraps
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, make_response, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from onecard import demo
from onecard.actors import Actor
from onecard.errors import DomainError, Unauthenticated, page_message
from onecard.extensions import db
from onecard.staff import permissions
from onecard.staff import service as staff_service
from onecard.staff.models import ROLES, StaffAccount
from onecard.web import client_ip
from onecard.web.http import refuse_unreadable_text

from . import bp

COOKIE = "onecard_console"
COOKIE_PATH = "/console"
_SESSION_KEY = "onecard.console.session"
_ACTOR_KEY = "onecard.console.actor"
_COOKIE_AAD = b"onecard.console.session"
_COOKIE_KEYS: dict[str, AESGCM] = {}

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")

# Endpoints a signed-in user may open while a password change is pending.
PASSWORD_PENDING_ALLOWED = {"console.password", "console.password_post", "console.logout"}


class LoginRequired(Exception):
    """Raised inside a page when nobody (or an expired session) is signed in: answered by a redirect to login."""

    def __init__(self, message: str | None = None):
        super().__init__(message or "")
        self.message = message


# ---------------------------------------------------------------- the session cookie

def _cookie_key() -> AESGCM:
    """AES-GCM key of the console cookie, derived from SECRET_KEY: the cookie is sealed, not only signed, so its
    bearer token cannot be read out of a browser profile or a proxy log (issue #16)."""
    secret = current_app.config["SECRET_KEY"]
    key = _COOKIE_KEYS.get(secret)
    if key is None:
        key = _COOKIE_KEYS[secret] = AESGCM(hashlib.sha256(b"onecard.console.session\x00" + secret.encode()).digest())
    return key


def encode_session(data: dict) -> str:
    payload = json.dumps({"t": int(time.time()), "d": data}, separators=(",", ":")).encode()
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + _cookie_key().encrypt(nonce, payload, _COOKIE_AAD)).decode().rstrip("=")


def decode_session(raw: str | None) -> dict:
    if not raw:
        return {}
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        value = json.loads(_cookie_key().decrypt(blob[:12], blob[12:], _COOKIE_AAD))
    except (ValueError, InvalidTag, binascii.Error):
        return {}   # a forged, tampered or foreign cookie is simply ignored
    # Never older than a token can live: the cookie is re-sealed on every response.
    if not isinstance(value, dict) or time.time() - value.get("t", 0) > current_app.config["TOKEN_TTL_MINUTES"] * 60:
        return {}
    data = value.get("d")
    return data if isinstance(data, dict) else {}


def session() -> dict:
    """This request's console session (a plain dict written back to the cookie after the request)."""
    state = request.environ.get(_SESSION_KEY)
    if state is None:
        state = decode_session(request.cookies.get(COOKIE))
        request.environ[_SESSION_KEY] = state
    return state


def reset_session(**values) -> dict:
    """A fresh session (sign-in, sign-out): new CSRF token, nothing carried over but the given values."""
    state = {"csrf": secrets.token_urlsafe(24), **values}
    request.environ[_SESSION_KEY] = state
    return state


def csrf_token() -> str:
    state = session()
    if not state.get("csrf"):
        state["csrf"] = secrets.token_urlsafe(24)
    return state["csrf"]


def notify(kind: str, text: str) -> None:
    """A one-shot message shown on the next page rendered (kind: success, error, info)."""
    session().setdefault("msgs", []).append([kind, text])


def _take_messages() -> list[tuple[str, str]]:
    return [tuple(m) for m in session().pop("msgs", [])]


# ---------------------------------------------------------------- who is signed in

def _idle_seconds() -> int:
    cfg = current_app.config
    return min(cfg.get("CONSOLE_IDLE_MINUTES") or cfg["TOKEN_TTL_MINUTES"], cfg["TOKEN_TTL_MINUTES"]) * 60


def current_actor() -> Actor:
    """The signed-in staff member for this console request, or LoginRequired."""
    actor = request.environ.get(_ACTOR_KEY)
    if actor is not None:
        return actor
    state = session()
    token = state.get("token")
    if not token:
        raise LoginRequired()
    now = int(time.time())
    try:
        actor = staff_service.authenticate(token, ip=client_ip(), channel="console")
    except Unauthenticated as exc:
        db.session.rollback()
        reset_session()
        raise LoginRequired(exc.message if exc.code != "login_required" else None) from exc
    if now - int(state.get("seen", 0)) > _idle_seconds():
        staff_service.logout(actor, token)       # the token dies with the idle session, and it is audited
        reset_session()
        raise LoginRequired("长时间未操作，已自动退出，请重新登录")
    state["seen"] = now
    request.environ[_ACTOR_KEY] = actor
    request.environ["onecard.staff_actor"] = actor   # so staff_api.common.current_actor agrees
    return actor


def current_account() -> StaffAccount:
    return db.session.get(StaffAccount, current_actor().id)


def page(action: str | None = None):
    """Decorator for a console view: sign-in required, then ``permissions.require(actor, action)``.

    The view receives the Actor as its first argument.
    """
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            actor = current_actor()
            if request.endpoint not in PASSWORD_PENDING_ALLOWED and current_account().must_change_password:
                return redirect(url_for("console.password"))
            if action is not None:
                permissions.require(actor, action)
            return view(actor, *args, **kwargs)
        return wrapper
    return decorate


def safe_next(target: str | None) -> str | None:
    """Only a path inside the console is followed after login (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(COOKIE_PATH + "/") or "\\" in target:
        return None
    return target


# ---------------------------------------------------------------- rendering

def error_page(status: int, message: str, *, title: str = "无法完成操作"):
    return render_template("console/error.html", status=status, message=message, title=title), status


@bp.context_processor
def _layout_context():
    from .menu import menu_for
    actor = request.environ.get(_ACTOR_KEY)
    state = session()
    return {
        "actor": actor,
        "role_label": ROLES.get(actor.role, "") if actor else "",
        # While a password change is pending the menu is hidden: every other page leads back to it.
        "menu": menu_for(actor) if actor and not current_account().must_change_password else [],
        "csrf_token": csrf_token(),
        "messages": _take_messages(),
        "last_login": state.get("last_login") if actor else None,
        "synthetic": _synthetic(),
        "alerts_unread": _alerts_unread(actor),
    }


def _alerts_unread(actor) -> int:
    if actor is None or actor.kind != "staff":
        return 0
    from onecard.alerts import service as alerts
    try:
        return alerts.unread_count(actor)
    except SQLAlchemyError:   # as the banner: a badge must never break a page (e.g. an error page on a broken db)
        db.session.rollback()
        return 0


def _synthetic() -> bool:
    try:
        return demo.is_synthetic()
    except SQLAlchemyError:   # a banner must never break a page (e.g. an error page on a broken db)
        db.session.rollback()
        return False


# ---------------------------------------------------------------- request hooks

bp.before_request(refuse_unreadable_text)


@bp.before_request
def _check_csrf():
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    sent = request.form.get("csrf_token", "")
    expected = session().get("csrf", "")
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        return error_page(400, "页面已过期或请求来源无法确认（CSRF 校验未通过）。请刷新页面后重新操作。",
                          title="请求被拒绝")
    return None


@bp.after_request
def _finish(response):
    state = request.environ.get(_SESSION_KEY)
    if state is not None:
        cfg = current_app.config
        response.set_cookie(COOKIE, encode_session(state), path=COOKIE_PATH, httponly=True, samesite="Strict",
                            secure=cfg.get("ENV") == "production", max_age=cfg["TOKEN_TTL_MINUTES"] * 60)
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(LoginRequired)
def _login_required(exc: LoginRequired):
    if exc.message:
        notify("info", exc.message)
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("console.login", next=safe_next(target)))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    db.session.rollback()
    return error_page(exc.status, exc.message)


@bp.errorhandler(HTTPException)
def http_error_page(exc: HTTPException):
    db.session.rollback()
    page = make_response(error_page(exc.code or 500, page_message(exc)))
    if getattr(exc, "retry_after", None) is not None:   # a rate limit says when to come back
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


@bp.app_template_filter("localtime")
def _localtime(value) -> str:
    """A naive-UTC timestamp shown in Asia/Shanghai (YYYY-MM-DD HH:MM)."""
    from onecard.timeutil import local_str
    return local_str(value)
