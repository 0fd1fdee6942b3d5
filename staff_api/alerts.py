"""工作提醒: the signed-in staff member's alerts (bank results arrived or refused, batches waiting too long, the SMS
outbox stalled, a scheduled job missed), each also sent by SMS to the registered mobile."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.alerts import service
from onecard.timeutil import local_str
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor, signed_in

bp = Blueprint("staff_alerts", __name__, url_prefix="/api/staff/v1", description="工作提醒")


class AlertQuery(Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "只看未读"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class AlertSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "batch_results, result_refused, approval_wait, outbox_stale, "
                                                  "job_missed"})
    title = fields.String()
    body = fields.String()
    batch_id = fields.Integer(allow_none=True)
    created_at = fields.Function(lambda a: local_str(a["created_at"]))
    read = fields.Boolean()
    read_at = fields.Function(lambda a: local_str(a["read_at"]) or None)
    sms = fields.String(allow_none=True, metadata={"description": "提醒短信的状态；未登记手机时说明未发"})
    sms_to = fields.String(allow_none=True, metadata={"description": "短信发往的号码（脱敏）"})


class AlertPage(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(AlertSchema))


class ReadResult(Schema):
    marked = fields.Integer()
    unread = fields.Integer()


@bp.get("/alerts")
@signed_in
@bp.arguments(AlertQuery, location="query")
@bp.response(200, AlertPage)
@bp.doc(security=SECURITY)
def list_alerts(args):
    """本人的工作提醒，新的在前，附未读条数。"""
    return service.list_alerts(current_actor(), unread_only=args["unread"], limit=args["limit"],
                               offset=args["offset"])


@bp.post("/alerts/<int:alert_id>/read")
@bp.response(200, ReadResult)
@bp.doc(security=SECURITY)
def read_alert(alert_id):
    """标记一条提醒为已读（只能标记本人的提醒）。"""
    actor = current_actor()
    marked = service.mark_read(actor, alert_id)
    return {"marked": marked, "unread": service.unread_count(actor)}


@bp.post("/alerts/read-all")
@bp.response(200, ReadResult)
@bp.doc(security=SECURITY)
def read_all_alerts():
    """全部标记为已读。"""
    actor = current_actor()
    marked = service.mark_read(actor)
    return {"marked": marked, "unread": service.unread_count(actor)}
