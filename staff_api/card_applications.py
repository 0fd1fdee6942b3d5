"""Card applications (申领) as staff see them: the bureau and the issuing bank move them along."""
from __future__ import annotations

from onecard.cards import applications
from onecard.cards.schemas import ApplicationSchema, ListArgs, MoveArgs
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
