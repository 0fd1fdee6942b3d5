"""Village-assisted H5 pages (/m/assist/): a village staff member beside a resident, on a phone or tablet.

Staff sign in with their username and password (onecard.staff.service.login); the staff token
lives in an HttpOnly cookie. Every action goes through the same assist service functions as
the staff API, each needing the resident's consent for this sitting.
"""
from __future__ import annotations

from flask import current_app, redirect, request, url_for

from citizen_app.pages import STAFF_COOKIE, _form_photo, _page, application_form, bp, field_errors
from onecard.cards import applications as card_applications
from onecard.citizens import assist
from onecard.errors import DomainError, Unauthenticated
from onecard.extensions import db
from onecard.staff import service as staff_service
from onecard.web import client_ip
from onecard.web.http import form_int
from onecard.web.ratelimit import limiter


def _staff():
    try:
        return staff_service.authenticate(request.cookies.get(STAFF_COOKIE), ip=client_ip(), channel="h5")
    except Unauthenticated:
        return None


def _consent_id() -> int | None:
    return form_int(request.values.get("consent_id"))


@bp.route("/assist/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def assist_login():
    error = None
    if request.method == "POST":
        try:
            result = staff_service.login(request.form.get("username", ""), request.form.get("password", ""),
                                         ip=client_ip(), channel="h5")
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            response = redirect(url_for("citizen_pages.assist_home"))
            response.set_cookie(STAFF_COOKIE, result.token, httponly=True, samesite="Lax",
                                secure=current_app.config.get("ENV") == "production")
            return response
    return _page("m/assist_login.html", error=error)


@bp.get("/assist/")
def assist_home():
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    q = request.args.get("q", "").strip()
    results, error = [], None
    if q:
        try:
            results = assist.assist_search(actor, q)
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    return _page("m/assist_home.html", actor=actor, q="" if q and any(c.isdigit() for c in q) else q,
                 results=results, searched=bool(q), error=error)


@bp.route("/assist/r/<int:resident_id>", methods=["GET", "POST"])
def assist_resident(resident_id):
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    consent_id, errors, message, dev_code = _consent_id(), {}, None, None
    if request.method == "POST":
        step = request.form.get("step")
        try:
            if step == "send":
                sent = assist.assist_consent_code(actor, resident_id)
                message, dev_code = sent.message, sent.dev_code
            elif step == "consent":
                consent_id = assist.grant_consent(actor, resident_id, code=request.form.get("code") or None,
                                                   form=_form_photo("form"))["consent_id"]
                message = "已取得居民授权（30分钟内有效）"
            elif step == "activate":
                assist.assist_activate(actor, resident_id, consent_id)
                message = "已为居民激活社保卡"
            elif step == "apply":
                assist.assist_apply(actor, resident_id, consent_id, **application_form())
                message = "已为居民提交申领"
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    view = assist.assist_view(actor, resident_id)
    subsidies = None
    if consent_id and request.args.get("show") == "subsidies":
        try:
            subsidies = assist.assist_subsidies(actor, resident_id, consent_id)
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    return _page("m/assist_resident.html", actor=actor, resident_id=resident_id, card=view, consent_id=consent_id,
                 errors=errors, form=request.form, message=message, dev_code=dev_code, banks=card_applications.list_banks(),
                 subsidies=subsidies)
