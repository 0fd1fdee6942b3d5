"""Master data about people: residents, households (户) and heads, protected groups, legal proxies, deaths.

Each is a single edit and an all-or-nothing import with a template (error shape of attachment 3: every bad
row with row, column, masked value and reason in one 422). ID and account numbers are answered masked.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from onecard.people import groups, households, kinds, proxies, residents
from onecard.people.models import CATEGORIES
from onecard.privacy import mask_last4
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor
from staff_api.imports import add_import_routes

bp = Blueprint("staff_people", __name__, url_prefix="/api/staff/v1",
               description="居民、家庭户与户主、特殊群体、代管代持、死亡登记")

_DATE = {"description": "日期，如 2026-11-05"}


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def page_schema(item: type[Schema]) -> type[Schema]:
    """A list's answer: one page of ``item`` and the paging; ``XSchema`` gives ``XPageSchema`` (the name the
    OpenAPI document shows, as ``XPage``)."""
    return Schema.from_dict({"items": fields.List(fields.Nested(item)), "total": fields.Integer(),
                             "page": fields.Integer(), "page_size": fields.Integer()},
                            name=item.__name__.removesuffix("Schema") + "PageSchema")


def _page(rows, total, args) -> dict:
    return {"items": rows, "total": total, "page": args["page"], "page_size": args["page_size"]}


# ---------------------------------------------------------------- residents
class ResidentSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    id_number = fields.String(attribute="id_masked", metadata={"description": "脱敏身份证号"})
    gender = fields.String()
    town_id = fields.Integer()
    village_id = fields.Integer(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    relation_to_head = fields.String(allow_none=True)
    deceased_on = fields.Date(allow_none=True)
    death_document = fields.String(allow_none=True)
    mobile = fields.String(attribute="mobile_masked", allow_none=True)


ResidentPageSchema = page_schema(ResidentSchema)


class ResidentQuery(PageQuery):
    town_id = fields.Integer()
    village_id = fields.Integer()
    name = fields.String(validate=validate.Length(max=30))


class ResidentCreateArgs(Schema):
    name = fields.String(required=True)
    id_number = fields.String(required=True, metadata={"description": "18位公民身份号码"})
    town_id = fields.Integer(required=True)
    village_id = fields.Integer(allow_none=True)
    mobile = fields.String(allow_none=True)


class IdNumberArgs(Schema):
    id_number = fields.String(required=True, metadata={"description": "18位公民身份号码（请求体中传递，不进入网址）"})


@bp.get("/residents")
@bp.arguments(ResidentQuery, location="query")
@bp.response(200, ResidentPageSchema)
@bp.doc(security=SECURITY)
def list_residents(args):
    """居民列表（镇街、村居岗位只看本辖区），按姓名、镇街、村（社区）筛选。"""
    rows, total = residents.list_residents(current_actor(), town_id=args.get("town_id"),
                                           village_id=args.get("village_id"), name=args.get("name"),
                                           page=args["page"], per_page=args["page_size"])
    return _page(rows, total, args)


@bp.post("/residents")
@bp.arguments(ResidentCreateArgs)
@bp.response(201, ResidentSchema)
@bp.doc(security=SECURITY)
def register_resident(args):
    """登记社保卡库中还没有的居民（姓名、身份证号、镇街、村居）。"""
    return residents.register_resident(current_actor(), args)


@bp.post("/residents/lookup")
@bp.arguments(IdNumberArgs)
@bp.response(200, ResidentSchema)
@bp.doc(security=SECURITY)
def lookup_resident(args):
    """按身份证号查找居民（盲索引；查询记入审计）。"""
    return residents.lookup_resident(current_actor(), args["id_number"])


@bp.get("/residents/<int:resident_id>")
@bp.response(200, ResidentSchema)
@bp.doc(security=SECURITY)
def get_resident(resident_id):
    """居民详情（脱敏）。"""
    return residents.get_resident(current_actor(), resident_id)


# ---------------------------------------------------------------- deaths
class DeathArgs(Schema):
    id_number = fields.String(required=True)
    name = fields.String(metadata={"description": "姓名（核对用）"})
    died_on = fields.String(required=True, metadata=_DATE)
    source = fields.String(required=True, metadata={"description": "minzheng（民政部门通知）、police（公安户籍注销）、"
                                                                   "registry（社保卡数据库），也可填中文"})
    document = fields.String(required=True, metadata={"description": "文书编号（死亡证明、注销户口通知等）"})


class DeathResultSchema(Schema):
    resident = fields.Nested(ResidentSchema)
    changed = fields.Boolean(metadata={"description": "false：此前已按同一日期登记"})
    headless_household_id = fields.Integer(allow_none=True, metadata={"description": "死者为户主时，该户待登记新户主"})
    revoked_appointment_ids = fields.List(fields.Integer())


@bp.post("/deaths")
@bp.arguments(DeathArgs)
@bp.response(201, DeathResultSchema)
@bp.doc(security=SECURITY)
def record_death(args):
    """登记死亡（人社局管理员、民政局）：其名下发放暂缓；户主死亡则该户待登记新户主；相关代管代持终止。"""
    return residents.record_death(current_actor(), args)


# ---------------------------------------------------------------- households
class MemberArgs(Schema):
    id_number = fields.String(required=True)
    name = fields.String(metadata={"description": "尚未登记的居民必填（按户的镇街、村居登记）"})
    relation = fields.String(required=True, metadata={"description": "与户主关系：户主、配偶、子女……"})


class HouseholdCreateArgs(Schema):
    code = fields.String(required=True, metadata={"description": "户号"})
    town_id = fields.Integer(required=True)
    village_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True)
    since = fields.String(metadata=_DATE)
    members = fields.List(fields.Nested(MemberArgs), required=True)


class AddMemberArgs(Schema):
    id_number = fields.String(required=True)
    name = fields.String()
    relation = fields.String(required=True)
    since = fields.String(metadata=_DATE)
    reason = fields.String(validate=validate.Length(max=100))


_MEMBER_REF = {"description": "成员：居民 id（整数）或身份证号（字符串）",
               "oneOf": [{"type": "integer"}, {"type": "string"}]}


class MemberRef(fields.Field):
    """A resident id or an ID number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        return value

    default_error_messages = {"invalid": "请填写居民 id 或身份证号"}


class RemoveMemberArgs(Schema):
    member = MemberRef(required=True, metadata=_MEMBER_REF)
    on = fields.String(metadata=_DATE)
    reason = fields.String(validate=validate.Length(max=100))


class ChangeHeadArgs(Schema):
    new_head = MemberRef(required=True, metadata=_MEMBER_REF)
    former_head_relation = fields.String(metadata={"description": "原户主仍在户内时必填（如“配偶”“父母”）"})
    on = fields.String(metadata=_DATE)
    reason = fields.String(validate=validate.Length(max=100))


class SplitMemberArgs(Schema):
    member = MemberRef(required=True, metadata=_MEMBER_REF)
    relation = fields.String(required=True, metadata={"description": "在新户中与户主关系；一人为“户主”"})


class SplitArgs(Schema):
    code = fields.String(required=True, metadata={"description": "新户号"})
    village_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True)
    on = fields.String(metadata=_DATE)
    reason = fields.String(validate=validate.Length(max=100))
    members = fields.List(fields.Nested(SplitMemberArgs), required=True)


class MemberSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    id_number = fields.String(attribute="id_masked")
    relation = fields.String(attribute="relation_to_head")


class HouseholdSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    town_id = fields.Integer()
    village_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True)
    head_id = fields.Integer(allow_none=True, metadata={"description": "为空：待登记户主（到户资金暂缓）"})
    members = fields.Function(lambda h: MemberSchema(many=True).dump(households.members_of(h)))


HouseholdPageSchema = page_schema(HouseholdSchema)


class HouseholdQuery(PageQuery):
    code = fields.String(validate=validate.Length(max=20))
    town_id = fields.Integer()
    village_id = fields.Integer()
    without_head = fields.Boolean(load_default=False)


class MembershipSchema(Schema):
    resident_id = fields.Integer()
    relation = fields.String()
    since = fields.Date()
    until = fields.Date(allow_none=True)
    start_reason = fields.String()
    end_reason = fields.String(allow_none=True)


@bp.get("/households")
@bp.arguments(HouseholdQuery, location="query")
@bp.response(200, HouseholdPageSchema)
@bp.doc(security=SECURITY)
def list_households(args):
    """家庭户列表（镇街、村居岗位只看本辖区）；without_head=true 列出待登记户主的户。"""
    rows, total = households.list_households(
        current_actor(), code=args.get("code"), town_id=args.get("town_id"), village_id=args.get("village_id"),
        without_head=args["without_head"], page=args["page"], per_page=args["page_size"])
    return _page(rows, total, args)


@bp.post("/households")
@bp.arguments(HouseholdCreateArgs)
@bp.response(201, HouseholdSchema)
@bp.doc(security=SECURITY)
def create_household(args):
    """建户：户号、镇街、村居、成员（有且只有一位户主）；未登记的成员按户的镇街、村居登记。"""
    return households.create_household(current_actor(), args)[0]


@bp.get("/households/<int:household_id>")
@bp.response(200, HouseholdSchema)
@bp.doc(security=SECURITY)
def get_household(household_id):
    """家庭户详情和现有成员。"""
    return households.get_household(current_actor(), household_id)


@bp.get("/households/<int:household_id>/history")
@bp.response(200, MembershipSchema(many=True))
@bp.doc(security=SECURITY)
def household_history(household_id):
    """成员变动历史（迁入、迁出、死亡、变更户主、分户）。"""
    return households.history(current_actor(), household_id)


@bp.post("/households/<int:household_id>/members")
@bp.arguments(AddMemberArgs)
@bp.response(200, HouseholdSchema)
@bp.doc(security=SECURITY)
def add_member(args, household_id):
    """成员迁入。"""
    return households.add_member(current_actor(), household_id, args)


@bp.post("/households/<int:household_id>/remove-member")
@bp.arguments(RemoveMemberArgs)
@bp.response(200, HouseholdSchema)
@bp.doc(security=SECURITY)
def remove_member(args, household_id):
    """成员迁出（户主须先变更户主，除非是最后一位成员）。"""
    return households.remove_member(current_actor(), household_id, args)


@bp.post("/households/<int:household_id>/head")
@bp.arguments(ChangeHeadArgs)
@bp.response(200, HouseholdSchema)
@bp.doc(security=SECURITY)
def change_head(args, household_id):
    """变更户主（如原户主死亡或迁出）。"""
    return households.change_head(current_actor(), household_id, args)[0]


@bp.post("/households/<int:household_id>/split")
@bp.arguments(SplitArgs)
@bp.response(201, HouseholdSchema)
@bp.doc(security=SECURITY)
def split_household(args, household_id):
    """分户：所选成员迁入新户（其中一人为新户主）。"""
    return households.split_household(current_actor(), household_id, args)[0]


# ---------------------------------------------------------------- protected groups
class GroupArgs(Schema):
    id_number = fields.String(required=True)
    name = fields.String(metadata={"description": "姓名（核对用）"})
    category = fields.String(required=True, metadata={"description": "dibao、tekun、disabled、poverty，或中文名称"})
    certificate_no = fields.String(required=True, metadata={"description": "认定文号或证件编号"})
    since = fields.String(required=True, metadata=_DATE)
    until = fields.String(allow_none=True, metadata=_DATE)
    department_id = fields.Integer(metadata={"description": "认定部门；部门经办省略（本部门）"})


class RevokeArgs(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=200))
    on = fields.String(metadata={"description": "最后有效日，默认今天"})


class GroupRecordSchema(Schema):
    id = fields.Integer()
    resident_id = fields.Integer()
    category = fields.String()
    category_label = fields.Function(lambda c: CATEGORIES.get(c.category, c.category))
    department_id = fields.Integer(allow_none=True)
    certificate_no = fields.String(allow_none=True)
    since = fields.Date(allow_none=True)
    until = fields.Date(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoke_reason = fields.String(allow_none=True)


GroupRecordPageSchema = page_schema(GroupRecordSchema)


class GroupQuery(PageQuery):
    category = fields.String()
    live_only = fields.Boolean(load_default=False)


@bp.get("/groups")
@bp.arguments(GroupQuery, location="query")
@bp.response(200, GroupRecordPageSchema)
@bp.doc(security=SECURITY)
def list_groups(args):
    """特殊群体认定记录：部门只看本部门认定的，镇街、村居看本辖区。"""
    rows, total = groups.list_groups(current_actor(), category=args.get("category"), live_only=args["live_only"],
                                     page=args["page"], per_page=args["page_size"])
    return _page(rows, total, args)


@bp.post("/groups")
@bp.arguments(GroupArgs)
@bp.response(201, GroupRecordSchema)
@bp.doc(security=SECURITY)
def record_group(args):
    """登记（或续期）特殊群体认定：低保、特困由民政局，残疾人由残联，脱贫户由农业农村局登记。"""
    return groups.record_group(current_actor(), args)


@bp.post("/groups/<int:record_id>/revoke")
@bp.arguments(RevokeArgs)
@bp.response(200, GroupRecordSchema)
@bp.doc(security=SECURITY)
def revoke_group(args, record_id):
    """撤销认定（认定部门）。"""
    return groups.revoke_group(current_actor(), record_id, args)


# ---------------------------------------------------------------- proxies
class ProxyArgs(Schema):
    ward_id_number = fields.String(required=True)
    ward_name = fields.String()
    proxy_id_number = fields.String(required=True)
    proxy_name = fields.String(metadata={"description": "代管人尚未登记时必填"})
    category = fields.String(metadata={"description": "代管依据的群体；省略则取被代管人的第一个有效群体"})
    legal_basis = fields.String(required=True, metadata={"description": "法律依据（文书编号）"})
    appointed_by = fields.String(required=True, metadata={"description": "指定机关（法院、民政局、村委会……）"})
    valid_from = fields.String(metadata=_DATE)
    valid_until = fields.String(allow_none=True, metadata=_DATE)
    account = fields.String(allow_none=True, metadata={"description": "收款账号；省略则发放至代管人本人社保卡"})
    bank = fields.String(allow_none=True, metadata={"description": "开户银行名称"})
    bank_id = fields.Integer(allow_none=True)


class ProxySchema(Schema):
    id = fields.Integer()
    ward_id = fields.Integer(attribute="resident_id")
    proxy_id = fields.Integer(attribute="proxy_resident_id")
    category = fields.String()
    legal_basis = fields.String()
    appointed_by = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date(allow_none=True)
    account = fields.Function(lambda a: mask_last4(a.account_last4), metadata={"description": "脱敏收款账号"})
    bank_id = fields.Integer(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoke_reason = fields.String(allow_none=True)


ProxyPageSchema = page_schema(ProxySchema)


class ProxyQuery(PageQuery):
    live_only = fields.Boolean(load_default=False)


@bp.get("/proxies")
@bp.arguments(ProxyQuery, location="query")
@bp.response(200, ProxyPageSchema)
@bp.doc(security=SECURITY)
def list_proxies(args):
    """代管代持记录。"""
    rows, total = proxies.list_appointments(current_actor(), live_only=args["live_only"], page=args["page"],
                                            per_page=args["page_size"])
    return _page(rows, total, args)


@bp.post("/proxies")
@bp.arguments(ProxyArgs)
@bp.response(201, ProxySchema)
@bp.doc(security=SECURITY)
def appoint_proxy(args):
    """登记法定代管代持：仅限有效认定的低保、特困、残疾人、脱贫户或未成年人；每人只能有一项有效指定。"""
    return proxies.appoint(current_actor(), args)


@bp.get("/proxies/<int:appointment_id>")
@bp.response(200, ProxySchema)
@bp.doc(security=SECURITY)
def get_proxy(appointment_id):
    """代管代持详情。"""
    return proxies.get_appointment(current_actor(), appointment_id)


@bp.post("/proxies/<int:appointment_id>/revoke")
@bp.arguments(RevokeArgs)
@bp.response(200, ProxySchema)
@bp.doc(security=SECURITY)
def revoke_proxy(args, appointment_id):
    """撤销代管代持。"""
    return proxies.revoke(current_actor(), appointment_id, args)


for _kind in kinds.PEOPLE:       # POST /<kind>/import and GET /<kind>/template
    add_import_routes(bp, _kind)
