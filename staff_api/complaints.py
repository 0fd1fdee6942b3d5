"""Complaints and questions (投诉咨询) routed to a department, and its reply."""
from __future__ import annotations

from onecard.complaints import service
from onecard.complaints.schemas import ComplaintSchema, ListArgs, ReplyArgs
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_complaints", __name__, url_prefix="/api/staff/v1", description="投诉咨询")


@bp.get("/complaints")
@bp.arguments(ListArgs, location="query")
@bp.response(200, ComplaintSchema(many=True))
@bp.doc(security=SECURITY)
def list_complaints(args):
    """转给本部门的投诉咨询。"""
    return service.staff_complaints(current_actor(), args["status"])


@bp.post("/complaints/<int:complaint_id>/reply")
@bp.arguments(ReplyArgs)
@bp.response(200, ComplaintSchema)
@bp.doc(security=SECURITY)
def reply(args, complaint_id):
    """答复居民（居民在手机上可以看到）。"""
    return service.reply_complaint(current_actor(), complaint_id, args["reply"])
