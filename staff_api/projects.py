"""Project catalogue (补贴项目目录, attachment 2): register, edit, code, retire; import and export xlsx."""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from onecard.people.models import CATEGORIES
from onecard.projects import service
from onecard.projects.models import CYCLES, LEVELS, PROJECT_STATES
from onecard.timeutil import local_str
from onecard.validation import format_fen
from onecard.web import XLSX, send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor

bp = Blueprint("staff_projects", __name__, url_prefix="/api/staff/v1", description="补贴项目目录（附件2）")



class FileSchema(Schema):
    """A multipart/form-data upload with one part named ``file`` (xlsx, or csv where the endpoint says so)."""
    file = Upload(required=True, metadata={"description": "xlsx 或 csv 文件"})


XLSX_RESPONSE = {"200": {"description": "xlsx 文件", "content": {XLSX: {"schema": {"type": "string",
                                                                                  "format": "binary"}}}}}

_YES_NO = {"description": "布尔值，或“是”/“否”", "oneOf": [{"type": "boolean"}, {"type": "string"}]}


class ProjectFields(Schema):
    category = fields.String(metadata={"description": "项目资金大类名称"})
    name = fields.String(metadata={"description": "项目资金小类名称"})
    cycle = fields.String(metadata={"description": "发放周期：按月/按季/按半年/按年/一次性 或 " + "/".join(CYCLES)})
    bank = fields.String(allow_none=True, metadata={"description": "代发银行名称（如 工商银行、农商行）；空为按批次确定"})
    bank_id = fields.Integer(allow_none=True, metadata={"description": "代发银行 id（与 bank 二选一）"})
    via_passbook = fields.Raw(metadata=_YES_NO | {"description": '是否通过"一本通"发放：是/否'})
    level = fields.String(metadata={"description": "发放层级：县级/镇级/村级 或 county/town/village"})
    standard = fields.String(allow_none=True, metadata={"description": "标准金额（元），如 \"183.00\"；空为不固定"})
    per_household = fields.Raw(metadata=_YES_NO | {"description": "是否到户（发到户主的卡）"})
    required_category = fields.String(allow_none=True, metadata={
        "description": "对象类别：" + "/".join(f"{k}({v})" for k, v in CATEGORIES.items())})
    eligibility = fields.String(allow_none=True, metadata={"description": "享受条件"})
    policy_basis = fields.String(allow_none=True, metadata={"description": "政策依据"})


class ProjectCreateArgs(ProjectFields):
    department_id = fields.Integer(metadata={"description": "主管部门；部门经办可省略（默认本部门）"})


class ProjectEditArgs(ProjectFields):
    code = fields.String(metadata={"description": "不可修改：传入即被拒绝"})
    department_id = fields.Integer(metadata={"description": "不可修改：传入即被拒绝"})


class ProjectSchema(Schema):
    id = fields.Integer()
    code = fields.String(allow_none=True, metadata={"description": "统一编码：部门2位+大类2位+小类3位"})
    department_id = fields.Integer()
    department_name = fields.Function(lambda p: p.department.name)
    category = fields.String()
    name = fields.String()
    cycle = fields.String()
    cycle_label = fields.Function(lambda p: CYCLES[p.cycle])
    bank_id = fields.Integer(allow_none=True)
    bank_name = fields.Function(lambda p: p.bank.name if p.bank else None)
    via_passbook = fields.Boolean()
    level = fields.String()
    level_label = fields.Function(lambda p: LEVELS[p.level])
    standard = fields.Function(lambda p: format_fen(p.standard_fen) if p.standard_fen else None,
                               metadata={"description": "标准金额（元）"})
    standard_fen = fields.Integer(allow_none=True)
    per_household = fields.Boolean()
    required_category = fields.String(allow_none=True)
    eligibility = fields.String(allow_none=True)
    policy_basis = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda p: PROJECT_STATES[p.status])
    created_at = fields.Function(lambda p: local_str(p.created_at))
    coded_at = fields.Function(lambda p: local_str(p.coded_at) if p.coded_at else None)
    retired_at = fields.Function(lambda p: local_str(p.retired_at) if p.retired_at else None)


class ProjectQuery(Schema):
    department_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(list(PROJECT_STATES)))
    category = fields.String()


class ExportQuery(Schema):
    department_id = fields.Integer()


class ImportQuery(Schema):
    department_id = fields.Integer(metadata={"description": "导入到哪个部门；部门经办省略（本部门）"})


class RetireArgs(Schema):
    note = fields.String(validate=validate.Length(max=200), metadata={"description": "停用原因"})


class ImportResultSchema(Schema):
    created = fields.Integer()
    projects = fields.List(fields.Nested(ProjectSchema))


@bp.get("/projects")
@bp.arguments(ProjectQuery, location="query")
@bp.response(200, ProjectSchema(many=True))
@bp.doc(security=SECURITY)
def list_projects(args):
    """项目目录：部门岗位只看本部门，其他岗位看全部。"""
    return service.list_projects(current_actor(), **args)


@bp.post("/projects")
@bp.arguments(ProjectCreateArgs)
@bp.response(201, ProjectSchema)
@bp.doc(security=SECURITY)
def register_project(args):
    """登记项目（部门经办：本部门；人社局管理员：任一部门）。同一部门同一大类下小类重名返回 409。"""
    return service.register_project(current_actor(), args)


@bp.get("/projects/<int:project_id>")
@bp.response(200, ProjectSchema)
@bp.doc(security=SECURITY)
def get_project(project_id):
    """项目详情。"""
    return service.get_project(current_actor(), project_id)


@bp.patch("/projects/<int:project_id>")
@bp.arguments(ProjectEditArgs)
@bp.response(200, ProjectSchema)
@bp.doc(security=SECURITY)
def update_project(args, project_id):
    """修改待编码或已编码的项目（本部门经办或管理员）；统一编码和主管部门不能改。"""
    return service.update_project(current_actor(), project_id, args)


@bp.delete("/projects/<int:project_id>")
@bp.response(204)
@bp.doc(security=SECURITY)
def delete_project(project_id):
    """删除登记有误且尚未编码的项目（本部门经办或管理员）。"""
    service.delete_project(current_actor(), project_id)


@bp.post("/projects/<int:project_id>/code")
@bp.response(200, ProjectSchema)
@bp.doc(security=SECURITY)
def code_project(project_id):
    """人社局赋予统一编码：部门代码2位 + 大类序号2位 + 小类序号3位（如 0301002），一经赋予不变、不复用。"""
    return service.code_project(current_actor(), project_id)


@bp.post("/projects/<int:project_id>/retire")
@bp.arguments(RetireArgs)
@bp.response(200, ProjectSchema)
@bp.doc(security=SECURITY)
def retire_project(args, project_id):
    """停用已编码的项目（人社局管理员）；编码保留不再使用。"""
    return service.retire_project(current_actor(), project_id, note=args.get("note"))


@bp.post("/projects/import")
@bp.arguments(ImportQuery, location="query")
@bp.arguments(FileSchema, location="files")
@bp.response(201, ImportResultSchema)
@bp.alt_response(422, description="文件有错：error.details.errors 列出每个错误的行、列、值（脱敏）和原因；全部不导入")
@bp.doc(security=SECURITY)
def import_projects(query, files):
    """导入附件2（xlsx）：逐行校验，全部正确才导入。"""
    upload = files["file"]
    created = service.import_projects(current_actor(), upload.stream, upload.filename or "",
                                      department_id=query.get("department_id"))
    return {"created": len(created), "projects": created}


@bp.get("/projects/export")
@bp.arguments(ExportQuery, location="query")
@bp.doc(security=SECURITY, responses=XLSX_RESPONSE)
def export_projects(args):
    """导出附件2（xlsx）：附件2原有各列，加统一编码和标准。"""
    data = service.export_projects(current_actor(), department_id=args.get("department_id"))
    return send_xlsx(data, "附件2_补贴项目目录.xlsx")


@bp.get("/projects/template")
@bp.doc(security=SECURITY, responses=XLSX_RESPONSE)
def project_template():
    """空白附件2模板。"""
    from onecard.projects import sheets
    current_actor()
    return send_xlsx(sheets.template_xlsx(), "附件2_补贴项目目录_模板.xlsx")
