"""Legal proxy appointments (代管代持): who receives a ward's money, on what legal basis, until when.

The plan allows a proxy only for a resident in a protected group (低保户, 特困供养人员, 残疾人, 建档立卡/
脱贫户, 未成年人), and only on a recorded legal basis (文书) by an appointing body (法院, 民政局, 村委会...).
``appoint`` refuses: a ward not in a protected group valid at the appointment's start (and today), a proxy who
is the ward or a minor, a dead ward or proxy, and a second live appointment for the same ward (the database
refuses it too). The account money goes to is stored encrypted with its blind index and last 4 digits;
without one, the proxy's own card is paid. A department operator records appointments only for the groups
its department issues (``onecard.people.groups.ISSUERS``; 未成年人: 民政局).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Forbidden, Invalid, NotFound
from onecard.extensions import db
from onecard.imports import SheetSpec, import_rows
from onecard.people import access, events, groups
from onecard.people.models import CATEGORIES, ProxyAppointment, Resident
from onecard.people.residents import ensure_resident, resident_by_id_number
from onecard.privacy import blind_index, last4, mask_name
from onecard.reference import service as reference
from onecard.reference.models import Bank, Department
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import normalize_bank_account, normalize_name, normalize_text, parse_date

MINOR_ISSUERS = ("03",)   # guardianship of minors: 县民政局


def _issuer_codes(category: str) -> tuple[str, ...]:
    return MINOR_ISSUERS if category == "minor" else groups.ISSUERS[category]


def _category(value: object) -> str | None:
    if value in (None, ""):
        return None
    text = "".join(str(value).split())
    code = text if text in CATEGORIES else {v: k for k, v in CATEGORIES.items()}.get(text)
    if code is None:
        try:
            code = groups.parse_group(text)
        except Invalid as exc:
            raise Invalid("代管依据的群体应为：" + "、".join(CATEGORIES.values()), code="category_unknown",
                          field="category") from exc
    return code


def snapshot(a: ProxyAppointment) -> dict:
    return {"ward_id": a.resident_id, "proxy_id": a.proxy_resident_id, "category": a.category,
            "legal_basis": a.legal_basis, "appointed_by": a.appointed_by,
            "valid_from": a.valid_from.isoformat(), "valid_until": a.valid_until.isoformat() if a.valid_until else None,
            "account": f"****{a.account_last4}" if a.account_last4 else None, "bank_id": a.bank_id,
            "revoked_at": a.revoked_at.isoformat() if a.revoked_at else None, "revoke_reason": a.revoke_reason}


def _person(values: dict, prefix: str, label: str, ward: Resident | None, actor: Actor) -> Resident:
    id_field, name_field = f"{prefix}_id_number", f"{prefix}_name"
    if ward is None:
        resident = resident_by_id_number(values.get(id_field), field=id_field)
        if values.get(name_field) not in (None, "") and normalize_name(values[name_field], field=name_field) \
                != resident.name:
            raise Invalid(f"{label}姓名与已登记的“{mask_name(resident.name)}”不符", code="name_mismatch",
                          field=name_field)
        return resident
    # The proxy may have no card and no registration yet: registered minimally where the ward lives.
    resident, _ = ensure_resident(actor, {id_field: values.get(id_field), name_field: values.get(name_field),
                                          "town_id": ward.town_id, "village_id": ward.village_id},
                                  id_field=id_field, name_field=name_field)
    return resident


def appoint(actor: Actor, values: dict, *, commit: bool = True) -> ProxyAppointment:
    """Record a legal proxy appointment: ``ward_id_number``/``ward_name``, ``proxy_id_number``/``proxy_name``,
    ``category`` (the protected group it rests on; default: the ward's first), ``legal_basis``, ``appointed_by``,
    ``valid_from``, ``valid_until``, optional ``account`` + ``bank`` (name) or ``bank_id``."""
    permissions.require(actor, "proxy.manage")
    ward = _person(values, "ward", "被代管人", None, actor)
    proxy = _person(values, "proxy", "代管人", ward, actor)
    if proxy.id == ward.id:
        raise Invalid("不能为本人指定代管人", code="proxy_self", field="proxy_id_number")
    for person, field in ((ward, "ward_id_number"), (proxy, "proxy_id_number")):
        if person.deceased_on is not None:
            raise Invalid(f"该居民已于{person.deceased_on}登记死亡", code="resident_deceased", field=field)
    valid_from = parse_date(values.get("valid_from"), field="valid_from") \
        if values.get("valid_from") not in (None, "") else local_today()
    valid_until = parse_date(values["valid_until"], field="valid_until") \
        if values.get("valid_until") not in (None, "") else None
    if valid_until is not None and valid_until < valid_from:
        raise Invalid("截止日期不能早于起始日期", code="dates_order", field="valid_until")
    today = local_today()
    if groups.resident_is_minor(proxy, max(valid_from, today)):
        raise Invalid("代管人应为成年人", code="proxy_minor", field="proxy_id_number")
    days = [valid_from] + ([today] if valid_from < today and (valid_until is None or valid_until >= today) else [])
    protected = set.intersection(*(groups.protected_groups(ward, d) for d in days))
    category = _category(values.get("category"))
    if not protected:
        raise Invalid("被代管人不属于低保户、特困供养人员、残疾人、脱贫户或未成年人（或认定已失效），不能指定代管代持",
                      code="ward_not_protected", field="ward_id_number")
    if category is None:
        category = next(c for c in CATEGORIES if c in protected)
    elif category not in protected:
        raise Invalid(f"被代管人在该期间不属于{CATEGORIES[category]}", code="ward_not_in_group", field="category")
    department_id = None
    if actor.kind == "staff" and actor.role == "dept_operator":
        access.require_department_in(actor, _issuer_codes(category), f"{CATEGORIES[category]}的代管代持登记")
        department_id = actor.department_id
    legal_basis = normalize_text(values.get("legal_basis"), field="legal_basis", max_len=200, label="法律依据（文书）")
    appointed_by = normalize_text(values.get("appointed_by"), field="appointed_by", max_len=100, label="指定机关")
    account = bank_id = None
    if values.get("account") not in (None, ""):
        account = normalize_bank_account(values["account"], field="account")
        if values.get("bank_id") is not None:
            if db.session.get(Bank, values["bank_id"]) is None:
                raise Invalid("银行不存在", code="bank_unknown", field="bank_id")
            bank_id = values["bank_id"]
        elif values.get("bank") not in (None, ""):
            bank_id = reference.resolve_bank(str(values["bank"]), field="bank")
        else:
            raise Invalid("填写收款账号时请同时填写开户银行", code="bank_required", field="bank")
    live = db.session.execute(sa.select(ProxyAppointment).where(
        ProxyAppointment.resident_id == ward.id, ProxyAppointment.revoked_at.is_(None))).scalars().first()
    if live is not None:
        if live.valid_until is not None and live.valid_until < valid_from:
            revoke_loaded(actor, live, reason="有效期届满，由新的代管代持接替", on=live.valid_until)
        else:
            raise Conflict("该被代管人已有有效的代管代持，请先撤销原指定", code="appointment_exists",
                           field="ward_id_number")
    appt = ProxyAppointment(resident_id=ward.id, proxy_resident_id=proxy.id, category=category,
                            legal_basis=legal_basis, appointed_by=appointed_by, valid_from=valid_from,
                            valid_until=valid_until, account=account,
                            account_bidx=blind_index(account, "account") if account else None,
                            account_last4=last4(account), bank_id=bank_id, department_id=department_id)
    db.session.add(appt)
    access.flush_or_conflict("该被代管人已有有效的代管代持，请先撤销原指定", code="appointment_exists",
                             field="ward_id_number")
    audit.record("proxy.appointed", actor=actor, entity_type="proxy_appointment", entity_id=appt.id,
                 after=snapshot(appt))
    if commit:
        db.session.commit()
        events.publish([events.PayeeChange("proxy_appointed", (ward.id,), actor, appointment_id=appt.id)])
    return appt


def revoke_loaded(actor: Actor, appt: ProxyAppointment, *, reason: str, on: date | None = None
                  ) -> events.PayeeChange:
    """End an appointment (no permission check: callers have done it). Its last valid day is ``on``."""
    before = snapshot(appt)
    on = on or local_today()
    appt.revoked_at, appt.revoke_reason = utcnow(), reason[:200]
    appt.valid_until = max(min(on, appt.valid_until) if appt.valid_until else on, appt.valid_from)
    db.session.flush()
    audit.record("proxy.revoked", actor=actor, entity_type="proxy_appointment", entity_id=appt.id, before=before,
                 after=snapshot(appt), note=reason)
    return events.PayeeChange("proxy_revoked", (appt.resident_id,), actor, appointment_id=appt.id)


def _load(actor: Actor, appointment_id: int, *, manage: bool) -> ProxyAppointment:
    permissions.require(actor, "proxy.manage" if manage else "people.read")
    appt = db.session.get(ProxyAppointment, appointment_id)
    if appt is None or not _visible(actor, appt):
        raise NotFound("代管代持记录不存在", code="appointment_not_found")
    return appt


def _visible(actor: Actor, appt: ProxyAppointment) -> bool:
    if actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer"):
        code = db.session.execute(sa.select(Department.code).where(Department.id == actor.department_id)).scalar()
        return appt.department_id == actor.department_id or code in _issuer_codes(appt.category)
    ward = db.session.get(Resident, appt.resident_id)
    return access.sees(actor, ward.town_id, ward.village_id)


def revoke(actor: Actor, appointment_id: int, values: dict, *, commit: bool = True) -> ProxyAppointment:
    """Revoke an appointment (``reason``; ``on``: last valid day, default today)."""
    appt = _load(actor, appointment_id, manage=True)
    if actor.kind == "staff" and actor.role == "dept_operator" \
            and access.department_code(actor) not in _issuer_codes(appt.category):
        raise Forbidden(f"本部门不负责{CATEGORIES[appt.category]}的代管代持", code="forbidden_department")
    if appt.revoked_at is not None:
        raise Conflict("该代管代持已撤销", code="already_revoked")
    reason = normalize_text(values.get("reason"), field="reason", max_len=200, label="撤销原因")
    on = parse_date(values["on"], field="on") if values.get("on") not in (None, "") else None
    change = revoke_loaded(actor, appt, reason=reason, on=on)
    if commit:
        db.session.commit()
        events.publish([change])
    return appt


def get_appointment(actor: Actor, appointment_id: int) -> ProxyAppointment:
    return _load(actor, appointment_id, manage=False)


def list_appointments(actor: Actor, *, ward_id_number: str | None = None, live_only: bool = False,
                      page: int = 1, per_page: int = 50) -> tuple[list[ProxyAppointment], int]:
    permissions.require(actor, "people.read")
    stmt = (sa.select(ProxyAppointment).join(Resident, Resident.id == ProxyAppointment.resident_id)
            .where(access.scope_where(actor, Resident.town_id, Resident.village_id)))
    if actor.kind == "staff" and actor.role in ("dept_operator", "dept_reviewer"):
        code = access.department_code(actor)
        mine = [c for c in [*groups.ISSUERS, "minor"] if code in _issuer_codes(c)]
        stmt = stmt.where(sa.or_(ProxyAppointment.department_id == actor.department_id,
                                 ProxyAppointment.category.in_(mine)))
    if ward_id_number:
        stmt = stmt.where(ProxyAppointment.resident_id == resident_by_id_number(ward_id_number,
                                                                                field="ward_id_number").id)
    if live_only:
        stmt = stmt.where(ProxyAppointment.revoked_at.is_(None))
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(ProxyAppointment.id.desc()).limit(per_page)
                              .offset((page - 1) * per_page)).scalars().all()
    return rows, total


PROXIES_SHEET = SheetSpec(
    sheet_name="代管代持登记",
    columns={"被代管人身份证号": "ward_id_number", "被代管人姓名": "ward_name", "代管人身份证号": "proxy_id_number",
             "代管人姓名": "proxy_name", "群体类别": "category", "法律依据": "legal_basis", "指定机关": "appointed_by",
             "起始日期": "valid_from", "截止日期": "valid_until", "收款账号": "account", "开户银行": "bank"},
    required=("被代管人身份证号", "被代管人姓名", "代管人身份证号", "代管人姓名", "法律依据", "指定机关", "起始日期"),
    aliases={"类别": "群体类别", "依据文书": "法律依据", "文书编号": "法律依据", "指定单位": "指定机关",
             "账号": "收款账号", "银行": "开户银行", "开户行": "开户银行"},
    masked={"ward_id_number": "id", "proxy_id_number": "id", "account": "account"},
    example=("370831195001011234", "张三", "370831197501011235", "张四", "低保户", "（2026）鲁0831民特1号",
             "泗水县人民法院", "2026-01-01", "", "", ""),
)


def import_appointments(actor: Actor, data, filename: str) -> dict:
    """Appointments from a spreadsheet, each checked as one ``appoint``; all or nothing."""
    permissions.require(actor, "proxy.manage")
    made: list[ProxyAppointment] = []

    def apply(row_no: int, values: dict) -> None:
        made.append(appoint(actor, values, commit=False))

    import_rows(PROXIES_SHEET, data, filename, apply)
    db.session.commit()
    events.publish([events.PayeeChange("proxy_appointed", (a.resident_id,), actor, appointment_id=a.id)
                    for a in made])
    return {"appointed": len(made)}
