"""Arrival notices for staff: what was sent, delivered or failed and why, per batch or per resident; retry."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.notices import channels, service
from onecard.notices.lifecycle import STATES
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_notices", __name__, url_prefix="/api/staff/v1", description="到账通知（短信、微信订阅消息）")


class NoticeQuery(Schema):
    batch_id = fields.Integer(validate=validate.Range(min=1))
    resident_id = fields.Integer(validate=validate.Range(min=1))
    project_id = fields.Integer(validate=validate.Range(min=1))
    period = fields.String(validate=validate.Length(max=7))
    state = fields.String(validate=validate.OneOf(list(STATES)))
    channel = fields.String(validate=validate.OneOf([c.code for c in channels.from_events()]))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class NoticeSchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    payment_key = fields.String()
    resident_id = fields.Integer()
    project_id = fields.Integer()
    period = fields.String()
    recipient = fields.String(attribute="recipient_masked", metadata={"description": "脱敏号码"})
    body = fields.String(metadata={"description": "发送的内容（不含完整证件号、账号）"})
    state = fields.String()
    state_label = fields.Function(lambda n: STATES.get(n.state, n.state))
    skip_reason = fields.String(allow_none=True)
    skip_reason_label = fields.Function(lambda n: service.skip_label(n.skip_reason))
    attempts = fields.Integer()
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    provider_status = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class AttemptSchema(Schema):
    at = fields.DateTime()
    outcome = fields.String()
    http_status = fields.Integer(allow_none=True)
    provider_code = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class NoticeDetailSchema(NoticeSchema):
    history = fields.List(fields.Nested(AttemptSchema))


@bp.get("/notices")
@bp.arguments(NoticeQuery, location="query")
@bp.response(200, NoticeSchema(many=True))
@bp.doc(security=SECURITY)
def list_notices(args):
    """按批次、居民或项目（可加期间）查询到账通知：发送、送达、失败及原因（号码脱敏）。"""
    limit, offset = args.pop("limit"), args.pop("offset")
    return service.list_notices(current_actor(), service.NoticeFilter(**args), limit=limit, offset=offset)


class SenderPauseSchema(Schema):
    channel = fields.String()
    until = fields.DateTime(metadata={"description": "恢复发送的时间（UTC）"})
    reason = fields.String(metadata={"description": "429：通道要求放慢（按其 Retry-After 暂停）"})
    seconds_left = fields.Float()


@bp.get("/notices/sender-status")
@bp.response(200, SenderPauseSchema(many=True))
@bp.doc(security=SECURITY)
def sender_status():
    """发送通道状态：被短信服务商限流（429）而暂停发送的通道及恢复时间。"""
    return service.sender_status(current_actor())


@bp.get("/notices/<int:notice_id>")
@bp.response(200, NoticeDetailSchema)
@bp.doc(security=SECURITY)
def get_notice(notice_id):
    """一条通知及每次发送尝试。"""
    notice, attempts = service.get_notice(current_actor(), notice_id)
    notice.history = attempts
    return notice


@bp.post("/notices/<int:notice_id>/retry")
@bp.response(200, NoticeSchema)
@bp.doc(security=SECURITY)
def retry_notice(notice_id):
    """重发失败、未送达或未发送的通知（人社局管理员、本部门经办）。"""
    return service.retry_notice(current_actor(), notice_id)


# ---------------------------------------------------------------- SMS templates (短信模板)
class TemplateSchema(Schema):
    project_code = fields.String(metadata={"description": "项目统一编码；default 为全县默认模板"})
    project_name = fields.String(allow_none=True)
    body = fields.String()
    built_in = fields.Boolean(metadata={"description": "默认模板尚未修改（系统内置文字）"})
    updated_at = fields.DateTime(allow_none=True)
    preview = fields.String(metadata={"description": "按示例发放（2026年11月，183.00元，尾号1234）生成的短信"})


class TemplateArgs(Schema):
    body = fields.String(required=True, metadata={
        "description": "短信正文（不含签名），可用占位符：{period} {project} {amount} {last4} {date}（到账日期） "
                       "{account}（收款账户，如“您本人的社保卡”“户主某某的社保卡”“代管人某某的账户”） {payee} {beneficiary}；"
                       "不含{account}的模板只用于发放到本人社保卡的通知；不超过300字"})


@bp.get("/notice-templates")
@bp.response(200, TemplateSchema(many=True))
@bp.doc(security=SECURITY)
def list_templates():
    """到账短信模板：全县默认和各项目单独设置的文字，每条附示例短信。"""
    return service.list_templates(current_actor())


@bp.put("/notice-templates/<string:project_code>")
@bp.arguments(TemplateArgs)
@bp.response(200, TemplateSchema)
@bp.doc(security=SECURITY)
def set_template(args, project_code):
    """设置默认（project_code 为 default）或某个已编码项目的到账短信文字（人社局管理员），留痕。"""
    actor = current_actor()
    return service.template_view(actor, service.set_template(actor, project_code, args["body"]))


@bp.delete("/notice-templates/<string:project_code>")
@bp.response(204)
@bp.doc(security=SECURITY)
def reset_template(project_code):
    """删除项目单独设置的文字（改用默认模板），或把默认模板恢复为系统内置文字。"""
    service.reset_template(current_actor(), project_code)
