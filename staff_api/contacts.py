"""Department contacts (附件4): each department's responsible leader and contact person."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.contacts import service
from onecard.contacts.models import CONTACT_KINDS
from onecard.web import send_xlsx
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor
from staff_api.projects import XLSX_RESPONSE, FileSchema, ImportQuery

bp = Blueprint("staff_contacts", __name__, url_prefix="/api/staff/v1", description="部门联络人（附件4）")


class ContactFields(Schema):
    kind = fields.String(validate=validate.Length(max=10),
                         metadata={"description": "leader（分管负责人）或 contact（联络人），也可填中文"})
    name = fields.String(metadata={"description": "姓名"})
    position = fields.String(metadata={"description": "单位及职务"})
    phone = fields.String(metadata={"description": "联系方式：手机号或带区号的固定电话"})
    note = fields.String(allow_none=True, metadata={"description": "备注"})


class ContactCreateArgs(ContactFields):
    department_id = fields.Integer(metadata={"description": "所属部门；部门经办省略（本部门）"})


class ContactEditArgs(ContactFields):
    department_id = fields.Integer(metadata={"description": "不可修改：传入即被拒绝"})


class ContactSchema(Schema):
    id = fields.Integer()
    department_id = fields.Integer()
    department_name = fields.Function(lambda c: c.department.name)
    kind = fields.String()
    kind_label = fields.Function(lambda c: CONTACT_KINDS[c.kind])
    name = fields.String()
    position = fields.String()
    phone = fields.String(attribute="phone_masked", metadata={"description": "脱敏后的联系方式"})
    note = fields.String(allow_none=True)


class ContactQuery(Schema):
    department_id = fields.Integer()


@bp.get("/contacts")
@bp.arguments(ContactQuery, location="query")
@bp.response(200, ContactSchema(many=True))
@bp.doc(security=SECURITY)
def list_contacts(args):
    """联络人列表：部门岗位只看本部门。"""
    return service.list_contacts(current_actor(), **args)


@bp.post("/contacts")
@bp.arguments(ContactCreateArgs)
@bp.response(201, ContactSchema)
@bp.doc(security=SECURITY)
def create_contact(args):
    """登记分管负责人或联络人（部门经办：本部门；管理员：任一部门）。"""
    return service.create_contact(current_actor(), args)


@bp.get("/contacts/<int:contact_id>")
@bp.response(200, ContactSchema)
@bp.doc(security=SECURITY)
def get_contact(contact_id):
    """联络人详情。"""
    return service.get_contact(current_actor(), contact_id)


@bp.patch("/contacts/<int:contact_id>")
@bp.arguments(ContactEditArgs)
@bp.response(200, ContactSchema)
@bp.doc(security=SECURITY)
def update_contact(args, contact_id):
    """修改联络人。"""
    return service.update_contact(current_actor(), contact_id, args)


@bp.delete("/contacts/<int:contact_id>")
@bp.response(204)
@bp.doc(security=SECURITY)
def delete_contact(contact_id):
    """删除联络人（已离岗）。"""
    service.delete_contact(current_actor(), contact_id)


@bp.get("/contacts/export")
@bp.arguments(ContactQuery, location="query")
@bp.doc(security=SECURITY, responses=XLSX_RESPONSE)
def export_contacts(args):
    """导出附件4（xlsx）。"""
    return send_xlsx(service.export_contacts(current_actor(), **args), "附件4_联络人.xlsx")


class ContactImportResultSchema(Schema):
    created = fields.Integer(metadata={"description": "导入的人数（本部门原有联络人被替换）"})
    contacts = fields.List(fields.Nested(ContactSchema))


@bp.post("/contacts/import")
@bp.arguments(ImportQuery, location="query")
@bp.arguments(FileSchema, location="files")
@bp.response(201, ContactImportResultSchema)
@bp.alt_response(422, description="文件有错：error.details.errors 列出每个错误的行、列、值（脱敏）和原因；原登记不变")
@bp.doc(security=SECURITY)
def import_contacts(query, files):
    """导入附件4（xlsx 或 csv）：整表替换本部门的分管负责人和联络人；逐行校验，全部正确才替换。"""
    upload = files["file"]
    created = service.import_contacts(current_actor(), upload.stream, upload.filename or "",
                                      department_id=query.get("department_id"))
    return {"created": len(created), "contacts": created}


@bp.get("/contacts/template")
@bp.doc(security=SECURITY, responses=XLSX_RESPONSE)
def contact_template():
    """空白附件4模板（类型可留空：第一行为分管负责人）。"""
    from onecard.contacts import sheets
    current_actor()
    return send_xlsx(sheets.template_xlsx(), "附件4_分管负责人及联系人登记表_模板.xlsx")
