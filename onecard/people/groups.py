"""Protected groups (低保户, 特困供养人员, 残疾人, 建档立卡/脱贫户) recorded by the department that issues them.

Each group has its issuing departments (ISSUERS, by department code): 民政局 for 低保 and 特困, 残联 for
残疾人, 乡村振兴/农业农村局 for 脱贫户. A department operator records and revokes only its own groups; the
bureau administrator may record on a department's behalf, naming it. A record carries the document number
(认定文号/证件编号) and validity (since, until); revocation ends the validity on its date, so every reader
of since/until (the payment routing, proxy checks) sees it.

未成年人 is never recorded: ``is_minor`` derives it from the birth date, in one place.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.imports import SheetSpec, import_rows
from onecard.people import access
from onecard.people.models import CATEGORIES, Resident, ResidentCategory
from onecard.people.residents import birth_date_of, resident_by_id_number
from onecard.privacy import mask_name
from onecard.reference.models import Department
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import normalize_name, normalize_text, parse_date

ADULT_AGE = 18
ISSUERS: dict[str, tuple[str, ...]] = {      # group -> department codes that may record it
    "dibao": ("03",),        # 县民政局
    "tekun": ("03",),        # 县民政局
    "disabled": ("11",),     # 县残疾人联合会
    "poverty": ("06",),      # 县农业农村局（乡村振兴）
}
RECORDED = tuple(ISSUERS)    # the groups that are recorded (minor is computed)
_LABELS = {v: k for k, v in CATEGORIES.items()} | {"低保": "dibao", "特困": "tekun", "特困人员": "tekun",
                                                   "建档立卡": "poverty", "脱贫户": "poverty", "建档立卡户": "poverty",
                                                   "脱贫人口": "poverty", "残疾": "disabled"}


def is_minor(birth_date: date, on: date) -> bool:
    """未成年人: under 18 on ``on`` (the birthday itself is the first adult day)."""
    try:
        eighteenth = birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:       # born on 29 February
        eighteenth = date(birth_date.year + ADULT_AGE, 3, 1)
    return on < eighteenth


def resident_is_minor(resident: Resident, on: date) -> bool:
    return is_minor(birth_date_of(resident), on)


def valid_on(record: ResidentCategory, on: date) -> bool:
    return (record.revoked_at is None and (record.since is None or record.since <= on)
            and (record.until is None or record.until >= on))


def protected_groups(resident: Resident, on: date) -> set[str]:
    """The protected groups a resident is in on ``on``: recorded groups valid then, plus minor by birth date."""
    groups = {c.category for c in db.session.execute(
        sa.select(ResidentCategory).where(ResidentCategory.resident_id == resident.id)).scalars() if valid_on(c, on)}
    if resident_is_minor(resident, on):
        groups.add("minor")
    return groups


def parse_group(value: object, *, field: str = "category") -> str:
    text = "".join(str(value if value is not None else "").split())
    code = text if text in CATEGORIES else _LABELS.get(text)
    if code == "minor":
        raise Invalid("未成年人由身份证号中的出生日期确定，无需登记", code="minor_computed", field=field)
    if code not in RECORDED:
        raise Invalid("类别应为：" + "、".join(CATEGORIES[c] for c in RECORDED), code="category_unknown", field=field)
    return code


def issuing_department(actor: Actor, category: str, department_id: int | None) -> int:
    """The department recording ``category``: a department operator's own, which must issue it; the
    administrator names one that does."""
    codes = ISSUERS[category]
    if actor.kind == "staff" and actor.role == "dept_operator":
        if department_id is not None and department_id != actor.department_id:
            raise Forbidden("只能以本部门名义登记", code="forbidden_scope", field="department_id")
        department_id = actor.department_id
    elif department_id is None:
        department_id = db.session.execute(sa.select(Department.id).where(Department.code == codes[0])).scalar()
    code = db.session.execute(sa.select(Department.code).where(Department.id == department_id)).scalar()
    if code not in codes:
        names = db.session.execute(sa.select(Department.name).where(Department.code.in_(codes))).scalars().all()
        raise Forbidden(f"{CATEGORIES[category]}只能由{'、'.join(names) or '认定部门'}登记", code="not_issuer",
                        field="category")
    return department_id


def snapshot(c: ResidentCategory) -> dict:
    return {"resident_id": c.resident_id, "category": c.category, "department_id": c.department_id,
            "certificate_no": c.certificate_no, "since": c.since.isoformat() if c.since else None,
            "until": c.until.isoformat() if c.until else None,
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None, "revoke_reason": c.revoke_reason}


def record_group(actor: Actor, values: dict, *, commit: bool = True) -> ResidentCategory:
    """Record (or renew) a resident's membership of a protected group: ``id_number`` (+ ``name`` to check),
    ``category``, ``certificate_no``, ``since``, ``until``. One record per resident and group: a renewal
    replaces the document and dates (and lifts a revocation); the change is audited."""
    permissions.require(actor, "group.manage")
    category = parse_group(values.get("category"))
    department_id = issuing_department(actor, category, values.get("department_id"))
    resident = resident_by_id_number(values.get("id_number"))
    if values.get("name") not in (None, "") and normalize_name(values["name"]) != resident.name:
        raise Invalid(f"姓名与已登记的“{mask_name(resident.name)}”不符，请核对", code="name_mismatch", field="name")
    if resident.deceased_on is not None:
        raise Invalid(f"该居民已于{resident.deceased_on}登记死亡", code="resident_deceased", field="id_number")
    certificate_no = normalize_text(values.get("certificate_no"), field="certificate_no", max_len=60,
                                    label="认定文号或证件编号")
    since = parse_date(values.get("since"), field="since")
    until = parse_date(values["until"], field="until") if values.get("until") not in (None, "") else None
    if until is not None and until < since:
        raise Invalid("截止日期不能早于起始日期", code="dates_order", field="until")
    record = db.session.execute(sa.select(ResidentCategory).where(
        ResidentCategory.resident_id == resident.id, ResidentCategory.category == category)).scalars().first()
    if record is not None and record.department_id not in (None, department_id):
        raise Conflict("该记录由其他部门登记", code="other_issuer", field="category")
    before = snapshot(record) if record else None
    if record is None:
        record = ResidentCategory(resident_id=resident.id, category=category)
        db.session.add(record)
    record.department_id, record.certificate_no, record.since, record.until = department_id, certificate_no, since, until
    record.revoked_at = record.revoke_reason = None
    db.session.flush()
    after = snapshot(record)
    if before != after:
        audit.record("group.recorded" if before is None else "group.renewed", actor=actor,
                     entity_type="resident_category", entity_id=record.id, before=before, after=after)
    if commit:
        db.session.commit()
    return record


def _load(actor: Actor, record_id: int, *, manage: bool) -> ResidentCategory:
    permissions.require(actor, "group.manage" if manage else "people.read")
    record = db.session.get(ResidentCategory, record_id)
    if record is None or not _visible(actor, record):
        raise NotFound("记录不存在", code="group_not_found")
    return record


def _own_categories(actor: Actor) -> list[str]:
    code = access.department_code(actor)
    return [c for c, codes in ISSUERS.items() if code in codes]


def _department_where(actor: Actor):
    """A department's records: those it recorded, and those recorded before departments were (the demo's, the
    registry's) in the groups it issues."""
    return sa.or_(ResidentCategory.department_id == actor.department_id,
                  sa.and_(ResidentCategory.department_id.is_(None),
                          ResidentCategory.category.in_(_own_categories(actor))))


def _visible(actor: Actor, record: ResidentCategory) -> bool:
    if actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer"):
        return record.department_id == actor.department_id or (
            record.department_id is None and record.category in _own_categories(actor))
    resident = db.session.get(Resident, record.resident_id)
    return access.sees(actor, resident.town_id, resident.village_id)


def revoke_group(actor: Actor, record_id: int, values: dict, *, commit: bool = True) -> ResidentCategory:
    """The issuing department revokes a membership (``reason``, ``on`` — the last valid day, default today)."""
    record = _load(actor, record_id, manage=True)
    issuing_department(actor, record.category, record.department_id)
    if record.revoked_at is not None:
        raise Conflict("该记录已撤销", code="already_revoked")
    reason = normalize_text(values.get("reason"), field="reason", max_len=200, label="撤销原因")
    on = parse_date(values["on"], field="on") if values.get("on") not in (None, "") else local_today()
    before = snapshot(record)
    record.revoked_at, record.revoke_reason = utcnow(), reason
    record.until = min(on, record.until) if record.until else on
    if record.since is not None and record.until < record.since:
        record.until = record.since
    db.session.flush()
    audit.record("group.revoked", actor=actor, entity_type="resident_category", entity_id=record.id, before=before,
                 after=snapshot(record), note=reason)
    if commit:
        db.session.commit()
    return record


def list_groups(actor: Actor, *, category: str | None = None, id_number: str | None = None,
                live_only: bool = False, page: int = 1, per_page: int = 50) -> tuple[list[ResidentCategory], int]:
    """Group memberships the actor may see: a department its own records; town/village staff their area."""
    permissions.require(actor, "people.read")
    stmt = (sa.select(ResidentCategory).join(Resident, Resident.id == ResidentCategory.resident_id)
            .where(access.scope_where(actor, Resident.town_id, Resident.village_id)))
    if actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer"):
        stmt = stmt.where(_department_where(actor))
    if category:
        stmt = stmt.where(ResidentCategory.category == parse_group(category))
    if id_number:
        stmt = stmt.where(ResidentCategory.resident_id == resident_by_id_number(id_number).id)
    if live_only:
        today = local_today()
        stmt = stmt.where(ResidentCategory.revoked_at.is_(None),
                          sa.or_(ResidentCategory.until.is_(None), ResidentCategory.until >= today))
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(ResidentCategory.id.desc()).limit(per_page)
                              .offset((page - 1) * per_page)).scalars().all()
    return rows, total


GROUPS_SHEET = SheetSpec(
    sheet_name="特殊群体认定",
    columns={"身份证号": "id_number", "姓名": "name", "类别": "category", "认定文号": "certificate_no",
             "起始日期": "since", "截止日期": "until"},
    required=("身份证号", "姓名", "类别", "认定文号", "起始日期"),
    aliases={"公民身份号码": "身份证号", "身份证号码": "身份证号", "对象类别": "类别", "群体类别": "类别",
             "证件编号": "认定文号", "文号": "认定文号", "证书编号": "认定文号", "开始日期": "起始日期",
             "有效期起": "起始日期", "有效期止": "截止日期", "结束日期": "截止日期"},
    masked={"id_number": "id"},
    example=("370831195001011234", "张三", "低保户", "泗民低〔2026〕1号", "2026-01-01", "2026-12-31"),
)


def import_groups(actor: Actor, data, filename: str, *, department_id: int | None = None) -> dict:
    """A department's list of group members (all or nothing); each row recorded or renewed as one edit."""
    permissions.require(actor, "group.manage")
    counts: dict[str, int] = {}

    def apply(row_no: int, values: dict) -> None:
        record = record_group(actor, {**values, "department_id": department_id}, commit=False)
        counts[record.category] = counts.get(record.category, 0) + 1

    total = import_rows(GROUPS_SHEET, data, filename, apply)
    db.session.commit()
    return {"recorded": total, "by_category": counts}
