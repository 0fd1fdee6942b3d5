"""Village-assisted mode (村协办员代办): residents of my own village, with their consent for each sitting.

A search by ID number is a POST (the number stays out of URLs and access logs); GET searches by name only.
Nothing of a resident is read before a confirmed consent; a photographed form counts once town staff confirm it.
"""
from __future__ import annotations

from flask import Response
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from onecard.cards.schemas import ApplicationSchema, ApplyForm, CardSchema, PhotoFiles
from onecard.citizens import assist
from onecard.citizens.schemas import MessageSchema, SubsidyPage
from onecard.complaints.schemas import ComplaintSchema
from onecard.errors import Invalid
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor, signed_in

bp = Blueprint("staff_assist", __name__, url_prefix="/api/staff/v1/assist", description="村协办员代办")


class SearchArgs(Schema):
    q = fields.String(required=True, metadata={"description": "姓名或完整身份证号"})


class NameSearchArgs(Schema):
    q = fields.String(required=True, metadata={"description": "姓名（身份证号请用 POST，不进网址和日志）"})


class ResidentBrief(Schema):
    id = fields.Integer()
    name = fields.String()
    id_masked = fields.String()
    mobile_masked = fields.String(allow_none=True)
    village = fields.String(allow_none=True)
    relation_to_head = fields.String(allow_none=True)


class AssistCardSchema(CardSchema):
    applications = fields.List(fields.Nested(ApplicationSchema))


class ConsentForm(Schema):
    code = fields.String(load_default=None)


class ConsentFiles(Schema):
    form = Upload(load_default=None)


class ConsentSchema(Schema):
    consent_id = fields.Integer()
    method = fields.String()
    status = fields.String(metadata={"description": "confirmed 已生效, pending 待镇街确认, refused 已退回"})
    expires_at = fields.String()
    expires_in = fields.Integer()


class PendingConsentSchema(ConsentSchema):
    resident = fields.Nested(ResidentBrief)
    helper = fields.String()
    created_at = fields.String()
    own = fields.Boolean()


class ConfirmArgs(Schema):
    approve = fields.Boolean(required=True, metadata={"description": "true 确认生效, false 退回"})


class ConsentArgs(Schema):
    consent_id = fields.Integer(load_default=None, metadata={"description": "不填：本人对该居民当前有效的授权"})


class ConsentQuery(Schema):
    consent_id = fields.Integer(load_default=None)


class AssistApplyForm(ApplyForm):
    consent_id = fields.Integer(load_default=None)


class SubsidyArgs(Schema):
    consent_id = fields.Integer(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))


class ComplaintArgs(Schema):
    consent_id = fields.Integer(load_default=None)
    text = fields.String(required=True)
    ledger_entry_id = fields.Integer(load_default=None)


@bp.post("/residents/search")
@bp.arguments(SearchArgs)
@bp.response(200, ResidentBrief(many=True))
@bp.doc(security=SECURITY)
def search(args):
    """按姓名或身份证号查找本村居民（结果遮蔽；身份证号放在请求体里，不进网址和访问日志）。"""
    return assist.assist_search(current_actor(), args["q"])


@bp.get("/residents")
@bp.arguments(NameSearchArgs, location="query")
@bp.response(200, ResidentBrief(many=True))
@bp.doc(security=SECURITY)
def search_by_name(args):
    """按姓名查找本村居民；身份证号请用 POST /residents/search。"""
    if any(ch.isdigit() for ch in args["q"]):
        raise Invalid("按身份证号查找请用 POST /assist/residents/search，身份证号不能放在网址里",
                      code="id_in_url", field="q")
    return assist.assist_search(current_actor(), args["q"])


@bp.get("/residents/<int:resident_id>")
@bp.arguments(ConsentQuery, location="query")
@bp.response(200, AssistCardSchema)
@bp.doc(security=SECURITY)
def view(args, resident_id):
    """本村居民的社保卡状态和申领进度（须有本次已生效的授权）。"""
    return assist.assist_view(current_actor(), resident_id, args["consent_id"])


@bp.get("/consents/pending")
@bp.response(200, PendingConsentSchema(many=True))
@bp.doc(security=SECURITY)
def pending_consents():
    """镇街工作人员：本镇待核对的签字授权书。"""
    return assist.pending_consents(current_actor())


@bp.get("/consents/<int:consent_id>/form")
@bp.response(200, {"format": "binary", "type": "string"}, content_type="image/jpeg")
@bp.doc(security=SECURITY)
def consent_form(consent_id):
    """镇街工作人员：查看签字授权书照片（留痕）。"""
    data, mimetype = assist.consent_form_picture(current_actor(), consent_id)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})


@bp.post("/consents/<int:consent_id>/confirm")
@bp.arguments(ConfirmArgs)
@bp.response(200, ConsentSchema)
@bp.doc(security=SECURITY)
def confirm_consent(args, consent_id):
    """镇街工作人员（非上传人）核对签字授权书：确认生效或退回。"""
    return assist.confirm_consent(current_actor(), consent_id, approve=args["approve"])


@bp.post("/residents/<int:resident_id>/consent/code")
@bp.response(200, MessageSchema)
@bp.doc(security=SECURITY)
def consent_code(resident_id):
    """向居民本人手机发送代办授权验证码。"""
    sent = assist.assist_consent_code(current_actor(), resident_id)
    return {"message": sent.message, "mobile_masked": sent.mobile_masked}


@bp.post("/residents/<int:resident_id>/consent")
@bp.arguments(ConsentForm, location="form")
@bp.arguments(ConsentFiles, location="files")
@bp.response(201, ConsentSchema)
@bp.doc(security=SECURITY)
def consent(form, files, resident_id):
    """记录居民授权：居民手机验证码，或签字授权书照片。"""
    upload = files["form"].read() if files.get("form") else None
    return assist.grant_consent(current_actor(), resident_id, code=form["code"], form=upload)


@bp.post("/residents/<int:resident_id>/applications")
@signed_in
@bp.arguments(AssistApplyForm, location="form")
@bp.arguments(PhotoFiles, location="files")
@bp.response(201, ApplicationSchema)
@bp.doc(security=SECURITY)
def apply(form, files, resident_id):
    """代居民申领社保卡。"""
    photo = files["photo"].read() if files.get("photo") else None
    consent_id = form.pop("consent_id")
    return assist.assist_apply(current_actor(), resident_id, consent_id, photo=photo, **form)


@bp.post("/residents/<int:resident_id>/activate")
@bp.arguments(ConsentArgs)
@bp.response(200, CardSchema)
@bp.doc(security=SECURITY)
def activate(args, resident_id):
    """代居民激活社保卡金融功能。"""
    return assist.assist_activate(current_actor(), resident_id, args["consent_id"])


@bp.get("/residents/<int:resident_id>/subsidies")
@bp.arguments(SubsidyArgs, location="query")
@bp.response(200, SubsidyPage)
@bp.doc(security=SECURITY)
def subsidies(args, resident_id):
    """代居民查看补贴到账。"""
    return assist.assist_subsidies(current_actor(), resident_id, args["consent_id"], page=args["page"])


@bp.post("/residents/<int:resident_id>/complaints")
@bp.arguments(ComplaintArgs)
@bp.response(201, ComplaintSchema)
@bp.doc(security=SECURITY)
def complaint(args, resident_id):
    """代居民提交投诉咨询。"""
    return assist.assist_complaint(current_actor(), resident_id, args["consent_id"], args["text"],
                                    ledger_entry_id=args["ledger_entry_id"])
