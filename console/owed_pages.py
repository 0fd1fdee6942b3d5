"""应发未发 (console): the owed payments follow-up list with its filters, the totals by town, village and reason
with their age bands and the oldest age, and the owning department's cancellation of an owed line with a reason.

The same service calls as staff_api/owed_payments.py (onecard.payments.owed): the rules of who may read or cancel,
the scope of every list and the audit entry all live there. The cancel form's one-time nonce is the idempotency
key, so a double click or a stale page never cancels twice.
"""
from __future__ import annotations

from flask import render_template, request, url_for

from onecard.errors import DomainError
from onecard.payments import owed
from onecard.privacy import mask_name
from onecard.projects import service as projects_service
from onecard.staff import permissions
from onecard.web.http import form_int

from . import bp
from .core import page
from .guard import guarded_post
from .reference_pages import scope_choices

FILTERS = ("project_id", "town_id", "village_id", "reason")
GROUP_TITLES = (("town", "按镇街"), ("village", "按村（社区）"), ("reason", "按原因"))
PAGE_SIZE = 200


def _filters(source, prefix: str = "") -> dict:
    """The list's filters from the query string, or from the cancel form's copy of them (prefixed ``filter_``, so
    the filter's ``reason`` never stands in for the cancellation's own): ids as int, text trimmed."""
    ints = {k: form_int(source.get(prefix + k)) for k in ("project_id", "town_id", "village_id")}
    reason = (source.get(prefix + "reason") or "").strip() or None
    return {**{k: v for k, v in ints.items() if v}, **({"reason": reason} if reason else {})}


def _render(actor, filters: dict, *, error: dict | None = None, status: int = 200):
    summaries = {by: owed.owed_summary(actor, by=by, project_id=filters.get("project_id"))
                 for by, _ in GROUP_TITLES}
    lines = owed.owed_list(actor, **filters, limit=PAGE_SIZE)
    projects = projects_service.list_projects(actor)
    return render_template(
        "console/owed_payments.html", lines=lines, summaries=summaries, group_titles=GROUP_TITLES,
        filters=filters, choices=scope_choices(), projects=projects,
        age_bands=[(band, label) for band, label, *_ in owed.AGE_BANDS],
        project_names={p.id: p.name for p in projects}, page_size=PAGE_SIZE,
        reasons=[r["key"] for r in summaries["reason"] if r["key"]],
        can_cancel=permissions.can(actor, "payment.owed.cancel"), error=error or {}), status


@bp.get("/owed-payments")
@page("payment.owed.read")
def owed_payments(actor):
    return _render(actor, _filters(request.args))


@bp.post("/owed-payments/<int:line_id>/cancel")
@page("payment.owed.cancel")
def owed_cancel(actor, line_id):
    filters = _filters(request.form, "filter_")
    then = url_for("console.owed_payments", **filters)
    reason = request.form.get("reason", "")

    def refused(exc: DomainError):
        return _render(actor, filters, error={"line_id": line_id, "message": exc.message, "reason": reason},
                       status=exc.status)
    return guarded_post(
        actor, lambda: owed.cancel(actor, line_id, reason,
                                   idempotency_key="console:" + request.environ.get("onecard.console.nonce", "")),
        done=lambda x: f"已取消 {mask_name(x['name'])} {x['period']} 的应发未发（{x['amount_yuan']}），原因已记入审计",
        then=then, on_error=refused)
