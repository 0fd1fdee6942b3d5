"""Complaints and questions (投诉咨询) routed to a department, and its reply."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.complaints import cases, service
from onecard.complaints.schemas import ComplaintSchema, ListArgs, ReplyArgs
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor, signed_in

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


class HolidayIn(Schema):
    day = fields.Date(required=True)
    kind = fields.String(load_default="holiday", validate=validate.OneOf(["holiday", "workday"]),
                         metadata={"description": "holiday 放假；workday 周末调休上班"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=40))


class HolidayQuery(Schema):
    year = fields.Integer(load_default=None, validate=validate.Range(*cases.CALENDAR_YEARS))


class HolidayOut(Schema):
    day = fields.String(metadata={"description": "日期 YYYY-MM-DD"})
    kind = fields.String(metadata={"description": "holiday（放假）或 workday（调休上班）"})
    name = fields.String()


class DeadlineOut(Schema):
    working_days = fields.Integer()


class GroupCount(Schema):
    name = fields.String()
    total = fields.Integer()
    open = fields.Integer()
    closed = fields.Integer()
    overdue = fields.Integer()


class AgeCount(Schema):
    age = fields.String()
    open = fields.Integer()


class ComplaintStatsOut(Schema):
    total = fields.Integer()
    overdue = fields.Integer()
    escalated = fields.Integer()
    by_project = fields.List(fields.Nested(GroupCount))
    by_department = fields.List(fields.Nested(GroupCount))
    by_age = fields.List(fields.Nested(AgeCount))


class OverdueOut(Schema):
    id = fields.Integer()
    due_date = fields.String()
    escalated = fields.Boolean()
    department = fields.String()
    project = fields.String(allow_none=True)


class DeadlineIn(Schema):
    working_days = fields.Integer(required=True, strict=True)


@bp.get("/holidays")
@signed_in
@bp.arguments(HolidayQuery, location="query")
@bp.response(200, HolidayOut(many=True))
@bp.doc(security=SECURITY)
def get_holidays(args):
    """本县节假日安排（投诉咨询答复期限按工作日计算）。"""
    return cases.list_holidays(args["year"])


@bp.put("/holidays")
@signed_in
@bp.arguments(HolidayIn)
@bp.response(200, HolidayOut)
@bp.doc(security=SECURITY)
def put_holiday(args):
    """登记或修改一天的节假日安排（管理员）。"""
    return cases.put_holiday(current_actor(), args["day"], args["kind"], args["name"])


@bp.delete("/holidays/<string:day>")
@bp.doc(security=SECURITY)
def delete_holiday(day):
    """删除一天的节假日安排（管理员）。"""
    from onecard.validation import parse_date
    cases.delete_holiday(current_actor(), parse_date(day, field="day"))
    return "", 204


@bp.get("/complaint-settings")
@bp.response(200, DeadlineOut)
@bp.doc(security=SECURITY)
def get_settings():
    """投诉咨询答复期限（工作日）。"""
    current_actor()
    return {"working_days": cases.deadline_days()}


@bp.put("/complaint-settings")
@signed_in
@bp.arguments(DeadlineIn)
@bp.response(200, DeadlineOut)
@bp.doc(security=SECURITY)
def put_settings(args):
    """设置投诉咨询答复期限（工作日，管理员）。"""
    return {"working_days": cases.set_deadline_days(current_actor(), args["working_days"])}


@bp.get("/complaints/stats")
@bp.response(200, ComplaintStatsOut)
@bp.doc(security=SECURITY)
def complaint_stats():
    """投诉咨询统计：按项目、部门、已等待天数；逾期与提级数。"""
    return cases.stats(current_actor())


@bp.get("/complaints/overdue")
@bp.response(200, OverdueOut(many=True))
@bp.doc(security=SECURITY)
def overdue():
    """逾期未答复的投诉咨询（工作台）。"""
    actor = current_actor()
    from onecard.staff import permissions
    permissions.require(actor, "complaint.read")
    return cases.overdue_for_dashboard(actor)
