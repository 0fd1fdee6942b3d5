"""Mobile H5 pages (/m/): the same flows as the mini-program, for any phone browser (WeChat's too).

The session is an HttpOnly cookie holding a citizen token; every POST form carries a
CSRF token derived from that cookie (or, before login, from a random pre-login cookie).
Pages call the same citizen service functions as the JSON API: no second copy of a rule.
Elderly mode (适老化) is a cookie: large type, high contrast, one task per screen.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from onecard import demo
from onecard.cards import applications as card_applications
from onecard.citizens import assist, codes, preferences, sessions
from onecard.citizens.demo import demo_residents
from onecard.complaints import service as complaint_service
from onecard.errors import DomainError, Unauthenticated, page_message
from onecard.extensions import db
from onecard.payments import my_subsidies, owed
from onecard.projects import policies as project_policies
from onecard.web import client_ip
from onecard.web.http import form_int, refuse_unreadable_text
from onecard.web.ratelimit import limiter

bp = Blueprint("citizen_pages", __name__, url_prefix="/m")

SESSION_COOKIE = "oc_citizen"
PRE_COOKIE = "oc_pre"
ELDERLY_COOKIE = "oc_elderly"
STAFF_COOKIE = "oc_staff"   # village-assisted pages (/m/assist/)


# ---------------------------------------------------------------- session, CSRF, rendering


def _seed() -> str:
    return (request.cookies.get(SESSION_COOKIE) or request.cookies.get(STAFF_COOKIE) or g.get("pre_seed")
            or request.cookies.get(PRE_COOKIE) or "")


def csrf_token() -> str:
    if not _seed():
        g.pre_seed = secrets.token_urlsafe(16)
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, ("csrf:" + _seed()).encode(), hashlib.sha256).hexdigest()[:32]


bp.before_request(refuse_unreadable_text)


@bp.before_request
def _check_csrf():
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not _seed() or not hmac.compare_digest(sent, csrf_token()):
            return _page("m/error.html", 400, message="页面已过期或来源不明，请返回上一页刷新后重新操作。")
    return None


@bp.after_request
def _cookies(response):
    if g.get("pre_seed") and not request.cookies.get(PRE_COOKIE):
        response.set_cookie(PRE_COOKIE, g.pre_seed, httponly=True, samesite="Lax",
                            secure=current_app.config.get("ENV") == "production")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _ctx(optional: bool = False) -> sessions.CitizenContext | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token and optional:
        return None
    try:
        return sessions.authenticate(token, ip=client_ip(), channel="h5")
    except Unauthenticated:
        if optional:
            return None
        raise


def _page(template: str, status: int = 200, **context):
    elderly = request.cookies.get(ELDERLY_COOKIE) == "1"
    try:
        synthetic = demo.is_synthetic()
    except SQLAlchemyError:   # a banner must never break a page (a broken db); a bug still raises
        db.session.rollback()
        synthetic = False
    body = render_template(template, elderly=elderly, synthetic=synthetic, csrf_token=csrf_token(),
                           dev_login=sessions.dev_login_allowed(), **context)
    return make_response(body, status)


def field_errors(exc: DomainError) -> dict[str, str]:
    """A refusal as {field: message} for the form (every field at once where the rule says so); "" is the page."""
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    if fields:
        return dict(fields)
    return {exc.field or "": exc.message}


def resident_page(view):
    """A page for a bound resident: unknown sessions go to login, unbound ones to binding."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        ctx = _ctx(optional=True)
        if ctx is None:
            return redirect(url_for("citizen_pages.login"))
        if ctx.resident_id is None:
            return redirect(url_for("citizen_pages.bind"))
        g.citizen = ctx
        return view(ctx, *args, **kwargs)
    return wrapper


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    db.session.rollback()
    if isinstance(exc, Unauthenticated):
        assist = request.path.startswith("/m/assist")
        return redirect(url_for("citizen_pages.assist_login" if assist else "citizen_pages.login"))
    return _page("m/error.html", exc.status, message=exc.message)


@bp.errorhandler(HTTPException)
def http_error_page(exc: HTTPException):
    """A phone browser gets a page in plain words, not the API's JSON (too many tries, a missing page...)."""
    db.session.rollback()
    return _page("m/error.html", exc.code or 500, message=page_message(exc))


def _form_photo(name: str = "photo") -> bytes | None:
    upload = request.files.get(name)
    return upload.read() if upload and upload.filename else None


# ---------------------------------------------------------------- pages


@bp.get("/")
def home():
    ctx = _ctx(optional=True)
    card = card_applications.card_view(ctx.resident_id) if ctx and ctx.resident_id else None
    latest = assist.latest_assisted_action(ctx.resident_id) if card else None
    return _page("m/home.html", ctx=ctx, card=card, latest_assist=latest)


def _signed_in(result: sessions.LoginResult):
    response = redirect(url_for("citizen_pages.home") if result.bound else url_for("citizen_pages.bind"))
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="Lax",
                        secure=current_app.config.get("ENV") == "production",
                        max_age=current_app.config["TOKEN_TTL_MINUTES"] * 60)
    return response


@bp.post("/login/phone")
@limiter.limit("10/minute;60/hour", methods=["POST"])
def phone_login():
    """Any phone browser: start an unbound session and prove who you are by real-name binding."""
    return _signed_in(sessions.browser_login(ip=client_ip()))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        if not sessions.dev_login_allowed():
            return _page("m/error.html", 404, message="页面不存在")
        try:
            ident = (request.form.get("id_number") or "").strip()
            rid = request.form.get("resident_id", "")
            result = sessions.dev_login(id_number=ident or None, resident_id=form_int(rid),
                                       ip=client_ip(), channel="h5")
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            return _signed_in(result)
    return _page("m/login.html", error=error, demo=demo_residents() if sessions.dev_login_allowed() else [])


@bp.post("/logout")
def logout():
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sessions.logout(token)
    response = redirect(url_for("citizen_pages.home"))
    response.delete_cookie(SESSION_COOKIE)
    return response


@bp.route("/bind", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def bind():
    ctx = _ctx(optional=True)
    if ctx is None:
        return redirect(url_for("citizen_pages.login"))
    errors, message, dev_code = {}, None, None
    if request.method == "POST":
        try:
            if request.form.get("step") == "code":
                codes.bind(ctx, None, None, request.form.get("code", ""))
                return redirect(url_for("citizen_pages.card"))
            if request.form.get("step") == "demo":
                sent = codes.request_binding_code_for_demo(ctx, form_int(request.form.get("resident_id")) or 0)
            else:
                sent = codes.request_binding_code(ctx, request.form.get("name", ""),
                                                    request.form.get("id_number", ""))
            message, dev_code = sent.message, sent.dev_code
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    # The code step is whatever the server knows: a live binding code for this session shows the code field,
    # after a reload, a back or a mode switch too (?again=1 goes back to the details on purpose).
    pending = codes.pending_code("bind", session_id=ctx.session_id)
    again = request.args.get("again") == "1" or (request.method == "POST" and request.form.get("step") != "code"
                                                  and not message)
    step = "code" if pending and not again else "details"
    return _page("m/bind.html", demo=demo_residents() if sessions.dev_login_allowed() else [], step=step,
                 errors=errors, message=message, dev_code=dev_code, pending=pending,
                 name=request.form.get("name", "") if step == "details" else "")


@bp.get("/card")
@resident_page
def card(ctx):
    return _page("m/card.html", card=card_applications.card_view(ctx.resident_id),
                 applications=card_applications.list_applications(ctx.resident_id))


def application_form() -> dict:
    """The card application form's fields as the service takes them (the resident's and the assisted page)."""
    f = request.form
    return dict(bank_id=form_int(f.get("bank_id")) or 0, delivery=f.get("delivery", "branch"),
                branch_id=form_int(f.get("branch_id")), postal_address=f.get("postal_address"),
                photo=_form_photo())


@bp.route("/apply", methods=["GET", "POST"])
@resident_page
def apply(ctx):
    card = card_applications.card_view(ctx.resident_id)
    errors = {}
    if request.method == "POST":
        try:
            if card["can_replace"]:
                card_applications.request_replacement(ctx.actor(), ctx.resident_id, **application_form())
            else:
                card_applications.apply_for_card(ctx.actor(), ctx.resident_id, **application_form())
            return redirect(url_for("citizen_pages.card", done="apply"))
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    return _page("m/apply.html", card=card, banks=card_applications.list_banks(), errors=errors, form=request.form)


def _code_page(ctx, purpose: str, template: str, action):
    card = card_applications.card_view(ctx.resident_id)
    errors, message, dev_code = {}, None, None
    if request.method == "POST":
        try:
            if request.form.get("step") == "code":
                action(ctx.actor(), ctx.resident_id, request.form.get("code", ""))
                return redirect(url_for("citizen_pages.card", done=purpose))
            sent = card_applications.request_card_code(ctx.actor(), ctx.resident_id, purpose, session_id=ctx.session_id)
            message, dev_code = sent.message, sent.dev_code
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    # The code step is the server's state (a live code of this purpose for this session), not the last answer.
    pending = codes.pending_code(purpose, session_id=ctx.session_id, resident_id=ctx.resident_id)
    return _page(template, card=card, step="code" if pending else "start", errors=errors, message=message,
                 dev_code=dev_code, pending=pending)


@bp.route("/activate", methods=["GET", "POST"])
@resident_page
def activate(ctx):
    return _code_page(ctx, "activate", "m/activate.html", card_applications.activate_card)


@bp.route("/loss", methods=["GET", "POST"])
@resident_page
def loss(ctx):
    return _code_page(ctx, "loss", "m/loss.html", card_applications.report_loss)


@bp.get("/subsidies")
@resident_page
def subsidies(ctx):
    page = request.args.get("page", "1")
    data = my_subsidies.my_subsidies(ctx.resident_id, page=form_int(page) or 1, per_page=10)
    return _page("m/subsidies.html", data=data, owed=owed.for_resident(ctx.resident_id))


@bp.get("/policies")
def policies():
    return _page("m/policies.html", policies=project_policies.public_policies())


@bp.route("/complaints", methods=["GET", "POST"])
@resident_page
def complaints(ctx):
    errors, done = {}, None
    if request.method == "POST":
        entry = request.form.get("ledger_entry_id", "")
        try:
            complaint_service.file_complaint(ctx.actor(), ctx.resident_id, request.form.get("text", ""),
                                   ledger_entry_id=form_int(entry))
            done = "您的问题已提交，主管部门答复后会显示在这里。"
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    return _complaints_page(ctx, errors=errors, done=done or COMPLAINT_DONE.get(request.args.get("done", "")))


COMPLAINT_DONE = {"confirm": "已确认办结，感谢您的反馈。",
                  "reopen": "已提交您的意见，主管部门会重新办理并在期限内答复。"}


def _complaints_page(ctx, *, errors=None, done=None, case_error=None, status: int = 200):
    return _page("m/complaints.html", status, items=complaint_service.my_complaints(ctx.resident_id),
                 errors=errors or {}, done=done, case_error=case_error,
                 ledger_entry_id=request.values.get("ledger_entry_id", ""))


@bp.post("/complaints/<int:complaint_id>/<any(confirm, reopen):step>")
@resident_page
def complaint_step(ctx, complaint_id, step):
    """确认办结 / 不满意重新办理: the same service calls as the citizen API; the state rule is the core's."""
    try:
        if step == "confirm":
            complaint_service.confirm_complaint(ctx.actor(), ctx.resident_id, complaint_id)
        else:
            complaint_service.reopen_complaint(ctx.actor(), ctx.resident_id, complaint_id,
                                               request.form.get("text", ""))
    except DomainError as exc:
        db.session.rollback()
        # Shown beside that case's buttons (or at the top when the case is not one of mine).
        return _complaints_page(ctx, case_error={"id": complaint_id, "step": step, "message": exc.message,
                                                 "text": request.form.get("text", "")}, status=exc.status)
    return redirect(url_for("citizen_pages.complaints", done=step, _anchor=f"complaint-{complaint_id}"))


@bp.route("/settings", methods=["GET", "POST"])
@resident_page
def settings(ctx):
    if request.method == "POST" and "sms" in request.form:
        preferences.set_sms_opt_out(ctx.actor(), ctx.resident_id, request.form["sms"] == "off")
        return redirect(url_for("citizen_pages.settings", saved=1))
    return _page("m/settings.html", card=card_applications.card_view(ctx.resident_id),
                 actions=assist.assisted_actions(ctx.resident_id, limit=20))


@bp.post("/elderly")
def elderly():
    """适老化 switch: kept in a cookie so it works before login too."""
    on = request.form.get("on") == "1"
    target = request.form.get("next") or url_for("citizen_pages.home")
    if not target.startswith("/m/"):
        target = url_for("citizen_pages.home")
    response = redirect(target)
    response.set_cookie(ELDERLY_COOKIE, "1" if on else "0", max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
