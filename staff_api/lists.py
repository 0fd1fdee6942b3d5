"""Recipient lists (发放名单, attachment 3) and matching (比对): template, upload, rows, summaries, follow-up."""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from onecard.exclusions import service as exclusions
from onecard.lists import matching
from onecard.lists import service as lists
from onecard.lists.models import MATCH_RESULTS
from onecard.web import XLSX, send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_lists", __name__, url_prefix="/api/staff/v1", description="发放名单（附件3）与社保卡比对")



class UploadForm(Schema):
    project_id = fields.Integer(required=True, metadata={"description": "补贴项目编号（须已赋码）"})
    period = fields.String(required=True, validate=validate.Length(min=1, max=20),
                           metadata={"description": "发放期间：2026-11（月）、2026-Q1（季）、2026-H1（半年）、2026（年）"})


class UploadFiles(Schema):
    file = Upload(required=True, metadata={"description": "附件3：xlsx，或UTF-8/GBK编码的CSV"})


class ListQuery(Schema):
    project_id = fields.Integer()
    period = fields.String()
    status = fields.String(validate=validate.OneOf(list(lists.LIST_STATES)))


class ListSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    project_code = fields.String(allow_none=True)
    project_name = fields.String()
    cycle = fields.String(allow_none=True)
    period = fields.String()
    department_id = fields.Integer()
    uploaded_by = fields.Integer(allow_none=True)
    file_name = fields.String()
    file_sha256 = fields.String()
    row_count = fields.Integer()
    total_fen = fields.Integer()
    total = fields.String(metadata={"description": "合计金额（元）"})
    status = fields.String()
    status_label = fields.String()
    created_at = fields.String()
    matched_at = fields.String(allow_none=True)
    header_row = fields.Integer(allow_none=True, metadata={"description": "表头所在的行（表头上方的标题、填报单位行已跳过）"})
    skipped_rows = fields.List(fields.Dict(), metadata={"description": "跳过的空行、注释或签章行：[{row, reason}]"})
    warnings = fields.List(fields.Dict(), metadata={
        "description": "不影响导入的提醒：[{row, column, value, message, suggestions}]，如村（社区）不在名录中及相近名称"})
    exclusion_warnings = fields.List(fields.Dict(), metadata={"description": "上传时：已在互斥项目同期名单中的人员"})


class ListWithdrawArgs(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(max=200))


class RowsQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    match_result = fields.String(validate=validate.OneOf(list(MATCH_RESULTS)))


class RowSchema(Schema):
    id = fields.Integer()
    row_no = fields.Integer()
    name = fields.String()
    id_number = fields.String(metadata={"description": "脱敏身份证号"})
    ethnicity = fields.String()
    mobile = fields.String(allow_none=True, metadata={"description": "脱敏手机号"})
    town = fields.String()
    village = fields.String(allow_none=True)
    bank = fields.String()
    account = fields.String(allow_none=True)
    amount = fields.String()
    amount_fen = fields.Integer()
    expected_date = fields.String(allow_none=True)
    match_result = fields.String(allow_none=True)
    match_label = fields.String(allow_none=True)
    card_account = fields.String(allow_none=True, metadata={"description": "社保卡金融账户（脱敏）"})
    card_bank = fields.String(allow_none=True)
    card_status = fields.String(allow_none=True)


class RowPageSchema(Schema):
    items = fields.List(fields.Nested(RowSchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class MatchSchema(Schema):
    list_id = fields.Integer()
    rows = fields.Integer()
    changed = fields.Integer(metadata={"description": "比对结果发生变化的行数"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class RematchSchema(Schema):
    lists_checked = fields.Integer()
    changed = fields.Integer()
    lists = fields.List(fields.Nested(MatchSchema))


class GroupSchema(Schema):
    id = fields.Integer(allow_none=True)
    name = fields.String()
    rows = fields.Integer()
    amount_fen = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


class SummarySchema(Schema):
    list_id = fields.Integer()
    status = fields.String()
    rows = fields.Integer()
    matched_at = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_town = fields.List(fields.Nested(GroupSchema))
    by_village = fields.List(fields.Nested(GroupSchema))
    by_bank = fields.List(fields.Nested(GroupSchema))


class FollowupQuery(Schema):
    village_id = fields.Integer()
    town_id = fields.Integer()
    bank_id = fields.Integer()


class FollowupItem(Schema):
    row_no = fields.Integer()
    name = fields.String()
    id_number = fields.String(metadata={"description": "脱敏身份证号"})
    mobile = fields.String(allow_none=True, metadata={"description": "村、镇、银行工作人员可见完整号码，其他岗位脱敏"})
    town = fields.String()
    village = fields.String(allow_none=True)
    bank = fields.String()
    card_bank = fields.String(allow_none=True)
    match_result = fields.String()
    match_label = fields.String()
    since_match = fields.String(allow_none=True, metadata={"description": "比对后进展：比对之后已申请社保卡等"})
    action = fields.String()


class FollowupSchema(Schema):
    list_id = fields.Integer()
    period = fields.String()
    full_mobile = fields.Boolean()
    count = fields.Integer()
    items = fields.List(fields.Nested(FollowupItem))


@bp.get("/lists/template.xlsx")
@bp.doc(security=SECURITY, responses={"200": {"description": "附件3空白模板",
                                              "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def template():
    """下载附件3（发放名单）空白模板。"""
    current_actor()
    return send_xlsx(lists.template_xlsx(), "附件3-补贴发放名单模板.xlsx")


@bp.post("/lists")
@bp.arguments(UploadForm, location="form")
@bp.arguments(UploadFiles, location="files")
@bp.response(201, ListSchema)
@bp.doc(security=SECURITY)
def upload(form, files):
    """上传发放名单：有任何错误则整份不保存，返回全部错误（422 sheet_invalid）和可下载的校验报告编号。"""
    actor = current_actor()
    upload_file = files["file"]
    recipient_list = lists.upload(actor, project_id=form["project_id"], period=form["period"],
                                  file_name=upload_file.filename or "upload", stream=upload_file.stream)
    return {**lists.describe(recipient_list),
            "exclusion_warnings": exclusions.list_warnings(actor, recipient_list.id)}


@bp.get("/lists")
@bp.arguments(ListQuery, location="query")
@bp.response(200, ListSchema(many=True))
@bp.doc(security=SECURITY)
def list_lists(args):
    """发放名单列表：部门只见本部门，人社局、财政局、审计可见全部。"""
    return [lists.describe(x) for x in lists.list_lists(current_actor(), **args)]


@bp.get("/lists/reports/<report_id>.xlsx")
@bp.doc(security=SECURITY, responses={"200": {"description": "带“错误说明”列的原表",
                                              "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def report(report_id):
    """下载上传校验报告（原表加“错误说明”列）。"""
    name, data = lists.report_xlsx(current_actor(), report_id)
    return send_xlsx(data, name)


@bp.post("/lists/rematch")
@bp.response(200, RematchSchema)
@bp.doc(security=SECURITY)
def rematch():
    """制卡信息更新后重新比对全部有效名单，只报告结果有变化的名单和行数。"""
    return matching.rematch_all(current_actor())


@bp.get("/lists/<int:list_id>")
@bp.response(200, ListSchema)
@bp.doc(security=SECURITY)
def get_list(list_id):
    """发放名单详情。"""
    return lists.describe(lists.load_list(current_actor(), list_id))


@bp.get("/lists/<int:list_id>/rows")
@bp.arguments(RowsQuery, location="query")
@bp.response(200, RowPageSchema)
@bp.doc(security=SECURITY)
def rows(args, list_id):
    """名单明细（分页，脱敏），比对后带出社保卡金融账户和开户行。"""
    return lists.list_rows(current_actor(), list_id, **args)


@bp.post("/lists/<int:list_id>/withdraw")
@bp.arguments(ListWithdrawArgs)
@bp.response(200, ListSchema)
@bp.doc(security=SECURITY)
def withdraw(args, list_id):
    """撤回尚未用于发放批次的名单。"""
    return lists.describe(lists.withdraw(current_actor(), list_id, reason=args.get("reason")))


@bp.post("/lists/<int:list_id>/match")
@bp.response(200, MatchSchema)
@bp.doc(security=SECURITY)
def match(list_id):
    """将名单与社保卡制卡信息比对，返回各结果人数和结果有变化的行数。"""
    return matching.match_list(current_actor(), list_id).to_dict()


@bp.get("/lists/<int:list_id>/summary")
@bp.response(200, SummarySchema)
@bp.doc(security=SECURITY)
def summary(list_id):
    """比对结果汇总：按结果、镇街、村（社区）、开户行。"""
    return matching.summary(current_actor(), list_id)


@bp.get("/lists/<int:list_id>/followup")
@bp.arguments(FollowupQuery, location="query")
@bp.response(200, FollowupSchema)
@bp.doc(security=SECURITY)
def followup(args, list_id):
    """待跟进名单（绿色通道/上门服务）：未能正常发放的人员。"""
    return matching.followup(current_actor(), list_id, **args)


@bp.get("/lists/<int:list_id>/followup.xlsx")
@bp.arguments(FollowupQuery, location="query")
@bp.doc(security=SECURITY, responses={"200": {"description": "待跟进名单",
                                              "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def followup_xlsx(args, list_id):
    """下载待跟进名单（xlsx），按村、镇街或银行筛选。"""
    name, data = matching.followup_xlsx(current_actor(), list_id, **args)
    return send_xlsx(data, name)
