"""Village-assisted H5 pages (/m/assist/): a village staff member beside a resident, on a phone or tablet.

Staff sign in with their username and password (onecard.staff.service.login); the staff token
lives in an HttpOnly cookie. Every action goes through the same assist service functions as
the staff API. Before the resident's consent the helper sees only masked words; the consent is
found on the server (helper + resident), so navigating away and back keeps it while it is valid.
Searches are POSTs: an ID number never appears in a URL or an access log. Town staff confirm
photographed consent forms here too (a second person's check).
"""
from __future__ import annotations

from flask import Response, current_app, redirect, request, url_for

from citizen_app.pages import STAFF_COOKIE, _form_photo, _page, application_form, bp, field_errors
from onecard.cards import applications as card_applications
from onecard.citizens import assist
from onecard.errors import DomainError, Unauthenticated
from onecard.extensions import db
from onecard.staff import permissions
from onecard.staff import service as staff_service
from onecard.web import client_ip
from onecard.web.ratelimit import limiter


def _staff():
    try:
        return staff_service.authenticate(request.cookies.get(STAFF_COOKIE), ip=client_ip(), channel="h5")
    except Unauthenticated:
        return None


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


@bp.post("/assist/logout")
def assist_logout():
    actor, token = _staff(), request.cookies.get(STAFF_COOKIE)
    if actor is not None and token:
        staff_service.logout(actor, token)
    response = redirect(url_for("citizen_pages.assist_login", out=1))
    response.delete_cookie(STAFF_COOKIE)
    return response


@bp.route("/assist/", methods=["GET", "POST"])
def assist_home():
    """Search (a POST, so the ID number stays out of URLs and logs); one match opens the resident at once."""
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    results, errors, searched = [], {}, request.method == "POST"
    if searched:
        try:
            results = assist.assist_search(actor, request.form.get("q", ""))
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
        if len(results) == 1:
            return redirect(url_for("citizen_pages.assist_resident", resident_id=results[0]["id"]))
    q = request.form.get("q", "").strip()
    return _page("m/assist_home.html", actor=actor, q="" if any(c.isdigit() for c in q) else q, results=results,
                 searched=searched and not errors, errors=errors,
                 can_confirm=permissions.can(actor, "assist.confirm"))


@bp.route("/assist/r/<int:resident_id>", methods=["GET", "POST"])
def assist_resident(resident_id):
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    errors, message, dev_code = {}, None, None
    if request.method == "POST":
        step = request.form.get("step")
        try:
            if step == "send":
                sent = assist.assist_consent_code(actor, resident_id)
                message, dev_code = sent.message, sent.dev_code
            elif step == "consent":
                assist.grant_consent(actor, resident_id, code=request.form.get("code") or None,
                                     form=_form_photo("form"))
                return redirect(url_for("citizen_pages.assist_resident", resident_id=resident_id))
            elif step == "activate":
                assist.assist_activate(actor, resident_id)
                message = "已为居民激活社保卡，居民会收到短信"
            elif step == "apply":
                assist.assist_apply(actor, resident_id, **application_form())
                message = "已为居民提交申领，居民会收到短信"
        except DomainError as exc:
            db.session.rollback()
            errors = field_errors(exc)
    brief = assist.assist_brief(actor, resident_id)
    card = subsidies = None
    if brief["consent"]:        # nothing of the resident is read before a confirmed consent
        card = assist.assist_view(actor, resident_id)
        if request.args.get("show") == "subsidies":
            subsidies = assist.assist_subsidies(actor, resident_id)
    return _page("m/assist_resident.html", actor=actor, resident_id=resident_id, brief=brief, card=card,
                 errors=errors, form=request.form, message=message, dev_code=dev_code,
                 banks=card_applications.list_banks() if card else [], subsidies=subsidies)


@bp.route("/assist/consents", methods=["GET", "POST"])
def assist_consents():
    """Town staff: signed consent forms of the town waiting for a second person's check."""
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    errors, message = {}, None
    if request.method == "POST":
        approve = request.form.get("decision") == "confirm"
        try:
            assist.confirm_consent(actor, int(request.form.get("consent_id") or 0), approve=approve)
            message = "已确认授权书，协办员可以代办了" if approve else "已退回授权书"
        except (DomainError, ValueError) as exc:
            db.session.rollback()
            errors = field_errors(exc) if isinstance(exc, DomainError) else {"": "请选择要处理的授权书"}
    return _page("m/assist_consents.html", actor=actor, items=assist.pending_consents(actor), errors=errors,
                 message=message)


@bp.get("/assist/consents/<int:consent_id>/form")
def assist_consent_form(consent_id):
    actor = _staff()
    if actor is None:
        return redirect(url_for("citizen_pages.assist_login"))
    data, mimetype = assist.consent_form_picture(actor, consent_id)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})
