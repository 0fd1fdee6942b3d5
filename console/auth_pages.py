"""Sign in, sign out and change one's password (the same staff service as the API)."""
from __future__ import annotations

import time

from flask import redirect, render_template, request, url_for

from onecard.errors import DomainError, Unauthenticated, Unavailable
from onecard.extensions import db
from onecard.staff import service as staff_service
from onecard.timeutil import local_str
from onecard.web import client_ip
from onecard.web.ratelimit import limiter

from . import bp
from .core import current_account, notify, page, reset_session, safe_next, session


def _last_login_text(result: staff_service.LoginResult) -> str:
    if result.previous_login_at is None:
        return "这是您第一次登录本平台"
    where = f" 来自 {result.previous_login_ip}" if result.previous_login_ip else ""
    return f"上次登录：{local_str(result.previous_login_at)}{where}"


@bp.get("/login")
def login():
    if session().get("token"):
        return redirect(url_for("console.home"))
    return render_template("console/login.html", username="", next=safe_next(request.args.get("next")))


@bp.post("/login")
@limiter.limit_setting("STAFF_SIGN_IN_RATE_LIMIT", scope="staff.sign_in")
def login_post():
    username = request.form.get("username", "").strip()[:40]
    password = request.form.get("password", "")[:200]
    target = safe_next(request.form.get("next"))
    try:
        result = staff_service.login(username, password, ip=client_ip(), channel="console")
    except (Unauthenticated, Unavailable) as exc:
        db.session.rollback()
        page_ = render_template("console/login.html", username=username, next=target, error=exc.message)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        return page_, exc.status, headers
    # A new session on sign-in (fresh CSRF token): nothing from before the login carries over.
    reset_session(token=result.token, seen=int(time.time()), last_login=_last_login_text(result))
    if result.account.must_change_password:
        return redirect(url_for("console.password"))
    return redirect(target or url_for("console.home"))


@bp.post("/logout")
@page()
def logout(actor):
    staff_service.logout(actor, session().get("token"))
    reset_session()
    notify("success", "已安全退出")
    return redirect(url_for("console.login"))


@bp.get("/password")
@page()
def password(actor):
    return render_template("console/password.html", forced=current_account().must_change_password)


@bp.post("/password")
@page()
def password_post(actor):
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password_again", ""):
        return render_template("console/password.html", forced=current_account().must_change_password,
                               error="两次输入的新密码不一致", error_field="new_password_again"), 422
    try:
        staff_service.change_password(actor, request.form.get("old_password", ""), new)
    except DomainError as exc:
        db.session.rollback()
        return render_template("console/password.html", forced=current_account().must_change_password,
                               error=exc.message, error_field=exc.field), exc.status
    # Changing the password ends every session of this account, this one included.
    reset_session()
    notify("success", "密码已修改，请用新密码重新登录")
    return redirect(url_for("console.login"))
