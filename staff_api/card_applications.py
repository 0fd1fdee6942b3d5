"""Card applications (申领) as staff see them: the bureau and the issuing bank move them along."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from citizen_app.api import ApplicationSchema
from onecard.citizens import service
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_card_applications", __name__, url_prefix="/api/staff/v1", description="社保卡申领办理")


class ListArgs(Schema):
    status = fields.String(load_default=None)


class MoveArgs(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(service.STAFF_MOVES)),
                           metadata={"description": "accept 受理, in_production 制卡, ready 待领取, posted 已邮寄, "
                                                    "collected 已领取（卡变为已发放）, reject 退回"})
    account = fields.String(load_default=None, metadata={"description": "金融账户账号（ready/posted 时必填）"})
    card_number = fields.String(load_default=None)
    note = fields.String(load_default=None)


@bp.get("/card-applications")
@bp.arguments(ListArgs, location="query")
@bp.response(200, ApplicationSchema(many=True))
@bp.doc(security=SECURITY)
def list_applications(args):
    """本行（或全部）的申领记录。"""
    return service.staff_list_applications(current_actor(), args["status"])


@bp.post("/card-applications/<int:application_id>/moves")
@bp.arguments(MoveArgs)
@bp.response(200, ApplicationSchema)
@bp.doc(security=SECURITY)
def move(args, application_id):
    """推进申领：受理、制卡、待领取/已邮寄、已领取，或退回（须写明原因）。"""
    return service.process_application(current_actor(), application_id, args["action"], account=args["account"],
                                       card_number=args["card_number"], note=args["note"])
