"""The county's towns (镇街) and villages (村（社区）): kept by the bureau administrator.

Codes are the 12-digit 统计用区划代码 of the national statistics table: 6 digits of the county, 3 of the
town (乡级), 3 of the village (村级). A town's code ends in 000; a village's town is the town whose code
shares its first 9 digits. The table's own layout imports as is (统计用区划代码 | 城乡分类代码 | 名称; a
county or town page, or both pasted into one sheet): a code already known is renamed, a new one is added.
Every change is audited.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.imports import SheetSpec, import_rows
from onecard.reference.data import COUNTY_AREA_CODE
from onecard.reference.models import Town, Village
from onecard.staff import permissions

permissions.register({"place.manage": {"admin"}})

_CODE_RE = re.compile(r"\d{12}")
_URBAN_RURAL_RE = re.compile(r"[12]\d\d")
TOWN_SUFFIXES = ("镇", "街道", "乡", "街道办事处")


def normalize_code(value: object, *, field: str = "code") -> str:
    """A 12-digit statistics code of this county (a number cell keeps its 12 digits: 12 < 15 significant)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(str(value if value is not None else "").split())
    if not text:
        raise Invalid("统计用区划代码不能为空", code="code_required", field=field)
    if not _CODE_RE.fullmatch(text):
        raise Invalid("统计用区划代码应为12位数字", code="code_format", field=field)
    if not text.startswith(COUNTY_AREA_CODE):
        raise Invalid(f"不是本县（{COUNTY_AREA_CODE}）的区划代码", code="code_other_county", field=field)
    return text


def _name(value: object, *, field: str = "name") -> str:
    text = "".join(str(value if value is not None else "").split())
    if not text:
        raise Invalid("名称不能为空", code="name_required", field=field)
    if len(text) > 40:
        raise Invalid("名称最多40个字", code="name_too_long", field=field)
    return text


def _urban_rural(value: object) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not _URBAN_RURAL_RE.fullmatch(text):
        raise Invalid("城乡分类代码应为3位数字（如111、220）", code="urban_rural_code", field="urban_rural_code")
    return text


def _town_snapshot(t: Town) -> dict:
    return {"code": t.code, "name": t.name}


def _village_snapshot(v: Village) -> dict:
    return {"code": v.code, "name": v.name, "town_id": v.town_id, "urban_rural_code": v.urban_rural_code}


def _town_by_prefix(code: str) -> Town | None:
    return db.session.execute(sa.select(Town).where(sa.func.substr(Town.code, 1, 9) == code[:9])).scalars().first()


def save_town(actor: Actor, values: dict, *, town_id: int | None = None, commit: bool = True) -> Town:
    """Add a town (code and name) or rename/re-code one. Refuses a village code, another county's code,
    and a name or township code another town already has."""
    permissions.require(actor, "place.manage")
    town = None
    if town_id is not None:
        town = db.session.get(Town, town_id)
        if town is None:
            raise NotFound("镇街不存在", code="town_not_found")
    code = normalize_code(values["code"]) if values.get("code") is not None else (town.code if town else None)
    if code is None:
        raise Invalid("统计用区划代码不能为空", code="code_required", field="code")
    if code[6:9] == "000" or code[9:] != "000":
        raise Invalid("镇街的统计用区划代码应为本县代码+3位乡级代码+000", code="code_not_town", field="code")
    name = _name(values["name"]) if values.get("name") is not None else (town.name if town else None)
    if name is None:
        raise Invalid("名称不能为空", code="name_required", field="name")
    same_code = _town_by_prefix(code)
    if same_code is not None and same_code is not town:
        raise Conflict(f"代码{code}已是“{same_code.name}”", code="town_code_taken", field="code")
    same_name = db.session.execute(sa.select(Town).where(Town.name == name)).scalars().first()
    if same_name is not None and same_name is not town:
        raise Conflict(f"已有镇街“{name}”", code="town_name_taken", field="name")
    before = _town_snapshot(town) if town else None
    if town is None:
        town = Town(code=code, name=name)
        db.session.add(town)
    else:
        town.code, town.name = code, name
    db.session.flush()
    after = _town_snapshot(town)
    if before != after:
        audit.record("town.created" if before is None else "town.updated", actor=actor, entity_type="town",
                     entity_id=town.id, before=before, after=after)
    if commit:
        db.session.commit()
    return town


def save_village(actor: Actor, values: dict, *, village_id: int | None = None, commit: bool = True) -> Village:
    """Add a village/community or rename/re-code one. Its town follows from the code's first 9 digits
    (``town_id``, when given, must agree). Refuses a name already used in the same town."""
    permissions.require(actor, "place.manage")
    village = None
    if village_id is not None:
        village = db.session.get(Village, village_id)
        if village is None:
            raise NotFound("村（社区）不存在", code="village_not_found")
    code = normalize_code(values["code"]) if values.get("code") is not None else (village.code if village else None)
    if code is None:
        raise Invalid("统计用区划代码不能为空", code="code_required", field="code")
    if village is None or code != village.code:   # old synthetic codes of the demo stay as they are
        if code[9:] == "000" or code[6:9] == "000":
            raise Invalid("村（社区）的统计用区划代码后3位不能为000", code="code_not_village", field="code")
    town = _town_by_prefix(code) if (village is None or code != village.code) else db.session.get(Town, village.town_id)
    if town is None:
        raise Invalid(f"代码前9位{code[:9]}不是已登记的镇街，请先导入或登记镇街", code="town_unknown", field="code")
    if values.get("town_id") is not None and values["town_id"] != town.id:
        raise Invalid(f"代码属于“{town.name}”，与所选镇街不符", code="town_mismatch", field="town_id")
    name = _name(values["name"]) if values.get("name") is not None else (village.name if village else None)
    if name is None:
        raise Invalid("名称不能为空", code="name_required", field="name")
    urban_rural = (_urban_rural(values.get("urban_rural_code")) if "urban_rural_code" in values
                   else (village.urban_rural_code if village else None))
    same_code = db.session.execute(sa.select(Village).where(Village.code == code)).scalars().first()
    if same_code is not None and same_code is not village:
        raise Conflict(f"代码{code}已是“{same_code.name}”", code="village_code_taken", field="code")
    same_name = db.session.execute(sa.select(Village).where(Village.town_id == town.id, Village.name == name)
                                   ).scalars().first()
    if same_name is not None and same_name is not village:
        raise Conflict(f"{town.name}已有“{name}”", code="village_name_taken", field="name")
    before = _village_snapshot(village) if village else None
    if village is None:
        village = Village(code=code, name=name, town_id=town.id, urban_rural_code=urban_rural)
        db.session.add(village)
    else:
        village.code, village.name, village.town_id, village.urban_rural_code = code, name, town.id, urban_rural
    db.session.flush()
    after = _village_snapshot(village)
    if before != after:
        audit.record("village.created" if before is None else "village.updated", actor=actor,
                     entity_type="village", entity_id=village.id, before=before, after=after)
    if commit:
        db.session.commit()
    return village


PLACES_SHEET = SheetSpec(
    sheet_name="统计用区划代码和城乡划分代码",
    columns={"统计用区划代码": "code", "城乡分类代码": "urban_rural_code", "名称": "name"},
    required=("统计用区划代码", "名称"),
    aliases={"区划代码": "统计用区划代码", "代码": "统计用区划代码", "城乡分类": "城乡分类代码",
             "村（社区）": "名称", "村(居)委会": "名称", "村（居）委会名称": "名称"},
    example=("370831100201", "220", "示例村"),
)


def import_places(actor: Actor, data, filename: str) -> dict:
    """The national statistics table's rows for this county: towns (code ending 000) and villages, in any
    order (towns are applied first, so a village finds its town from the same file). A known code is
    renamed, a new one added; the county's own row is skipped. All or nothing."""
    permissions.require(actor, "place.manage")
    counts = {"towns": 0, "villages": 0, "skipped": 0}

    def apply(row_no: int, values: dict) -> None:
        code = normalize_code(values.get("code"))
        name = _name(values.get("name"))
        if code[6:9] == "000":
            counts["skipped"] += 1        # the county itself
            return
        if code[9:] == "000":
            town = _town_by_prefix(code)
            save_town(actor, {"code": code, "name": name}, town_id=town.id if town else None, commit=False)
            counts["towns"] += 1
            return
        village = db.session.execute(sa.select(Village).where(Village.code == code)).scalars().first()
        save_village(actor, {"code": code, "name": name, "urban_rural_code": values.get("urban_rural_code")},
                     village_id=village.id if village else None, commit=False)
        counts["villages"] += 1

    def is_village(values: dict) -> bool:
        code = str(values.get("code") or "").split(".")[0].strip()
        return not code.endswith("000")

    import_rows(PLACES_SHEET, data, filename, apply, order=is_village)
    db.session.commit()
    return counts


def resolve_town(value: object, *, field: str = "town") -> Town:
    """A town from its name as written (泉林镇; 济河街道办事处 -> 济河街道) or its code."""
    text = "".join(str(value if value is not None else "").split())
    if not text:
        raise Invalid("镇街不能为空", code="town_required", field=field)
    town = db.session.execute(sa.select(Town).where(Town.name == text)).scalars().first()
    if town is None and text.endswith("办事处"):
        town = db.session.execute(sa.select(Town).where(Town.name == text[:-3])).scalars().first()
    if town is None and text.isdigit() and len(text) in (9, 12):
        town = _town_by_prefix(text)
    if town is None:
        raise Invalid("镇街不在本县镇街名单中，请核对名称（如“泉林镇”“济河街道”）", code="town_unknown", field=field)
    return town


_VILLAGE_SUFFIXES = ("村民委员会", "居民委员会", "村委会", "居委会", "委员会", "社区", "村")


def village_stem(name: str) -> str:
    """A village's name without the suffix people add or drop (卞桥村委会, 卞桥村, 卞桥 -> 卞桥)."""
    text = "".join(name.split())
    for suffix in _VILLAGE_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    for suffix in ("村", "社区"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def resolve_village(town: Town, value: object, *, field: str = "village") -> Village | None:
    """A village of ``town`` from its name as written (the statistics table's 卞桥村委会, a department's 卞桥村):
    the exact name, else the one village whose name has the same stem. None when blank."""
    text = "".join(str(value if value is not None else "").split())
    if not text:
        return None
    villages = db.session.execute(sa.select(Village).where(Village.town_id == town.id)).scalars().all()
    exact = [v for v in villages if v.name == text]
    same = exact or [v for v in villages if village_stem(v.name) == village_stem(text)]
    if len(same) != 1:
        raise Invalid(f"{town.name}下没有这个村（社区），请核对名称或请管理员先登记", code="village_unknown", field=field)
    return same[0]
