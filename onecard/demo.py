"""A synthetic Sishui county for demonstrations and manual testing. Everything here is made up.

People, IDs (valid checksums under area code 370831), phone numbers and
accounts are generated from a fixed random seed; the database is marked
``demo_synthetic`` and every page shows a 演示数据 banner. Other domains add
their own demo step in ``onecard/<domain>/demo.py`` (a ``run(ctx)`` function);
``build()`` calls those that exist, in DOMAIN_STEPS order.
"""
from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from onecard import audit, passwords, settings_store
from onecard.actors import cli_actor
from onecard.cards.models import Card
from onecard.extensions import db
from onecard.people.models import Household, Resident, ResidentCategory
from onecard.privacy import blind_index, encrypt, last4, mask_id, mask_mobile
from onecard.projects import coding
from onecard.projects.models import Project
from onecard.reference import service as reference
from onecard.reference.models import Bank, Department, Town, Village
from onecard.staff.models import StaffAccount
from onecard.timeutil import utcnow
from onecard.validation import id_birth_year, id_gender, luhn_check_digit, make_id_number

DEMO_PASSWORD = "Demo2026pass"
DOMAIN_STEPS = ["onecard.reference.demo", "onecard.lists.demo", "onecard.payments.demo", "onecard.notices.demo", "onecard.oversight.demo",
                "onecard.citizens.demo"]

SURNAMES = list("王张李刘孔孟颜曾赵陈杨黄周吴徐孙朱马胡郭林何高梁郑罗宋谢唐韩曹许邓冯彭")
GIVEN = list("秀英桂兰玉凤建国志强明华军伟芳娜静敏丽强磊洋艳勇杰涛超霞平刚红梅春生海燕金荣德福庆云")
VILLAGE_WORDS = ["东", "西", "南", "北", "前", "后", "上", "下", "大", "小", "王家", "李家", "张家", "石", "柳",
                 "杏", "桃", "河", "山", "泉"]

# (department code, 大类, 小类, cycle, bank code, via passbook, level, standard fen, per household,
#  required category, who qualifies)
PROJECTS = [
    ("06", "农业补贴", "耕地地力保护补贴", "yearly", "RCB", True, "county", None, True, None,
     "拥有承包耕地并实际种植的农户，按确权面积计发到户"),
    ("05", "社会保险待遇", "城乡居民基础养老金", "monthly", "RCB", False, "county", 18300, False, None,
     "年满60周岁、参加城乡居民养老保险并按规定领取待遇的人员"),
    ("03", "社会救助", "最低生活保障金", "monthly", "PSBC", True, "county", None, True, "dibao",
     "经认定的城乡最低生活保障家庭，按户发放"),
    ("03", "社会救助", "特困人员救助供养金", "monthly", "PSBC", False, "county", 98000, False, "tekun",
     "经认定的特困供养人员"),
    ("03", "老龄福利", "高龄津贴", "monthly", "RCB", False, "county", 10000, False, None,
     "年满80周岁的本县户籍老年人"),
    ("11", "残疾人补贴", "困难残疾人生活补贴", "monthly", "ABC", False, "county", 9000, False, "disabled",
     "低保家庭中的残疾人及其他困难残疾人"),
    ("11", "残疾人补贴", "重度残疾人护理补贴", "monthly", "ABC", False, "county", 9000, False, "disabled",
     "残疾等级为一级、二级的重度残疾人"),
    ("08", "优抚补助", "优抚对象抚恤补助", "quarterly", "CCB", False, "county", None, False, None,
     "在乡老复员军人、伤残军人等重点优抚对象"),
    ("07", "计划生育奖扶", "计划生育家庭奖励扶助", "yearly", "ICBC", False, "county", 96000, False, None,
     "符合条件的农村独生子女和双女家庭父母，年满60周岁"),
    ("02", "教育资助", "义务教育家庭经济困难学生生活补助", "half_yearly", "BOC", False, "county", 62500, False,
     None, "义务教育阶段家庭经济困难寄宿学生"),
    ("09", "医疗救助", "城乡医疗救助金", "one_off", "RCB", False, "county", None, False, None,
     "低保、特困等困难群众个人自付医疗费用救助"),
    ("10", "职工帮扶", "困难职工生活救助", "one_off", "ICBC", False, "county", None, False, None,
     "建档困难职工家庭"),
    ("01", "生态补偿", "生态公益林补偿", "yearly", "RCB", False, "county", None, True, None,
     "公益林经营者（农户），按面积计发到户"),
]

BANK_WEIGHTS = {"RCB": 35, "PSBC": 20, "ABC": 18, "ICBC": 10, "CCB": 10, "BOC": 7}
BIN_BY_BANK = {"ICBC": "621226", "CCB": "621700", "BOC": "621661", "ABC": "622848", "PSBC": "621799",
               "RCB": "622319"}
CARD_STATUS_WEIGHTS = [("active", 78), ("issued", 7), ("ready", 2), ("applied", 2), ("lost", 2),
                       ("none", 8), ("replaced", 1)]


@dataclass
class DemoContext:
    """What the county step made, for the domain steps that follow."""
    rng: random.Random
    residents: int = 0
    project_ids: dict[str, int] = field(default_factory=dict)  # 小类 name -> id
    staff: dict[str, int] = field(default_factory=dict)        # username -> id
    progress: object = None


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))


def _mobile(rng: random.Random) -> str:
    return rng.choice(["13", "15", "17", "18", "19"]) + f"{rng.randrange(10**9):09d}"


def make_account(rng: random.Random, bank_code: str) -> str:
    body = BIN_BY_BANK[bank_code] + f"{rng.randrange(10**12):012d}"
    return body + luhn_check_digit(body)


def _villages(rng: random.Random) -> None:
    for town in db.session.execute(sa.select(Town).order_by(Town.code)).scalars():
        used: set[str] = set()
        count = rng.randint(8, 14) if "街道" not in town.name else rng.randint(5, 8)
        for i in range(count):
            suffix = "社区" if "街道" in town.name else "村"
            while True:
                name = rng.choice(VILLAGE_WORDS) + rng.choice(["庄", "峪", "沟", "屯", "岭", "湖", "营", "桥"]) + suffix
                if name not in used:
                    used.add(name)
                    break
            db.session.add(Village(town_id=town.id, code=f"{town.code[:9]}{200 + i + 1:03d}", name=name))
    db.session.commit()


def _staff(ctx: DemoContext) -> None:
    """One account per position so every role can be tried; all share DEMO_PASSWORD."""
    pw = passwords.hash_password(DEMO_PASSWORD)
    depts = {d.code: d for d in db.session.execute(sa.select(Department)).scalars()}
    banks = {b.code: b for b in db.session.execute(sa.select(Bank)).scalars()}
    first_town = db.session.execute(sa.select(Town).order_by(Town.code)).scalars().first()
    first_village = db.session.execute(
        sa.select(Village).where(Village.town_id == first_town.id).order_by(Village.code)).scalars().first()
    accounts = [("admin", "人社局管理员（演示）", "admin", {}), ("finance", "财政局（演示）", "finance", {}),
                ("auditor", "审计监督（演示）", "auditor", {}),
                ("town", f"{first_town.name}工作人员（演示）", "town_staff", {"town_id": first_town.id}),
                ("village", f"{first_village.name}协办员（演示）", "village_staff",
                 {"village_id": first_village.id, "town_id": first_town.id})]
    short = {"03": "mz", "05": "rs", "06": "ny", "11": "cl", "08": "tj", "07": "wj", "02": "jy", "09": "yb",
             "10": "gh", "01": "zr"}
    for code, prefix in short.items():
        accounts.append((f"{prefix}_jb", f"{depts[code].name}经办（演示）", "dept_operator",
                         {"department_id": depts[code].id}))
        accounts.append((f"{prefix}_sh", f"{depts[code].name}审核（演示）", "dept_reviewer",
                         {"department_id": depts[code].id}))
    for code in banks:
        accounts.append((f"bank_{code.lower()}", f"{banks[code].name}经办（演示）", "bank_operator",
                         {"bank_id": banks[code].id}))
    for n, (username, display, role, scope) in enumerate(accounts):
        # a synthetic registered mobile each, so the demo's 工作提醒 also show their SMS (console provider)
        mobile = f"199053{n:05d}"
        account = StaffAccount(username=username, display_name=display, role=role, password_hash=pw,
                               mobile=mobile, mobile_masked=mask_mobile(mobile), **scope)
        db.session.add(account)
        db.session.flush()
        ctx.staff[username] = account.id
    db.session.commit()


def _projects(ctx: DemoContext) -> None:
    depts = {d.code: d.id for d in db.session.execute(sa.select(Department)).scalars()}
    banks = {b.code: b.id for b in db.session.execute(sa.select(Bank)).scalars()}
    now = utcnow()
    for (dept, category, name, cycle, bank, passbook, level, standard, per_household, required,
         eligibility) in PROJECTS:
        p = Project(department_id=depts[dept], category=category, name=name, cycle=cycle, bank_id=banks[bank],
                    via_passbook=passbook, level=level, standard_fen=standard, per_household=per_household,
                    required_category=required, eligibility=eligibility, status="registered",
                    policy_basis="演示数据：政策依据以主管部门正式文件为准")
        db.session.add(p)
        db.session.flush()
        p.code, p.status, p.coded_at = coding.next_code(p), "coded", now
        db.session.flush()
        ctx.project_ids[name] = p.id
    db.session.commit()


def _people(ctx: DemoContext, count: int) -> None:
    """Households of 1-5 people, ages spread like a rural county, categories and cards in every status."""
    rng = ctx.rng
    villages = db.session.execute(sa.select(Village.id, Village.town_id)).all()
    banks = {b.code: b.id for b in db.session.execute(sa.select(Bank)).scalars()}
    bank_codes = list(BANK_WEIGHTS)
    bank_weights = list(BANK_WEIGHTS.values())
    statuses = [s for s, _ in CARD_STATUS_WEIGHTS]
    status_weights = [w for _, w in CARD_STATUS_WEIGHTS]
    today = date.today()
    seq_by_key: dict[tuple, int] = {}
    resident_rows, household_rows, category_rows, card_rows = [], [], [], []
    next_resident_id = (db.session.execute(sa.select(sa.func.max(Resident.id))).scalar() or 0) + 1
    next_household_id = (db.session.execute(sa.select(sa.func.max(Household.id))).scalar() or 0) + 1
    now = utcnow()
    made = 0
    while made < count:
        village_id, town_id = rng.choice(villages)
        household_id = next_household_id
        next_household_id += 1
        size = min(rng.choice([1, 2, 2, 3, 3, 4, 5]), count - made)
        head_age = rng.randint(30, 92)
        ages = [head_age] + [max(0, head_age + rng.randint(-40, 5)) for _ in range(size - 1)]
        household_flags = set()
        r = rng.random()
        if r < 0.05:
            household_flags.add("dibao")
        elif r < 0.08:
            household_flags.add("poverty")
        member_ids = []
        for position, age in enumerate(ages):
            birth = today - timedelta(days=age * 365 + rng.randint(0, 364))
            if birth.year < 1930:
                birth = birth.replace(year=1930)
            key = (birth, )
            seq = seq_by_key.get(key, rng.randint(1, 400))
            seq_by_key[key] = seq + 1
            id_number = make_id_number("370831", birth, seq % 1000)
            mobile = _mobile(rng) if age >= 16 else None
            rid = next_resident_id
            next_resident_id += 1
            member_ids.append(rid)
            resident_rows.append({
                "id": rid, "name": _name(rng), "id_number": id_number, "id_bidx": blind_index(id_number, "id"),
                "id_masked": mask_id(id_number), "gender": id_gender(id_number),
                "birth_year": id_birth_year(id_number), "ethnicity": "01" if rng.random() > 0.01 else "03",
                "mobile": mobile, "mobile_bidx": blind_index(mobile, "mobile") if mobile else None,
                "mobile_masked": mask_mobile(mobile), "town_id": town_id, "village_id": village_id,
                "household_id": household_id, "relation_to_head": "户主" if position == 0 else
                rng.choice(["配偶", "子女", "父母", "孙子女"]), "sms_opt_out": False,
                "created_at": now, "updated_at": now,
                "deceased_on": None,
            })
            cats = set(household_flags)
            if age < 18:
                cats.add("minor")
            if rng.random() < 0.04:
                cats.add("disabled")
            if age >= 60 and not cats & {"dibao"} and rng.random() < 0.01:
                cats.add("tekun")
            for c in cats:
                category_rows.append({"resident_id": rid, "category": c, "since": date(2020, 1, 1)})
            status = rng.choices(statuses, status_weights)[0] if age >= 16 or rng.random() < 0.3 else "none"
            if status == "none":
                continue
            bank = rng.choices(bank_codes, bank_weights)[0]
            card_rows.extend(_card_rows(rng, rid, banks, bank, status, now))
            made_card = True  # noqa: F841 - keeps the loop readable
        household_rows.append({"id": household_id, "code": f"37083199{household_id:08d}", "head_id": member_ids[0],
                               "town_id": town_id, "village_id": village_id, "address": "（演示地址）"})
        made += size
        if ctx.progress is not None:
            ctx.progress.update(size)
    # Insert households without heads first (the circular key), then residents, then set heads.
    db.session.execute(sa.insert(Household), [{**h, "head_id": None} for h in household_rows])
    db.session.execute(sa.insert(Resident), resident_rows)
    table = Household.__table__
    db.session.connection().execute(table.update().where(table.c.id == sa.bindparam("hid"))
                                    .values(head_id=sa.bindparam("head")),
                                    [{"hid": h["id"], "head": h["head_id"]} for h in household_rows])
    if category_rows:
        db.session.execute(sa.insert(ResidentCategory), category_rows)
    db.session.execute(sa.insert(Card), card_rows)
    ctx.residents += made
    db.session.commit()


_card_serial = [0]


def _card_rows(rng, rid, banks, bank, status, now) -> list[dict]:
    def card(st, replaces=None):
        account = make_account(rng, bank)
        _card_serial[0] += 1
        number = f"S37{_card_serial[0]:07d}"
        base = {"resident_id": rid, "bank_id": banks[bank], "status": st, "card_number": number,
                "card_bidx": blind_index(number, "card"), "card_last4": last4(number), "account": account,
                "account_bidx": blind_index(account, "account"), "account_last4": last4(account),
                "replaces_card_id": replaces, "status_changed_at": now, "source": "registry",
                "created_at": now, "applied_at": now - timedelta(days=400)}
        for st_name, col in (("ready", "ready_at"), ("issued", "issued_at"), ("active", "activated_at"),
                             ("lost", "lost_at"), ("cancelled", "cancelled_at")):
            base[col] = now - timedelta(days=rng.randint(10, 300)) if st == st_name else None
        if st in ("active", "lost"):
            base["issued_at"] = now - timedelta(days=380)
        if st == "applied":
            base["card_number"] = base["card_bidx"] = base["card_last4"] = None
            base["account"] = base["account_bidx"] = base["account_last4"] = None
        return base

    if status == "replaced":
        # A lost card cancelled and replaced: the old row cancelled, the new one active (补换卡).
        return [card("cancelled"), card("active")]
    return [card(status)]


def build(residents: int = 10_000, seed: int = 2021, progress=None) -> DemoContext:
    """Make the synthetic county in an empty database (refuses a database that already has residents)."""
    if db.session.execute(sa.select(sa.func.count(Resident.id))).scalar():
        raise RuntimeError("数据库中已有居民数据，演示数据只能生成到空数据库")
    reference.seed()
    ctx = DemoContext(rng=random.Random(seed), progress=progress)
    _card_serial[0] = db.session.execute(sa.select(sa.func.count(Card.id))).scalar() or 0
    settings_store.put("demo_synthetic", "true")
    db.session.commit()
    _villages(ctx.rng)
    _staff(ctx)
    _projects(ctx)
    _people(ctx, residents)
    audit.record("demo.generated", actor=cli_actor("演示数据生成"), entity_type="site",
                 after={"residents": ctx.residents, "synthetic": True})
    db.session.commit()
    for module_name in DOMAIN_STEPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise  # a missing import inside an existing step is a real error
            continue
        module.run(ctx)
    return ctx


def is_synthetic() -> bool:
    return settings_store.get("demo_synthetic") == "true"


__all__ = ["build", "DemoContext", "DEMO_PASSWORD", "encrypt", "is_synthetic"]
