"""工作提醒: the signed-in staff member's alerts, from onecard.alerts (the same as the staff API's /alerts)."""
from __future__ import annotations

from flask import render_template, url_for

from onecard.alerts import service as alerts
from onecard.staff import permissions

from . import bp
from .core import page
from .guard import guarded_post


@bp.get("/alerts")
@page("alert.read")
def alerts_page(actor):
    data = alerts.list_alerts(actor, limit=100)
    return render_template("console/alerts.html", alerts=data["items"], unread=data["unread"],
                           can_read_batches=permissions.can(actor, "batch.read"))


@bp.post("/alerts/<int:alert_id>/read")
@page("alert.read")
def alert_read(actor, alert_id):
    return guarded_post(actor, lambda: alerts.mark_read(actor, alert_id), done="已标为已读",
                        then=url_for("console.alerts_page"))


@bp.post("/alerts/read-all")
@page("alert.read")
def alerts_read_all(actor):
    return guarded_post(actor, lambda: alerts.mark_read(actor), done=lambda n: f"已将 {n} 条提醒标为已读",
                        then=url_for("console.alerts_page"))
