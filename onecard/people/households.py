"""Households (户) and their head (户主), with the history of who belonged when.

Per-household money (到户资金) goes to the head's card, so who the head is must be right and its changes
traceable. Every membership is a ``HouseholdMembership`` period; the operations below end and start periods
and keep the current view (``Resident.household_id``, ``Resident.relation_to_head``, ``Household.head_id``)
in step:

* ``create_household``: a new 户 with its members, exactly one of them 户主;
* ``add_member`` (moves in, born), ``remove_member`` (moves out; the head only as the last member);
* ``change_head``: another live member becomes head (after the head died or moved out, or by family choice);
* ``split_household`` (分户): some members form a new household with one of them as head;
* ``import_households``: one row per member, grouped by 户号, all or nothing.

Households created before memberships were recorded (the demo) get their history started on first change.
Each operation returns the payee changes it caused and publishes them after commit (``onecard.people.events``).
"""
from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.db import bulk_insert
from onecard.errors import Conflict, DomainError, Invalid, NotFound
from onecard.extensions import db
from onecard.imports import SheetSpec, import_rows
from onecard.people import access, events, residents
from onecard.people.models import HEAD, Household, HouseholdMembership, Resident
from onecard.people.residents import _place, ensure_resident, registrable_name, resident_by_id_number
from onecard.privacy import mask_name
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import normalize_id_number, normalize_text, parse_date

_CODE_RE = re.compile(r"[0-9A-Za-z-]{1,20}")
HEAD_WORDS = {"户主", "本人", "户主本人"}


# ---------------------------------------------------------------- rules beneath
def normalize_code(value: object, *, field: str = "code") -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(str(value if value is not None else "").split())
    if not text:
        raise Invalid("户号不能为空", code="household_code_required", field=field)
    if not _CODE_RE.fullmatch(text):
        raise Invalid("户号只能由数字和字母组成，最多20位", code="household_code_format", field=field)
    return text


def normalize_relation(value: object, *, field: str = "relation") -> str:
    text = normalize_text(value, field=field, max_len=10, label="与户主关系")
    return HEAD if text in HEAD_WORDS else text


def _day(value: object, field: str) -> date:
    day = local_today() if value in (None, "") else parse_date(value, field=field)
    if day > local_today():
        raise Invalid("日期不能晚于今天", code="date_future", field=field)
    return day


def live_memberships(household_id: int) -> list[HouseholdMembership]:
    return db.session.execute(sa.select(HouseholdMembership).where(
        HouseholdMembership.household_id == household_id, HouseholdMembership.until.is_(None))
        .order_by(HouseholdMembership.id)).scalars().all()


def member_ids(household: Household) -> tuple[int, ...]:
    """The live members' resident ids (the beneficiaries whose per-household payee is the head)."""
    return tuple(db.session.execute(sa.select(Resident.id).where(Resident.household_id == household.id)
                                    .order_by(Resident.id)).scalars())


def _ensure_memberships(household: Household) -> None:
    """Start the history of a household recorded before memberships were (the demo's): one period per current
    member from the household's creation."""
    have = {m.resident_id for m in live_memberships(household.id)}
    since = household.created_at.date() if household.created_at else local_today()
    for rid, relation in db.session.execute(sa.select(Resident.id, Resident.relation_to_head)
                                            .where(Resident.household_id == household.id)):
        if rid not in have:
            db.session.add(HouseholdMembership(
                household_id=household.id, resident_id=rid,
                relation=HEAD if rid == household.head_id else (relation if relation and relation != HEAD else "其他"),
                since=min(since, local_today()), start_reason="历史登记"))
    db.session.flush()


def _live_of(resident: Resident) -> HouseholdMembership | None:
    return db.session.execute(sa.select(HouseholdMembership).where(
        HouseholdMembership.resident_id == resident.id, HouseholdMembership.until.is_(None))).scalars().first()


def end_membership(resident: Resident, household: Household, *, on: date, reason: str) -> None:
    """End the resident's live period in ``household`` (moved out, died, split off); a head leaves it headless."""
    _ensure_memberships(household)
    live = _live_of(resident)
    if live is not None:
        live.until = max(on, live.since)
        live.end_reason = reason
    if household.head_id == resident.id:
        household.head_id = None
    resident.household_id = None
    resident.relation_to_head = None
    db.session.flush()


def _start_membership(resident: Resident, household: Household, relation: str, *, on: date, reason: str) -> None:
    db.session.add(HouseholdMembership(household_id=household.id, resident_id=resident.id, relation=relation,
                                       since=on, start_reason=reason))
    resident.household_id = household.id
    resident.relation_to_head = relation
    if relation == HEAD:
        household.head_id = resident.id
    # Two clerks moving one person into two households at once: the live-membership index refuses one.
    access.flush_or_conflict("该居民或该户的户主刚被他人登记，请刷新后重试", code="membership_conflict")


def _check_joinable(resident, *, field: str, moving_from: int | None = None, code_of=None) -> None:
    """A dead resident joins no household, nor a member of another (``resident``: a Resident or
    ``residents.Known``; ``code_of(household_id)`` gives the other household's code when already loaded)."""
    if resident.deceased_on is not None:
        raise Invalid(f"该居民已于{resident.deceased_on}登记死亡", code="resident_deceased", field=field)
    if resident.household_id is not None and resident.household_id != moving_from:
        code = code_of(resident.household_id) if code_of else db.session.get(Household, resident.household_id).code
        raise Conflict(f"该居民已是户号{code}的成员，请先在原户办理迁出", code="already_member", field=field)


def snapshot(h: Household) -> dict:
    return _snapshot(h.code, h.town_id, h.village_id, h.address, h.head_id,
                     [(m.resident_id, m.relation) for m in live_memberships(h.id)])


def _snapshot(code: str, town_id: int, village_id: int | None, address: str | None, head_id: int | None,
              members: list[tuple[int, str]]) -> dict:
    return {"code": code, "town_id": town_id, "village_id": village_id, "address": address, "head_id": head_id,
            "members": [{"resident_id": rid, "relation": relation} for rid, relation in members]}


def _load(actor: Actor, household_id: int, *, manage: bool) -> Household:
    permissions.require(actor, "household.manage" if manage else "people.read")
    household = db.session.get(Household, household_id)
    if household is None or not access.sees(actor, household.town_id, household.village_id):
        raise NotFound("家庭户不存在", code="household_not_found")
    if manage:
        access.require_department_in(actor, access.HOUSEHOLD_KEEPERS, "家庭户登记")
        access.require_town(actor, household.town_id)
    return household


def _member(household: Household, value: object, *, field: str) -> Resident:
    """A live member of ``household`` given by resident id or ID number."""
    if isinstance(value, int):
        resident = db.session.get(Resident, value)
    else:
        resident = resident_by_id_number(value, field=field)
    if resident is None or resident.household_id != household.id:
        raise Invalid("该居民不是本户的现有成员", code="not_member", field=field)
    return resident


def _finish(actor: Actor, action: str, household: Household, before: dict | None, changes, commit: bool,
            note: str | None = None) -> None:
    db.session.flush()
    audit.record(action, actor=actor, entity_type="household", entity_id=household.id, before=before,
                 after=snapshot(household), note=note)
    if commit:
        db.session.commit()
        events.publish(changes)


# ---------------------------------------------------------------- use cases
def create_household(actor: Actor, values: dict, *, commit: bool = True) -> tuple[Household, list]:
    """Register a household: code (户号), town/village, address, and members (each ``id_number``, ``relation``,
    ``name`` — a member not registered yet is registered minimally with the household's town and village).
    Exactly one member is 户主. Refuses a code in use, a member of another live household, a dead member."""
    permissions.require(actor, "household.manage")
    access.require_department_in(actor, access.HOUSEHOLD_KEEPERS, "家庭户登记")
    code = normalize_code(values.get("code"))
    if db.session.execute(sa.select(Household.id).where(Household.code == code)).first():
        raise Conflict("该户号已登记", code="household_code_taken", field="code")
    town, village = _place(values)
    access.require_town(actor, town.id, field="town_id" if values.get("town_id") is not None else "town")
    members = values.get("members") or []
    if not members:
        raise Invalid("请至少登记户主一人", code="members_required", field="members")
    relations = [normalize_relation(m.get("relation"), field=f"members.{i}.relation") for i, m in enumerate(members)]
    if relations.count(HEAD) != 1:
        raise Invalid("每户应有且只有一位户主（与户主关系填“户主”）", code="one_head", field="members")
    since = _day(values.get("since"), "since")
    address = normalize_text(values.get("address"), field="address", max_len=200, required=False, label="地址")
    people: list[Resident] = []
    for i, member in enumerate(members):
        resident, _ = ensure_resident(actor, {"id_number": member.get("id_number"), "name": member.get("name"),
                                              "town_id": town.id, "village_id": village.id if village else None},
                                      id_field="id_number", name_field="name")
        _check_joinable(resident, field=f"members.{i}.id_number")
        if resident in people:
            raise Invalid("同一人在本户中重复登记", code="duplicate_member", field=f"members.{i}.id_number")
        people.append(resident)
    household = Household(code=code, town_id=town.id, village_id=village.id if village else None, address=address)
    db.session.add(household)
    db.session.flush()
    for resident, relation in zip(people, relations, strict=True):
        _start_membership(resident, household, relation, on=since, reason=values.get("reason") or "建户登记")
    changes = [events.PayeeChange("head_registered", member_ids(household), actor, household_id=household.id)]
    _finish(actor, "household.created", household, None, changes, commit)
    return household, changes


def add_member(actor: Actor, household_id: int, values: dict, *, commit: bool = True) -> Household:
    """A resident moves in (or is born): ``id_number``, ``name`` (for someone not registered yet),
    ``relation`` (not 户主: use change_head), ``since``, ``reason``."""
    household = _load(actor, household_id, manage=True)
    _ensure_memberships(household)
    relation = normalize_relation(values.get("relation"))
    if relation == HEAD:
        raise Invalid("新成员不能直接登记为户主：请先迁入，再变更户主", code="head_via_change", field="relation")
    resident, _ = ensure_resident(actor, {"id_number": values.get("id_number"), "name": values.get("name"),
                                          "town_id": household.town_id, "village_id": household.village_id})
    _check_joinable(resident, field="id_number")
    before = snapshot(household)
    _start_membership(resident, household, relation, on=_day(values.get("since"), "since"),
                      reason=values.get("reason") or "迁入")
    changes = [events.PayeeChange("head_registered", (resident.id,), actor, household_id=household.id)] \
        if household.head_id else []
    _finish(actor, "household.member_added", household, before, changes, commit)
    return household


def remove_member(actor: Actor, household_id: int, values: dict, *, commit: bool = True) -> Household:
    """A member moves out (``member``: resident id or ID number, ``on``, ``reason``). The head may leave only
    as the last member: otherwise change the head first."""
    household = _load(actor, household_id, manage=True)
    _ensure_memberships(household)
    resident = _member(household, values.get("member"), field="member")
    if household.head_id == resident.id and len(member_ids(household)) > 1:
        raise Conflict("户主迁出前请先变更户主", code="head_must_change_first", field="member")
    reason = normalize_text(values.get("reason") or "迁出", field="reason", max_len=100, label="原因")
    before = snapshot(household)
    end_membership(resident, household, on=_day(values.get("on"), "on"), reason=reason)
    _finish(actor, "household.member_removed", household, before, [], commit, note=reason)
    return household


def change_head(actor: Actor, household_id: int, values: dict, *, commit: bool = True) -> tuple[Household, list]:
    """Another live member becomes 户主 (``new_head``: resident id or ID number, ``on``, ``reason``). A former
    head still in the household takes ``former_head_relation`` (required then)."""
    household = _load(actor, household_id, manage=True)
    _ensure_memberships(household)
    new_head = _member(household, values.get("new_head"), field="new_head")
    if household.head_id == new_head.id:
        raise Invalid("该成员已是户主", code="already_head", field="new_head")
    on = _day(values.get("on"), "on")
    reason = normalize_text(values.get("reason") or "变更户主", field="reason", max_len=100, label="原因")
    before = snapshot(household)
    old_head = db.session.get(Resident, household.head_id) if household.head_id else None
    if old_head is not None:
        relation = normalize_relation(values.get("former_head_relation"), field="former_head_relation")
        if relation == HEAD:
            raise Invalid("原户主的新关系不能是户主", code="one_head", field="former_head_relation")
        end_membership(old_head, household, on=on, reason=reason)
        _start_membership(old_head, household, relation, on=on, reason=reason)
    end_membership(new_head, household, on=on, reason=reason)
    _start_membership(new_head, household, HEAD, on=on, reason=reason)
    changes = [events.PayeeChange("head_registered", member_ids(household), actor, household_id=household.id)]
    _finish(actor, "household.head_changed", household, before, changes, commit, note=reason)
    return household, changes


def split_household(actor: Actor, household_id: int, values: dict, *, commit: bool = True
                    ) -> tuple[Household, list]:
    """分户: ``members`` (each ``member`` id or ID number and ``relation`` in the new household, one 户主)
    leave for a new household ``code`` (same town; ``village_id``/``address`` optional). The old head stays:
    to split the head off, change the head first."""
    old = _load(actor, household_id, manage=True)
    _ensure_memberships(old)
    code = normalize_code(values.get("code"))
    if db.session.execute(sa.select(Household.id).where(Household.code == code)).first():
        raise Conflict("该户号已登记", code="household_code_taken", field="code")
    members = values.get("members") or []
    if not members:
        raise Invalid("请选择分出的成员", code="members_required", field="members")
    movers: list[tuple[Resident, str]] = []
    for i, m in enumerate(members):
        resident = _member(old, m.get("member"), field=f"members.{i}.member")
        if resident.id == old.head_id:
            raise Invalid("原户主不能分出：请先变更原户的户主", code="head_cannot_split", field=f"members.{i}.member")
        if any(r.id == resident.id for r, _ in movers):
            raise Invalid("同一成员重复选择", code="duplicate_member", field=f"members.{i}.member")
        movers.append((resident, normalize_relation(m.get("relation"), field=f"members.{i}.relation")))
    if [rel for _, rel in movers].count(HEAD) != 1:
        raise Invalid("新户应有且只有一位户主", code="one_head", field="members")
    village_id = values.get("village_id", old.village_id)
    place_values = {"town_id": old.town_id, "village_id": village_id}
    _, village = _place(place_values)
    on = _day(values.get("on"), "on")
    reason = normalize_text(values.get("reason") or "分户", field="reason", max_len=100, label="原因")
    before_old = snapshot(old)
    new = Household(code=code, town_id=old.town_id, village_id=village.id if village else None,
                    address=normalize_text(values.get("address") or old.address, field="address", max_len=200,
                                           required=False, label="地址"))
    db.session.add(new)
    db.session.flush()
    for resident, relation in movers:
        end_membership(resident, old, on=on, reason=f"{reason}（分至户号{code}）")
        _start_membership(resident, new, relation, on=on, reason=f"{reason}（由户号{old.code}分出）")
    audit.record("household.split", actor=actor, entity_type="household", entity_id=old.id, before=before_old,
                 after=snapshot(old), note=f"{reason}：分出户号{code}")
    changes = [events.PayeeChange("head_registered", member_ids(new), actor, household_id=new.id)]
    _finish(actor, "household.created", new, None, changes, commit, note=f"由户号{old.code}分户")
    return new, changes


def get_household(actor: Actor, household_id: int) -> Household:
    return _load(actor, household_id, manage=False)


def history(actor: Actor, household_id: int) -> list[HouseholdMembership]:
    """Every membership period of the household, oldest first."""
    household = _load(actor, household_id, manage=False)
    return db.session.execute(sa.select(HouseholdMembership).where(HouseholdMembership.household_id == household.id)
                              .order_by(HouseholdMembership.since, HouseholdMembership.id)).scalars().all()


def list_households(actor: Actor, *, code: str | None = None, town_id: int | None = None,
                    village_id: int | None = None, head_id_number: str | None = None, without_head: bool = False,
                    page: int = 1, per_page: int = 50) -> tuple[list[Household], int]:
    """Households in the actor's scope; by code prefix, place, head's ID number, or those waiting for a head."""
    permissions.require(actor, "people.read")
    stmt = sa.select(Household).where(access.scope_where(actor, Household.town_id, Household.village_id))
    if code:
        stmt = stmt.where(Household.code.startswith(code.strip(), autoescape=True))
    if town_id is not None:
        stmt = stmt.where(Household.town_id == town_id)
    if village_id is not None:
        stmt = stmt.where(Household.village_id == village_id)
    if head_id_number:
        head = resident_by_id_number(head_id_number, field="head_id_number")
        stmt = stmt.where(Household.head_id == head.id)
    if without_head:
        stmt = stmt.where(Household.head_id.is_(None))
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(Household.code).limit(per_page).offset((page - 1) * per_page)
                              ).scalars().all()
    return rows, total


def members_of(household: Household) -> list[Resident]:
    return db.session.execute(sa.select(Resident).where(Resident.household_id == household.id)
                              .order_by(Resident.relation_to_head != HEAD, Resident.id)).scalars().all()


# ---------------------------------------------------------------- import
HOUSEHOLDS_SHEET = SheetSpec(
    sheet_name="家庭户成员",
    columns={"户号": "code", "户主身份证号": "head_id_number", "与户主关系": "relation", "姓名": "name",
             "身份证号": "id_number", "镇街": "town", "村（社区）": "village", "地址": "address"},
    required=("户号", "姓名", "身份证号", "镇街"),
    aliases={"公民身份号码": "身份证号", "身份证号码": "身份证号", "户主公民身份号码": "户主身份证号",
             "关系": "与户主关系", "乡镇（街道）": "镇街", "乡镇": "镇街", "村": "村（社区）", "村(居)": "村（社区）",
             "家庭住址": "地址", "住址": "地址"},
    masked={"id_number": "id", "head_id_number": "id"},
    example=("37083110020100001", "", "户主", "张三", "370831195001011234", "泉林镇", "", "泉林镇某村1号"),
)


def import_households(actor: Actor, data, filename: str) -> dict:
    """One row per member, grouped by 户号 into new households. The head is the row whose 与户主关系 is 户主
    (or whose 身份证号 is the group's 户主身份证号). Members not registered yet are registered minimally.
    All or nothing; each bad row named with its column.

    A county's first day is 200,000 households in one file, so the rows are checked against what ``prepare``
    loads for the whole file (taken codes, registered members, their households' codes) and written set-based
    after the checks (households, new residents, memberships, audit entries): the same rules and records as
    ``create_household`` and ``ensure_resident`` one by one, in a few statements."""
    permissions.require(actor, "household.manage")
    access.require_department_in(actor, access.HOUSEHOLD_KEEPERS, "家庭户登记")
    taken: set[str] = set()                    # codes already registered
    known: dict[str, residents.Known] = {}     # registered members, by ID number
    codes_of: dict[int, str] = {}              # their households' codes
    places: dict[tuple, tuple[int, int | None]] = {}
    pending: dict[str, dict] = {}              # members to register, by ID number
    groups: dict[str, dict] = {}
    incomplete: set[str] = set()      # households with a bad row: their head is not checked again
    seen_people: dict[str, int] = {}

    def prepare(rows: list[tuple[int, dict]]) -> None:
        codes, id_numbers = set(), set()
        for _row_no, values in rows:
            for normalize, key, into in ((normalize_code, "code", codes), (normalize_id_number, "id_number",
                                                                           id_numbers)):
                try:
                    into.add(normalize(values.get(key)))
                except DomainError:
                    pass    # reported when the row is applied
        code_list = list(codes)
        for start in range(0, len(code_list), 2000):
            taken.update(db.session.execute(sa.select(Household.code).where(
                Household.code.in_(code_list[start:start + 2000]))).scalars())
        known.update(residents.known_by_id_number(id_numbers))
        ids = list({k.household_id for k in known.values() if k.household_id is not None})
        for start in range(0, len(ids), 2000):
            codes_of.update(db.session.execute(sa.select(Household.id, Household.code).where(
                Household.id.in_(ids[start:start + 2000]))).all())

    def place_of(values: dict) -> tuple[int, int | None]:
        key = (values.get("town"), values.get("village"))
        if key not in places:
            town, village = _place({"town": key[0], "village": key[1]})
            places[key] = (town.id, village.id if village else None)
        return places[key]

    def apply(row_no: int, values: dict) -> None:
        code = normalize_code(values.get("code"))
        try:
            add_row(row_no, code, values)
        except DomainError:
            incomplete.add(code)
            raise

    def add_row(row_no: int, code: str, values: dict) -> None:
        if code in taken:
            raise Conflict("该户号已登记，增减成员请在家庭户页面逐项办理", code="household_code_taken", field="code")
        town_id, village_id = place_of(values)
        access.require_town(actor, town_id, field="town")
        group = groups.setdefault(code, {"first_row": row_no, "town_id": town_id, "village_id": village_id,
                                         "address": values.get("address"), "head_id_number": None,
                                         "members": []})
        if town_id != group["town_id"]:
            raise Invalid(f"同一户的镇街应一致（见第{group['first_row']}行）", code="town_mismatch", field="town")
        id_number = normalize_id_number(values.get("id_number"), field="id_number")
        person = known.get(id_number) or pending.get(id_number)
        if person is None:    # registered as ensure_resident would, when the households are written
            person = pending[id_number] = {"name": registrable_name(actor, values.get("name")),
                                           "id_number": id_number, "town_id": town_id, "village_id": village_id}
        else:
            residents.check_same_name(person.name if isinstance(person, residents.Known) else person["name"],
                                      values.get("name"))
            if isinstance(person, residents.Known):
                _check_joinable(person, field="id_number", code_of=codes_of.__getitem__)
        if id_number in seen_people:
            raise Invalid(f"与第{seen_people[id_number]}行是同一人", code="duplicate_member", field="id_number")
        seen_people[id_number] = row_no
        head_value = values.get("head_id_number")
        if head_value not in (None, ""):
            head_id_number = normalize_id_number(head_value, field="head_id_number")
            if group["head_id_number"] not in (None, head_id_number):
                raise Invalid(f"同一户的户主身份证号应一致（见第{group['first_row']}行）", code="head_mismatch",
                              field="head_id_number")
            group["head_id_number"] = head_id_number
        if values.get("relation") not in (None, ""):
            relation = normalize_relation(values.get("relation"))
        elif head_value not in (None, ""):
            relation = HEAD if group["head_id_number"] == id_number else "其他"
        else:
            raise Invalid("请填写与户主关系，或填写户主身份证号", code="relation_required", field="relation")
        if relation == HEAD and any(m[2] == HEAD for m in group["members"]):
            first = next(m[0] for m in group["members"] if m[2] == HEAD)
            raise Invalid(f"一户只能有一位户主（第{first}行已是户主）", code="one_head", field="relation")
        group["members"].append((row_no, id_number, relation))

    def finish(report) -> None:
        for code, group in groups.items():
            if code in incomplete:
                continue
            heads = [m for m in group["members"] if m[2] == HEAD]
            if not heads:
                report(group["first_row"], "relation", f"户号{code}没有户主：请在户主的一行填写与户主关系“户主”")
            elif group["head_id_number"] is not None and heads[0][1] != group["head_id_number"]:
                report(heads[0][0], "head_id_number", f"户号{code}的户主身份证号与与户主关系为“户主”的成员不符")

    count = import_rows(HOUSEHOLDS_SHEET, data, filename, apply, prepare=prepare, finish=finish)
    changes = _write_imported(actor, groups, known, pending, f"家庭户导入：{filename}"[:500])
    db.session.commit()
    events.publish(changes)
    return {"households": len(groups), "members": count}


def _write_imported(actor: Actor, groups: dict[str, dict], known: dict, pending: dict, note: str) -> list:
    """The checked households of an import, written set-based: what ``create_household`` writes for each."""
    now, today = utcnow(), local_today()
    for group in groups.values():
        group["address"] = normalize_text(group["address"], field="address", max_len=200, required=False,
                                          label="地址")
    try:
        bulk_insert(Household.__table__, ("code", "town_id", "village_id", "address", "created_at"),
                    [(code, g["town_id"], g["village_id"], g["address"], now) for code, g in groups.items()],
                    convert=True)
        codes = list(groups)
        id_of: dict[str, int] = {}
        for start in range(0, len(codes), 2000):
            id_of.update(db.session.execute(sa.select(Household.code, Household.id).where(
                Household.code.in_(codes[start:start + 2000]))).all())
        for code, group in groups.items():
            for _row_no, id_number, relation in group["members"]:
                if id_number in pending:
                    pending[id_number].update(household_id=id_of[code], relation_to_head=relation)
        new_ids = residents.register_residents(actor, list(pending.values()))
        rid = {**{n: k.id for n, k in known.items()}, **new_ids}
        memberships, joined, heads, audits, changes = [], [], [], [], []
        for code, group in groups.items():
            hid = id_of[code]
            members = [(rid[id_number], relation) for _row_no, id_number, relation in group["members"]]
            head = next(r for r, relation in members if relation == HEAD)
            heads.append({"h": hid, "head": head})
            for resident_id, relation in members:
                memberships.append((hid, resident_id, relation, today, "导入建户", now))
            joined += [{"r": rid[n], "h": hid, "rel": rel} for _row, n, rel in group["members"] if n in known]
            audits.append({"action": "household.created", "entity_type": "household", "entity_id": hid, "note": note,
                           "after": _snapshot(code, group["town_id"], group["village_id"], group["address"], head,
                                              members)})
            changes.append(events.PayeeChange("head_registered", tuple(sorted(r for r, _ in members)), actor,
                                              household_id=hid))
        resident_table, household_table = Resident.__table__, Household.__table__
        if joined:
            db.session.execute(sa.update(resident_table).where(resident_table.c.id == sa.bindparam("r"))
                               .values(household_id=sa.bindparam("h"), relation_to_head=sa.bindparam("rel")), joined)
        bulk_insert(HouseholdMembership.__table__, ("household_id", "resident_id", "relation", "since",
                                                    "start_reason", "created_at"), memberships, convert=True)
        db.session.execute(sa.update(household_table).where(household_table.c.id == sa.bindparam("h"))
                           .values(head_id=sa.bindparam("head")), heads)
    except sa.exc.IntegrityError as exc:
        # Another clerk registered one of these codes or members meanwhile: the unique keys refuse the write.
        db.session.rollback()
        raise Conflict("该居民或该户的户主刚被他人登记，请刷新后重试", code="membership_conflict") from exc
    audit.record_many(audits, actor=actor)
    return changes


def describe(household: Household) -> str:
    head = db.session.get(Resident, household.head_id) if household.head_id else None
    return f"户号{household.code}（户主：{mask_name(head.name) if head else '待登记'}）"
