"""Card registry import (社保卡制卡数据): upload the province's file, read the report, get the template."""
from __future__ import annotations

import json

from marshmallow import Schema, fields

from onecard.registry import service
from onecard.timeutil import local_str
from onecard.web import send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor
from staff_api.projects import XLSX_RESPONSE, FileSchema

bp = Blueprint("staff_registry", __name__, url_prefix="/api/staff/v1", description="社保卡制卡数据导入")


class RowErrorSchema(Schema):
    row = fields.Integer(allow_none=True, metadata={"description": "Excel 中的行号（表头为第1行）"})
    column = fields.String(allow_none=True)
    value = fields.Raw(allow_none=True, metadata={"description": "单元格的值（身份证号、账号等已脱敏）"})
    reason = fields.String()


class RegistryImportSchema(Schema):
    id = fields.Integer()
    file_name = fields.String()
    file_sha256 = fields.String()
    imported_by = fields.Integer(allow_none=True)
    started_at = fields.Function(lambda r: local_str(r.started_at))
    finished_at = fields.Function(lambda r: local_str(r.finished_at) if r.finished_at else None)
    rows_total = fields.Integer()
    rows_applied = fields.Integer()
    new_residents = fields.Integer()
    new_cards = fields.Integer()
    status_changes = fields.Integer()
    status_change_detail = fields.Function(lambda r: json.loads(r.status_change_detail or "{}"),
                                           metadata={"description": "状态变化计数，如 {\"issued→active\": 12}"})
    account_changes = fields.Integer()
    replaced_cards = fields.Integer(metadata={"description": "因补换卡被注销的旧卡数"})
    unchanged = fields.Integer()
    error_count = fields.Integer()
    errors = fields.Function(lambda r: json.loads(r.errors or "[]"), metadata={"description": "出错的行（最多10000条）"})
    rematch = fields.String(metadata={"description": "导入后重新比对：done（与导入同一事务完成）"})
    rematch_detail = fields.Function(lambda r: json.loads(r.rematch_detail or "{}"), metadata={
        "description": "重新比对的结果：periods（本期和下期）、lists_checked、changed（比对结果变化的行数）、"
                       "lists（各名单的变化）"})


@bp.post("/registry/imports")
@bp.arguments(FileSchema, location="files")
@bp.response(201, RegistryImportSchema)
@bp.alt_response(422, description="文件无法读取或缺少必填列（error.code = sheet_invalid）")
@bp.doc(security=SECURITY)
def import_registry(files):
    """导入省社保卡制卡数据（csv：UTF-8/GB18030，或 xlsx）。列：姓名、身份证号、社保卡号、发卡银行、金融账号、卡状态、
    申领日期、发卡日期、激活日期、镇街、村（社区）、手机号、民族。有错的行跳过并列入报告，其余按卡号更新或新增。"""
    upload = files["file"]
    return service.import_registry(current_actor(), upload.stream, upload.filename or "")


class RegistryImportSummarySchema(RegistryImportSchema):
    class Meta:
        exclude = ("errors",)


@bp.get("/registry/imports")
@bp.response(200, RegistryImportSummarySchema(many=True))
@bp.doc(security=SECURITY)
def list_imports():
    """最近的导入记录（人社局管理员、审计）。"""
    return service.list_imports(current_actor())


@bp.get("/registry/imports/<int:import_id>")
@bp.response(200, RegistryImportSchema)
@bp.doc(security=SECURITY)
def get_import(import_id):
    """一次导入的报告：新增居民、新增卡、状态变化、账号变化、未变、错误行。"""
    return service.get_import(current_actor(), import_id)


@bp.get("/registry/template")
@bp.doc(security=SECURITY, responses=XLSX_RESPONSE)
def registry_template():
    """空白制卡数据模板（xlsx）。"""
    current_actor()
    return send_xlsx(service.template_xlsx(), "社保卡制卡数据_模板.xlsx")
