"""The mini-program JSON API under /api/citizen/v1: parse, call one citizen service function, render."""
from __future__ import annotations

import functools

from flask import jsonify, request
from marshmallow import Schema, fields, validate

from onecard.cards import applications as card_applications
from onecard.cards.schemas import ApplicationSchema, ApplyForm, CardSchema, PhotoFiles
from onecard.citizens import assist, codes, preferences, sessions
from onecard.citizens.demo import dev_login_residents
from onecard.citizens.schemas import MessageSchema, OwedItem, SubsidyPage
from onecard.complaints import service as complaint_service
from onecard.complaints.schemas import ComplaintSchema, ReopenArgs
from onecard.notices import service as notice_service
from onecard.payments import my_subsidies, owed
from onecard.projects import policies as project_policies
from onecard.web import client_ip
from onecard.web import request_token as _token
from onecard.web.http import Blueprint, PlainIntegerQuery, StrictBoolean, UtcDateTime
from onecard.web.ratelimit import limiter

bp = Blueprint("citizen_api", __name__, url_prefix="/api/citizen/v1", description="居民服务（小程序）")
SECURITY = [{"bearer": []}]


def signed_in(view):
    """Authenticate before the arguments are read: a request without a valid token is 401 whatever its body."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        citizen()
        return view(*args, **kwargs)
    return checked


def citizen(channel: str = "miniprogram") -> sessions.CitizenContext:
    """The signed-in phone (bound or not), cached on the request."""
    ctx = request.environ.get("onecard.citizen")
    if ctx is None:
        ctx = sessions.authenticate(_token(), ip=client_ip(), channel=channel)
        request.environ["onecard.citizen"] = ctx
    return ctx


def _session_key() -> str:
    # Rate-limit key per signed-in phone (its openid session); falls back to the address.
    return "s:" + (_token() or client_ip() or "")


# ---- schemas of this door only (shared documents live in the domain: onecard/<domain>/schemas.py)

class WechatLoginArgs(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class DevLoginArgs(Schema):
    resident_id = fields.Integer(load_default=None, strict=True)
    id_number = fields.String(load_default=None)


class DemoResidentSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    id_masked = fields.String()
    card = fields.String(metadata={"description": "社保卡状态"})


class LoginSchema(Schema):
    token = fields.String()
    expires_at = UtcDateTime()
    bound = fields.Boolean()


class BindingCodeArgs(Schema):
    name = fields.String(required=True)
    id_number = fields.String(required=True)


class BindingArgs(BindingCodeArgs):
    code = fields.String(required=True, validate=validate.Length(min=1, max=10))


class CodeArgs(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=10))


class ReplacementForm(ApplyForm):
    bank_id = fields.Integer(load_default=None)
    delivery = fields.String(load_default="branch", validate=validate.OneOf(["branch", "post"]))


class SubsidyArgs(PlainIntegerQuery):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    year = fields.Integer(load_default=None, validate=validate.Range(min=2000, max=2100))


class PolicySchema(Schema):
    id = fields.Integer()
    code = fields.String()
    category = fields.String()
    name = fields.String()
    department = fields.String()
    cycle = fields.String()
    cycle_label = fields.String()
    standard = fields.String()
    eligibility = fields.String()
    policy_basis = fields.String(allow_none=True)


class ComplaintArgs(Schema):
    text = fields.String(required=True)
    ledger_entry_id = fields.Integer(load_default=None)
    project_id = fields.Integer(load_default=None)
    line_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "待发放的明细（尚无到账记录时）"})
    category = fields.String(load_default="payment", validate=validate.OneOf(["payment", "account", "other"]),
                             metadata={"description": "account：账户问题，转代发银行办理"})


class SmsSettingArgs(Schema):
    enabled = StrictBoolean(required=True, metadata={"description": "true：接收到账短信"})


class SmsSettingSchema(Schema):
    sms_opt_out = fields.Boolean()
    sms_notices = fields.Boolean()


class SubscriptionArgs(Schema):
    template_id = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                metadata={"description": "wx.requestSubscribeMessage 中居民选择“允许”的模板"})


class SubscriptionSchema(Schema):
    template_id = fields.String(allow_none=True, metadata={"description": "到账提醒的订阅消息模板；为空表示未开通"})
    remaining = fields.Integer(metadata={"description": "还可以收到几条到账提醒（每次允许一条）"})


class BindingSchema(Schema):
    bound = fields.Boolean()
    name = fields.String()
    id_masked = fields.String()


class AssistedActionSchema(Schema):
    at = fields.String()
    who = fields.String()
    action = fields.String()
    what = fields.String()


class BranchSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()


class BankSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    branch_name = fields.String()
    branches = fields.List(fields.Nested(BranchSchema), metadata={"description": "可选的领卡网点"})


# ---- login and binding

@bp.post("/auth/wechat-login")
@limiter.limit("30/minute")
@bp.arguments(WechatLoginArgs)
@bp.response(200, LoginSchema)
def wechat_login(args):
    """小程序登录：wx.login 的 code 换取本平台的登录令牌（不返回 session_key）。"""
    return sessions.wechat_login(args["code"], ip=client_ip())


@bp.post("/auth/dev-login")
@bp.arguments(DevLoginArgs, required=False)   # no body: a new, unbound user
@bp.response(200, LoginSchema)
def dev_login(args):
    """开发登录（仅开发环境；生产环境 404）：带居民编号或身份证号时直接以该居民登录，否则为未绑定的新用户。"""
    return sessions.dev_login(resident_id=args["resident_id"], id_number=args["id_number"], ip=client_ip())


@bp.get("/auth/dev-residents")
@bp.response(200, DemoResidentSchema(many=True))
def dev_residents():
    """开发登录可选的演示居民（仅开发环境；生产环境 404）：小程序在开发者工具里连 make run 时用。"""
    return dev_login_residents()


@bp.post("/binding/code")
@limiter.limit("5/minute")
@limiter.limit("10/hour", key_func=_session_key)
@bp.arguments(BindingCodeArgs)
@bp.response(200, MessageSchema)
@bp.doc(security=SECURITY)
def binding_code(args):
    """实名绑定第一步：姓名和身份证号正确时，向登记手机发送验证码（无论是否匹配，回答都一样）。"""
    sent = codes.request_binding_code(citizen(), args["name"], args["id_number"])
    return {"message": sent.message}


@bp.post("/binding")
@limiter.limit("20/minute")
@bp.arguments(BindingArgs)
@bp.response(200, BindingSchema)
@bp.doc(security=SECURITY)
def binding(args):
    """实名绑定：姓名 + 身份证号 + 短信验证码。"""
    return codes.bind(citizen(), args["name"], args["id_number"], args["code"])


# ---- card

@bp.get("/card")
@bp.response(200, CardSchema)
@bp.doc(security=SECURITY)
def card():
    """我的社保卡：状态、发卡银行、卡号和账号（遮蔽）、下一步怎么办。"""
    return card_applications.card_view(citizen().require_resident())


@bp.get("/banks")
@bp.response(200, BankSchema(many=True))
def banks():
    """可选的发卡银行。"""
    return card_applications.list_banks()


@bp.post("/card/applications")
@signed_in
@bp.arguments(ApplyForm, location="form")
@bp.arguments(PhotoFiles, location="files")
@bp.response(201, ApplicationSchema)
@bp.doc(security=SECURITY)
def apply(form, files):
    """申领社保卡：选择银行和网点、上传照片（JPG/PNG，不超过2MB）、网点领取或邮寄。"""
    ctx = citizen()
    photo = files["photo"].read() if files.get("photo") else None
    return card_applications.apply_for_card(ctx.actor(), ctx.require_resident(), photo=photo, **form)


@bp.get("/card/applications")
@bp.response(200, ApplicationSchema(many=True))
@bp.doc(security=SECURITY)
def applications():
    """我的申领进度。"""
    return card_applications.list_applications(citizen().require_resident())


def _card_code(purpose: str):
    ctx = citizen()
    sent = card_applications.request_card_code(ctx.actor(), ctx.require_resident(), purpose, session_id=ctx.session_id)
    return {"message": sent.message, "mobile_masked": sent.mobile_masked}


@bp.post("/card/activate/code")
@limiter.limit("5/minute")
@limiter.limit("10/hour", key_func=_session_key)
@bp.response(200, MessageSchema)
@bp.doc(security=SECURITY)
def activate_code():
    """激活：向登记手机发送验证码。"""
    return _card_code("activate")


@bp.post("/card/activate")
@bp.arguments(CodeArgs)
@bp.response(200, CardSchema)
@bp.doc(security=SECURITY)
def activate(args):
    """激活社保卡金融功能（凭短信验证码）。"""
    ctx = citizen()
    return card_applications.activate_card(ctx.actor(), ctx.require_resident(), args["code"])


@bp.post("/card/loss/code")
@limiter.limit("5/minute")
@limiter.limit("10/hour", key_func=_session_key)
@bp.response(200, MessageSchema)
@bp.doc(security=SECURITY)
def loss_code():
    """挂失：向登记手机发送验证码。"""
    return _card_code("loss")


@bp.post("/card/loss")
@bp.arguments(CodeArgs)
@bp.response(200, CardSchema)
@bp.doc(security=SECURITY)
def loss(args):
    """挂失社保卡（凭短信验证码）。"""
    ctx = citizen()
    return card_applications.report_loss(ctx.actor(), ctx.require_resident(), args["code"])


@bp.post("/card/replacement")
@signed_in
@bp.arguments(ReplacementForm, location="form")
@bp.arguments(PhotoFiles, location="files")
@bp.response(201, ApplicationSchema)
@bp.doc(security=SECURITY)
def replacement(form, files):
    """补换卡（挂失之后）。"""
    ctx = citizen()
    photo = files["photo"].read() if files.get("photo") else None
    return card_applications.request_replacement(ctx.actor(), ctx.require_resident(), photo=photo, **form)


# ---- subsidies, policies, complaints, settings


# The mini-program's hot read. Its argument schema is an instance (webargs builds a new schema per
# request from a class, which costs more than the query), and the view returns the page already in
# the documented shape as a Response, which flask-smorest sends as is: SubsidyPage documents it and
# tests/citizen_app/test_subsidies.py checks that dumping the page through SubsidyPage changes nothing.
@bp.get("/subsidies")
@bp.arguments(SubsidyArgs(), location="query")
@bp.response(200, SubsidyPage)
@bp.doc(security=SECURITY)
def subsidies(args):
    """补贴到账：每一笔发放，最新在前，分页；本年已到账合计；未到账的说明怎么办。"""
    page = my_subsidies.my_subsidies_by_token(_token(), **args)
    if page is None:    # no token, a refused one, an unbound phone or an empty page: authenticate says which
        page = my_subsidies.my_subsidies(citizen().require_resident(), **args)
    return jsonify(page)


@bp.get("/subsidies/owed")
@bp.response(200, OwedItem(many=True))
@bp.doc(security=SECURITY)
def owed_subsidies():
    """待发放：还没有发到我卡上的补贴，原因和怎么办；原因消除后显示“将随下一批发放”。"""
    return owed.for_resident(citizen().require_resident())


@bp.get("/policies")
@bp.response(200, PolicySchema(many=True))
def policies():
    """补贴政策清单（无需登录）。"""
    return project_policies.public_policies()


@bp.post("/complaints")
@limiter.limit("10/hour", key_func=_session_key)
@bp.arguments(ComplaintArgs)
@bp.response(201, ComplaintSchema)
@bp.doc(security=SECURITY)
def file_complaint(args):
    """投诉咨询：可以针对某一笔发放，转给该项目的主管部门。"""
    ctx = citizen()
    return complaint_service.file_complaint(ctx.actor(), ctx.require_resident(), args["text"],
                                  ledger_entry_id=args["ledger_entry_id"], project_id=args["project_id"],
                                  line_id=args["line_id"], category=args["category"])


@bp.post("/complaints/<int:complaint_id>/confirm")
@bp.response(200, ComplaintSchema)
@bp.doc(security=SECURITY)
def confirm_complaint(complaint_id):
    """对答复满意，确认办结。"""
    ctx = citizen()
    return complaint_service.confirm_complaint(ctx.actor(), ctx.require_resident(), complaint_id)


@bp.post("/complaints/<int:complaint_id>/reopen")
@bp.arguments(ReopenArgs)
@bp.response(200, ComplaintSchema)
@bp.doc(security=SECURITY)
def reopen_complaint(args, complaint_id):
    """对答复不满意，说明原因后重新办理。"""
    ctx = citizen()
    return complaint_service.reopen_complaint(ctx.actor(), ctx.require_resident(), complaint_id, args["text"])


@bp.get("/complaints")
@bp.response(200, ComplaintSchema(many=True))
@bp.doc(security=SECURITY)
def complaints():
    """我的投诉咨询及答复。"""
    return complaint_service.my_complaints(citizen().require_resident())


@bp.put("/settings/sms")
@bp.arguments(SmsSettingArgs)
@bp.response(200, SmsSettingSchema)
@bp.doc(security=SECURITY)
def sms_setting(args):
    """到账短信提醒开关。"""
    ctx = citizen()
    return preferences.set_sms_opt_out(ctx.actor(), ctx.require_resident(), not args["enabled"])


@bp.get("/settings/wechat-subscription")
@bp.response(200, SubscriptionSchema)
@bp.doc(security=SECURITY)
def wechat_subscription():
    """微信到账提醒：要请居民允许的订阅消息模板，以及还能收到几条。"""
    return notice_service.arrival_subscription(citizen().require_resident())


@bp.post("/settings/wechat-subscription")
@limiter.limit("30/hour", key_func=_session_key)
@bp.arguments(SubscriptionArgs)
@bp.response(200, SubscriptionSchema)
@bp.doc(security=SECURITY)
def accept_wechat_subscription(args):
    """居民在 wx.requestSubscribeMessage 中允许了到账提醒：登记一次（每次允许可收到一条）。"""
    ctx = citizen()
    return notice_service.accept_arrival_subscription(ctx.actor(), ctx.require_resident(), args["template_id"])


@bp.get("/assisted-actions")
@bp.response(200, AssistedActionSchema(many=True))
@bp.doc(security=SECURITY)
def assisted_actions():
    """谁替我办过事：村协办员代办的每一项记录。"""
    return assist.assisted_actions(citizen().require_resident())
