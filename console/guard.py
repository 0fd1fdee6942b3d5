"""Buttons that act once: a one-time form nonce and ``guarded_post``.

Every form that changes something carries ``{{ form_guard() }}``: the CSRF token
and a nonce signed for the signed-in staff member. ``guarded_post`` spends the
nonce by INSERTing it into ``console_form_nonces`` (primary key) in its own
commit before acting, so of two submits of the same page (a double click, the
back button, a second tab) exactly one gets to act; the other is told
"该操作已处理" and nothing runs. A refusal from the service gives the nonce back,
because nothing was done and the person may simply correct and press again.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError

from onecard.actors import Actor
from onecard.errors import DomainError
from onecard.extensions import db
from onecard.timeutil import utcnow

from . import bp
from .core import csrf_token, error_page, notify

NONCE_MAX_AGE_SECONDS = 12 * 3600   # a page left open over night must be reloaded
ALREADY_DONE = "该操作已处理，本次提交未重复执行。"


class ConsoleFormNonce(db.Model):
    """A spent form nonce: one row per form submission that was allowed to act."""
    __tablename__ = "console_form_nonces"
    nonce = sa.Column(sa.String(64), primary_key=True)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=False)
    endpoint = sa.Column(sa.String(80), nullable=False)
    used_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="onecard.console.form-nonce")


def new_nonce(staff_id: int) -> str:
    return _serializer().dumps({"s": staff_id, "n": secrets.token_hex(16)})


def _nonce_key(actor: Actor, raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        value = _serializer().loads(raw, max_age=NONCE_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("s") != actor.id:
        return None
    return str(value.get("n"))


@bp.app_template_global("form_guard")
def form_guard(with_nonce: bool = True) -> Markup:
    """Hidden fields for a console form: CSRF always, the one-time nonce for buttons that act."""
    from .core import current_actor
    html = f'<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">'
    if with_nonce:
        html += f'<input type="hidden" name="form_nonce" value="{escape(new_nonce(current_actor().id))}">'
    return Markup(html)


def spend_nonce(actor: Actor) -> str:
    """'ok' (this submit may act), 'used' (already acted) or 'invalid' (missing, forged, expired)."""
    key = _nonce_key(actor, request.form.get("form_nonce"))
    if key is None:
        return "invalid"
    # Rows older than a nonce can live guard nothing (the signature has expired): drop them as we go.
    db.session.execute(sa.delete(ConsoleFormNonce).where(
        ConsoleFormNonce.used_at < utcnow() - timedelta(seconds=NONCE_MAX_AGE_SECONDS)))
    db.session.add(ConsoleFormNonce(nonce=key, staff_id=actor.id, endpoint=(request.endpoint or "")[:80]))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "used"
    request.environ["onecard.console.nonce"] = key
    return "ok"


def _give_back_nonce() -> None:
    key = request.environ.pop("onecard.console.nonce", None)
    if key:
        db.session.execute(sa.delete(ConsoleFormNonce).where(ConsoleFormNonce.nonce == key))
        db.session.commit()


def guarded_post(actor: Actor, action: Callable[[], Any], *, done: str | Callable[[Any], str], then: str,
                 on_error: Callable[[DomainError], Any] | None = None):
    """Run ``action`` (one service call) at most once for this form, then redirect to ``then``.

    done: the success message (or a function of the action's result). on_error: how to answer a
    refusal (default: the service's Chinese message on the ``then`` page); the nonce is given back.
    """
    status = spend_nonce(actor)
    if status == "used":
        notify("info", ALREADY_DONE)
        return redirect(then)
    if status == "invalid":
        return error_page(400, "页面已过期，请刷新页面后重新操作。", title="请求被拒绝")
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        _give_back_nonce()
        if on_error is not None:
            return on_error(exc)
        notify("error", exc.message)
        return redirect(then)
    notify("success", done(result) if callable(done) else done)
    return redirect(then)
