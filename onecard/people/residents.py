"""Residents (居民) outside the card registry, and deaths.

Most residents come from the card registry import (``onecard.registry``). Households, groups and proxies
reference people by 公民身份号码; someone with no card yet (a child, an elderly member never enrolled) is
registered here minimally: name, ID number (gender and birth date follow from it), town and village.
Household imports do the same for members not known yet (``ensure_resident``); the card registry later
finds them by the blind index and adds their card.

Deaths (from 民政/公安 notices or the card registry): ``record_death`` stores the date and the source
document, ends the person's household membership (a dead head leaves the household without a head, so its
per-household lines wait for a new head), and revokes proxy appointments where the person is the ward or
the proxy. Their own lines are held by the payment routing (``onecard.payments.routing``: deceased).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.db import bulk_insert
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.imports import SheetSpec, import_rows
from onecard.people import access, events
from onecard.people.models import Household, ProxyAppointment, Resident
from onecard.privacy import blind_index, blind_indexes, mask_id, mask_mobile, mask_name
from onecard.reference import places
from onecard.reference.models import Town, Village
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import (
    id_birth_date,
    id_birth_year,
    id_gender,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
    normalize_text,
    parse_date,
)

DEATH_SOURCES = {"minzheng": "民政部门通知", "police": "公安户籍注销", "registry": "社保卡数据库"}


def birth_date_of(resident: Resident) -> date:
    """A resident's birth date (the one place that knows where it is). Only the birth year is stored in clear
    (with the ID mask a full date would rebuild the number); the date is read from the decrypted ID."""
    return id_birth_date(resident.id_number)


def find_by_id_number(id_number: str) -> Resident | None:
    """The resident with this (normalised) ID number, found by its blind index."""
    return db.session.execute(sa.select(Resident).where(Resident.id_bidx.in_(blind_indexes(id_number, "id")))
                              ).scalars().first()


def resident_by_id_number(value: object, *, field: str = "id_number") -> Resident:
    """The registered resident with this ID number, or Invalid naming ``field``."""
    resident = find_by_id_number(normalize_id_number(value, field=field))
    if resident is None:
        raise Invalid("该身份证号的居民尚未登记，请先登记居民或家庭户", code="resident_unknown", field=field)
    return resident


def snapshot(r: Resident) -> dict:
    return {"name": r.name, "id_number": r.id_masked, "town_id": r.town_id, "village_id": r.village_id,
            "household_id": r.household_id, "relation_to_head": r.relation_to_head,
            "deceased_on": r.deceased_on.isoformat() if r.deceased_on else None}


def _place(values: dict) -> tuple[Town, Village | None]:
    """Town and village from ids (API) or names (sheets)."""
    if values.get("town_id") is not None:
        town = db.session.get(Town, values["town_id"])
        if town is None:
            raise Invalid("镇街不存在", code="town_unknown", field="town_id")
    else:
        town = places.resolve_town(values.get("town"), field="town")
    if values.get("village_id") is not None:
        village = db.session.get(Village, values["village_id"])
        if village is None or village.town_id != town.id:
            raise Invalid("该镇街下没有这个村（社区）", code="village_unknown", field="village_id")
    else:
        village = places.resolve_village(town, values.get("village"), field="village")
    return town, village


def register_resident(actor: Actor, values: dict, *, commit: bool = True) -> Resident:
    """Register a resident who is not in the card registry yet (name, ID number, town, village, mobile).
    Refuses an ID number already registered (409) and, for town staff, another town."""
    permissions.require(actor, "resident.register")
    name = normalize_name(values.get("name"))
    id_number = normalize_id_number(values.get("id_number"))
    if find_by_id_number(id_number) is not None:
        raise Conflict("该身份证号的居民已登记", code="resident_exists", field="id_number")
    town, village = _place(values)
    access.require_town(actor, town.id, field="town_id" if values.get("town_id") is not None else "town")
    mobile = normalize_mobile(values["mobile"]) if values.get("mobile") else None
    resident = Resident(name=name, id_number=id_number, id_bidx=blind_index(id_number, "id"),
                        id_masked=mask_id(id_number), gender=id_gender(id_number),
                        birth_year=id_birth_year(id_number), town_id=town.id,
                        village_id=village.id if village else None, mobile=mobile,
                        mobile_bidx=blind_index(mobile, "mobile") if mobile else None,
                        mobile_masked=mask_mobile(mobile) if mobile else None)
    db.session.add(resident)
    db.session.flush()
    audit.record("resident.registered", actor=actor, entity_type="resident", entity_id=resident.id,
                 after=snapshot(resident))
    if commit:
        db.session.commit()
    return resident


def ensure_resident(actor: Actor, values: dict, *, id_field: str = "id_number", name_field: str = "name"
                    ) -> tuple[Resident, bool]:
    """The resident with ``values[id_field]``; registered minimally (needs name, town) when unknown.
    Refuses a name that differs from the registered one. Returns (resident, created)."""
    id_number = normalize_id_number(values.get(id_field), field=id_field)
    resident = find_by_id_number(id_number)
    if resident is not None:
        check_same_name(resident.name, values.get(name_field), field=name_field)
        return resident, False
    if values.get(name_field) in (None, ""):
        raise Invalid("该身份证号的居民尚未登记，请填写姓名以便登记", code="resident_unknown", field=name_field)
    created = register_resident(actor, {"name": values.get(name_field), "id_number": id_number,
                                        **{k: values.get(k) for k in ("town", "village", "town_id", "village_id")}},
                                commit=False)
    return created, True


def check_same_name(registered: str, value: object, *, field: str = "name") -> None:
    """A name given for a registered resident must be theirs (a blank one claims nothing)."""
    if value not in (None, ""):
        if normalize_name(value, field=field) != registered:
            raise Invalid(f"姓名与已登记的“{mask_name(registered)}”不符，请核对", code="name_mismatch", field=field)


# ---------------------------------------------------------------- many at once (imports)
@dataclass(frozen=True)
class Known:
    """What an import needs of a registered resident, without loading the entity."""
    id: int
    name: str
    household_id: int | None
    deceased_on: date | None


def known_by_id_number(id_numbers) -> dict[str, Known]:
    """The registered residents among these (normalised) ID numbers, by ID number: ``find_by_id_number`` for
    many, a few statements for a whole file (blind indexes under every key, as there)."""
    of_bidx = {b: n for n in set(id_numbers) for b in blind_indexes(n, "id")}
    bidxs = list(of_bidx)
    found: dict[str, Known] = {}
    for start in range(0, len(bidxs), _IN_CHUNK):
        for rid, name, bidx, household_id, deceased_on in db.session.execute(
                sa.select(Resident.id, Resident.name, Resident.id_bidx, Resident.household_id, Resident.deceased_on)
                .where(Resident.id_bidx.in_(bidxs[start:start + _IN_CHUNK]))):
            found.setdefault(of_bidx[bidx], Known(rid, name, household_id, deceased_on))
    return found


_IN_CHUNK = 2000   # values per IN (...): under SQLite's 32,766 variables, few round trips


def registrable_name(actor: Actor, value: object, *, field: str = "name") -> str:
    """The name to register someone unknown under, with ``ensure_resident``'s and ``register_resident``'s
    refusals (no name given, no right to register)."""
    if value in (None, ""):
        raise Invalid("该身份证号的居民尚未登记，请填写姓名以便登记", code="resident_unknown", field=field)
    permissions.require(actor, "resident.register")
    return normalize_name(value)


def register_residents(actor: Actor, people: list[dict]) -> dict[str, int]:
    """Register many residents at once, as ``register_resident`` each (``people``: checked ``name``,
    normalised ``id_number`` not registered, ``town_id``, ``village_id``, and the ``household_id`` and
    ``relation_to_head`` they join with), audited the same, in the caller's transaction. Returns their ids by
    ID number."""
    if not people:
        return {}
    now = utcnow()
    rows = [(p["name"], p["id_number"], blind_index(p["id_number"], "id"), mask_id(p["id_number"]),
             id_gender(p["id_number"]), id_birth_year(p["id_number"]), "01", p["town_id"], p["village_id"],
             p.get("household_id"), p.get("relation_to_head"), False, now, now) for p in people]
    bulk_insert(Resident.__table__, ("name", "id_number", "id_bidx", "id_masked", "gender", "birth_year",
                                     "ethnicity", "town_id", "village_id", "household_id", "relation_to_head",
                                     "sms_opt_out", "created_at", "updated_at"), rows, convert=True)
    ids: dict[str, int] = {}
    of_bidx = {r[2]: r[1] for r in rows}
    bidxs = list(of_bidx)
    for start in range(0, len(bidxs), _IN_CHUNK):
        ids.update((of_bidx[b], rid) for b, rid in db.session.execute(
            sa.select(Resident.id_bidx, Resident.id).where(Resident.id_bidx.in_(bidxs[start:start + _IN_CHUNK]))))
    # Audited as registered before joining (what register_resident then the membership would record).
    audit.record_many([{"action": "resident.registered", "entity_type": "resident", "entity_id": ids[p["id_number"]],
                        "after": snapshot(SimpleNamespace(
                            name=p["name"], id_masked=mask_id(p["id_number"]), town_id=p["town_id"],
                            village_id=p["village_id"], household_id=None, relation_to_head=None, deceased_on=None))}
                       for p in people], actor=actor)
    return ids


def get_resident(actor: Actor, resident_id: int) -> Resident:
    permissions.require(actor, "people.read")
    resident = db.session.get(Resident, resident_id)
    if resident is None or not access.sees(actor, resident.town_id, resident.village_id):
        raise NotFound("居民不存在", code="resident_not_found")
    return resident


def lookup_resident(actor: Actor, id_number: object) -> Resident:
    """Find a resident by ID number (blind index) within the actor's scope; the look-up is audited."""
    permissions.require(actor, "people.read")
    resident = find_by_id_number(normalize_id_number(id_number))
    if resident is None or not access.sees(actor, resident.town_id, resident.village_id):
        raise NotFound("未找到该身份证号的居民", code="resident_not_found")
    audit.record("resident.looked_up", actor=actor, entity_type="resident", entity_id=resident.id)
    db.session.commit()
    return resident


def list_residents(actor: Actor, *, town_id: int | None = None, village_id: int | None = None,
                   name: str | None = None, page: int = 1, per_page: int = 50) -> tuple[list[Resident], int]:
    """Residents in the actor's scope, by name (a prefix) and place; paged."""
    permissions.require(actor, "people.read")
    stmt = sa.select(Resident).where(access.scope_where(actor, Resident.town_id, Resident.village_id))
    if town_id is not None:
        stmt = stmt.where(Resident.town_id == town_id)
    if village_id is not None:
        stmt = stmt.where(Resident.village_id == village_id)
    if name:
        stmt = stmt.where(Resident.name.startswith(name.strip(), autoescape=True))
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(Resident.id).limit(per_page).offset((page - 1) * per_page)
                              ).scalars().all()
    return rows, total


# ---------------------------------------------------------------- deaths
@dataclass
class DeathResult:
    resident: Resident
    changed: bool
    headless_household_id: int | None = None
    revoked_appointment_ids: list[int] = field(default_factory=list)
    changes: list[events.PayeeChange] = field(default_factory=list)


def record_death(actor: Actor, values: dict, *, commit: bool = True) -> DeathResult:
    """Record a resident's death (date, source, document number). Idempotent for the same date; refuses a
    different date (a correction goes through the administrator), a date in the future or before birth.
    Ends the household membership (a head leaves the household headless: its lines wait for a new head) and
    revokes live proxy appointments where the person is the ward or the proxy."""
    from onecard.people import households, proxies
    permissions.require(actor, "death.record")
    access.require_department_in(actor, access.DEATH_RECORDERS, "登记死亡")
    if values.get("resident_id") is not None:
        resident = db.session.get(Resident, values["resident_id"])
        if resident is None:
            raise NotFound("居民不存在", code="resident_not_found")
    else:
        resident = resident_by_id_number(values.get("id_number"))
        if values.get("name") not in (None, "") and normalize_name(values["name"]) != resident.name:
            raise Invalid(f"姓名与已登记的“{mask_name(resident.name)}”不符，请核对", code="name_mismatch", field="name")
    died_on = parse_date(values.get("died_on"), field="died_on")
    if died_on > local_today():
        raise Invalid("死亡日期不能晚于今天", code="died_on_future", field="died_on")
    if died_on < birth_date_of(resident):
        raise Invalid("死亡日期早于出生日期", code="died_on_before_birth", field="died_on")
    source = values.get("source")
    source = {v: k for k, v in DEATH_SOURCES.items()}.get(source, source)
    if source not in DEATH_SOURCES:
        raise Invalid("来源应为：" + "、".join(DEATH_SOURCES.values()), code="death_source", field="source")
    document = normalize_text(values.get("document"), field="document", max_len=100, label="文书编号")
    if resident.deceased_on is not None:
        if resident.deceased_on == died_on:
            return DeathResult(resident, False)
        if not (actor.kind == "system" or actor.role == "admin"):
            raise Conflict(f"该居民已登记于{resident.deceased_on}死亡；日期更正请联系人社局管理员",
                           code="death_already_recorded", field="died_on")
    before = snapshot(resident)
    resident.deceased_on, resident.death_source, resident.death_document = died_on, source, document
    result = DeathResult(resident, True)
    household_id = resident.household_id
    if household_id is not None:
        household = db.session.get(Household, household_id)
        was_head = household.head_id == resident.id
        households.end_membership(resident, household, on=died_on, reason="死亡")
        if was_head:
            result.headless_household_id = household.id
            result.changes.append(events.PayeeChange("head_lost", households.member_ids(household), actor,
                                                     household_id=household.id))
    live = db.session.execute(sa.select(ProxyAppointment).where(
        ProxyAppointment.revoked_at.is_(None),
        sa.or_(ProxyAppointment.resident_id == resident.id, ProxyAppointment.proxy_resident_id == resident.id))
    ).scalars().all()
    for appt in live:
        reason = "被代管人死亡" if appt.resident_id == resident.id else "代管人死亡"
        result.changes.append(proxies.revoke_loaded(actor, appt, reason=reason, on=died_on))
        result.revoked_appointment_ids.append(appt.id)
    result.changes.append(events.PayeeChange("resident_deceased", (resident.id,), actor))
    db.session.flush()
    audit.record("resident.deceased", actor=actor, entity_type="resident", entity_id=resident.id, before=before,
                 after={**snapshot(resident), "source": source, "document": document},
                 note=f"登记死亡：{DEATH_SOURCES[source]}")
    if commit:
        db.session.commit()
        events.publish(result.changes)
    return result


DEATHS_SHEET = SheetSpec(
    sheet_name="死亡登记",
    columns={"身份证号": "id_number", "姓名": "name", "死亡日期": "died_on", "来源": "source", "文书编号": "document"},
    required=("身份证号", "姓名", "死亡日期", "文书编号"),
    aliases={"公民身份号码": "身份证号", "身份证号码": "身份证号", "死亡时间": "死亡日期", "信息来源": "来源",
             "死亡证明编号": "文书编号", "文号": "文书编号"},
    masked={"id_number": "id"},
    example=("370831195001011234", "张三", "2026-11-05", "民政部门通知", "泗民殡〔2026〕12号"),
)


def import_deaths(actor: Actor, data, filename: str, *, default_source: str = "minzheng") -> dict:
    """Deaths from a notice list (民政/公安): all or nothing; a row already recorded with the same date is
    counted, not refused."""
    permissions.require(actor, "death.record")
    access.require_department_in(actor, access.DEATH_RECORDERS, "登记死亡")
    counts = {"recorded": 0, "unchanged": 0}
    changes: list[events.PayeeChange] = []

    def apply(row_no: int, values: dict) -> None:
        result = record_death(actor, {**values, "source": values.get("source") or default_source}, commit=False)
        counts["recorded" if result.changed else "unchanged"] += 1
        changes.extend(result.changes)

    import_rows(DEATHS_SHEET, data, filename, apply)
    db.session.commit()
    events.publish(changes)
    return counts
