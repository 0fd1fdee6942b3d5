"""Card applications (申领) as staff see them: the bureau and the issuing bank move them along."""
from __future__ import annotations

from flask import Response

from onecard.cards import applications
from onecard.cards.schemas import ApplicantSchema, ApplicationSchema, ListArgs, MoveArgs
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_card_applications", __name__, url_prefix="/api/staff/v1", description="社保卡申领办理")


@bp.get("/card-applications")
@bp.arguments(ListArgs, location="query")
@bp.response(200, ApplicationSchema(many=True))
@bp.doc(security=SECURITY)
def list_applications(args):
    """本行（或全部）的申领记录。"""
    return applications.staff_list_applications(current_actor(), args["status"])


@bp.post("/card-applications/<int:application_id>/moves")
@bp.arguments(MoveArgs)
@bp.response(200, ApplicationSchema)
@bp.doc(security=SECURITY)
def move(args, application_id):
    """推进申领：受理、制卡、待领取/已邮寄、已领取，或退回（须写明原因）。"""
    return applications.process_application(current_actor(), application_id, args["action"],
                                            account=args["account"], card_number=args["card_number"],
                                            note=args["note"])


@bp.get("/card-applications/<int:application_id>/applicant")
@bp.response(200, ApplicantSchema)
@bp.doc(security=SECURITY)
def applicant(application_id):
    """经办银行制卡：申请人姓名、身份证号、手机、领卡网点或邮寄地址（仅本行、仅办理中，查看留痕）。"""
    return applications.applicant_for_bank(current_actor(), application_id)


@bp.get("/card-applications/<int:application_id>/photo")
@bp.response(200, {"format": "binary", "type": "string"}, content_type="image/jpeg")
@bp.doc(security=SECURITY)
def applicant_photo(application_id):
    """经办银行制卡：申请人照片（仅本行、仅办理中，查看留痕）。"""
    data, mimetype = applications.applicant_photo(current_actor(), application_id)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})
