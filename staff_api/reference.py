"""Reference data for forms and the audit chain check."""
from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from onecard import audit
from onecard.extensions import db
from onecard.people import kinds
from onecard.reference import branches, places
from onecard.reference.models import Bank, Department, Town, Village
from onecard.staff import permissions
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor
from staff_api.imports import add_import_routes

bp = Blueprint("staff_reference", __name__, url_prefix="/api/staff/v1", description="基础数据与审计校验")


class TownSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class VillageSchema(TownSchema):
    town_id = fields.Integer()
    urban_rural_code = fields.String(allow_none=True)


class TownArgs(Schema):
    code = fields.String(metadata={"description": "12位统计用区划代码（本县代码+3位乡级代码+000）"})
    name = fields.String(validate=validate.Length(max=40))


class VillageArgs(TownArgs):
    town_id = fields.Integer(metadata={"description": "可省略：由代码前9位确定；填写时须一致"})
    urban_rural_code = fields.String(allow_none=True, metadata={"description": "城乡分类代码（如111、220）"})


class BankSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    branch_name = fields.String()


class BranchSchema(Schema):
    id = fields.Integer()
    bank_id = fields.Integer()
    bank_name = fields.String()
    name = fields.String()
    address = fields.String()
    active = fields.Boolean()


class BranchArgs(Schema):
    bank_id = fields.Integer(required=True)
    name = fields.String(required=True)
    address = fields.String(load_default=None)


class BranchListArgs(Schema):
    bank_id = fields.Integer(load_default=None)
    include_closed = fields.Boolean(load_default=False)


class BranchActiveArgs(Schema):
    active = fields.Boolean(required=True, metadata={"description": "false：网点停办新申领"})


class DepartmentSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()


class ChainSchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    problems = fields.List(fields.String())


@bp.get("/towns")
@bp.response(200, TownSchema(many=True))
@bp.doc(security=SECURITY)
def towns():
    """镇街列表。"""
    current_actor()
    return db.session.execute(sa.select(Town).order_by(Town.code)).scalars().all()


@bp.get("/villages")
@bp.response(200, VillageSchema(many=True))
@bp.doc(security=SECURITY)
def villages():
    """村（社区）列表。"""
    current_actor()
    return db.session.execute(sa.select(Village).order_by(Village.code)).scalars().all()


@bp.post("/towns")
@bp.arguments(TownArgs)
@bp.response(201, TownSchema)
@bp.doc(security=SECURITY)
def create_town(args):
    """新增镇街（人社局管理员）。"""
    return places.save_town(current_actor(), args)


@bp.patch("/towns/<int:town_id>")
@bp.arguments(TownArgs)
@bp.response(200, TownSchema)
@bp.doc(security=SECURITY)
def update_town(args, town_id):
    """修改镇街名称或代码（人社局管理员）。"""
    return places.save_town(current_actor(), args, town_id=town_id)


@bp.post("/villages")
@bp.arguments(VillageArgs)
@bp.response(201, VillageSchema)
@bp.doc(security=SECURITY)
def create_village(args):
    """新增村（社区）（人社局管理员）：所属镇街由代码前9位确定。"""
    return places.save_village(current_actor(), args)


@bp.patch("/villages/<int:village_id>")
@bp.arguments(VillageArgs)
@bp.response(200, VillageSchema)
@bp.doc(security=SECURITY)
def update_village(args, village_id):
    """修改村（社区）名称或代码（人社局管理员）。"""
    return places.save_village(current_actor(), args, village_id=village_id)


@bp.get("/banks")
@bp.response(200, BankSchema(many=True))
@bp.doc(security=SECURITY)
def banks():
    """合作银行。"""
    current_actor()
    return db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars().all()


@bp.get("/branches")
@bp.arguments(BranchListArgs, location="query")
@bp.response(200, BranchSchema(many=True))
@bp.doc(security=SECURITY)
def list_branches(args):
    """银行领卡网点（默认只列在办的）。"""
    current_actor()
    return branches.list_branches(bank_id=args["bank_id"], active_only=not args["include_closed"])


@bp.post("/branches")
@bp.arguments(BranchArgs)
@bp.response(201, BranchSchema)
@bp.doc(security=SECURITY)
def add_branch(args):
    """人社局管理员新增银行网点。"""
    return branches.add_branch(current_actor(), args["bank_id"], args["name"], args["address"])


@bp.post("/branches/<int:branch_id>/active")
@bp.arguments(BranchActiveArgs)
@bp.response(200, BranchSchema)
@bp.doc(security=SECURITY)
def set_branch_active(args, branch_id):
    """停办或恢复一个网点（已有申领不受影响）。"""
    return branches.set_branch_active(current_actor(), branch_id, args["active"])


@bp.get("/departments")
@bp.response(200, DepartmentSchema(many=True))
@bp.doc(security=SECURITY)
def departments():
    """业务主管部门。"""
    current_actor()
    return db.session.execute(sa.select(Department).order_by(Department.code)).scalars().all()


@bp.get("/audit/verify")
@bp.response(200, ChainSchema)
@bp.doc(security=SECURITY)
def verify_audit_chain():
    """校验审计链：任何记录被改动、删除或插入都会报告。"""
    actor = current_actor()
    permissions.require(actor, "audit.verify")
    return audit.verify_chain().to_dict()


for _kind in kinds.PLACES:       # POST /villages/import and GET /villages/template
    add_import_routes(bp, _kind)
