"""A county's first day from a fresh install (no demo): villages, households, 低保 and a proxy, all over HTTP.

And the refusals: a department recording another's group, a proxy for someone outside the protected groups,
a second live appointment, a bad row (all or nothing, row and column named), another town's household.
"""
from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.audit import AuditEntry
from onecard.people.models import Household, HouseholdMembership, ProxyAppointment, Resident, ResidentCategory
from onecard.reference.models import Department, Town, Village
from onecard.sheets import write_csv, write_xlsx
from onecard.validation import luhn_check_digit, make_id_number

API = "/api/staff/v1"
QUANLIN = "370831100"      # 泉林镇's township code in the seed
ACCOUNT = "621700001000123456" + luhn_check_digit("621700001000123456")


def ids(n: int, born: date = date(1960, 3, 1)) -> list[str]:
    return [make_id_number("370831", born, 100 + i) for i in range(n)]


def upload(client, path, who, data: bytes, filename="f.csv", query=""):
    return client.post(f"{API}{path}{query}", headers=who.auth, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename)})


def dept(db, code: str) -> int:
    return db.session.execute(sa.select(Department.id).where(Department.code == code)).scalar_one()


def villages_file() -> bytes:
    # The national statistics table's layout: the county row, a town row (renames the seeded name), villages.
    return write_xlsx(["统计用区划代码", "城乡分类代码", "名称"], [
        ["370831000000", "", "泗水县"],
        ["370831100000", "", "泉林镇"],
        ["370831111201", "220", "新城村委会"],     # before its town: towns are applied first
        ["370831111000", "", "新城镇"],
        ["370831100201", "220", "卞桥村委会"],
        ["370831100202", "220", "东仲都村委会"],
        ["370831101201", "220", "泗张村委会"],
        [370831001001, "111", "府前社区居委会"],
    ], sheet_name="村级")


def test_fresh_install_first_day_through_the_api(client, db, admin, make_staff):
    assert db.session.execute(sa.select(sa.func.count(Village.id))).scalar() == 0   # nothing but the seed
    r = upload(client, "/villages/import", admin, villages_file(), "2023年统计用区划代码.xlsx")
    assert r.status_code == 201, r.json
    assert r.json == {"towns": 2, "villages": 5, "skipped": 1}
    quanlin = db.session.execute(sa.select(Town).where(Town.code == QUANLIN + "000")).scalar_one()
    names = {v.name: v for v in db.session.execute(sa.select(Village)).scalars()}
    assert names["卞桥村委会"].town_id == quanlin.id and names["卞桥村委会"].urban_rural_code == "220"
    assert names["府前社区居委会"].code == "370831001001"

    civil = make_staff("dept_operator", department_id=dept(db, "03"))
    head, wife, child, other_head, other_member = ids(5)
    kid = make_id_number("370831", date(2015, 6, 1), 321)
    rows = [["H001", "", "户主", "张大山", head, "泉林镇", "卞桥村委会", "卞桥村1号"],
            ["H001", "", "配偶", "李秀英", wife, "泉林镇", "卞桥村委会", ""],
            ["H001", "", "子", "张小川", child, "泉林镇", "卞桥", ""],
            ["H002", other_head, "", "王老五", other_head, "泉林镇", "东仲都村委会", ""],
            ["H002", other_head, "", "王小妹", kid, "泉林镇", "东仲都村委会", ""]]
    r = upload(client, "/households/import", civil,
               write_csv(["户号", "户主身份证号", "与户主关系", "姓名", "身份证号", "镇街", "村（社区）", "地址"], rows))
    assert r.status_code == 201, r.json
    assert r.json == {"households": 2, "members": 5}
    h1 = db.session.execute(sa.select(Household).where(Household.code == "H001")).scalar_one()
    members = db.session.execute(sa.select(Resident).where(Resident.household_id == h1.id)).scalars().all()
    assert {m.name: m.relation_to_head for m in members} == {"张大山": "户主", "李秀英": "配偶", "张小川": "子"}
    assert db.session.get(Resident, h1.head_id).name == "张大山"
    assert db.session.execute(sa.select(sa.func.count(HouseholdMembership.id))).scalar() == 5
    raw_ids = db.session.execute(sa.text("SELECT id_number FROM residents")).scalars().all()
    assert head not in raw_ids                                      # encrypted at rest

    r = upload(client, "/groups/import", civil, write_csv(
        ["身份证号", "姓名", "类别", "认定文号", "起始日期", "截止日期"],
        [[other_head, "王老五", "低保户", "泗民低〔2026〕3号", "2026-01-01", "2026-12-31"]]))
    assert r.status_code == 201, r.json
    assert r.json == {"recorded": 1, "by_category": {"dibao": 1}}
    record = db.session.execute(sa.select(ResidentCategory)).scalar_one()
    assert record.department_id == civil.department_id and record.certificate_no == "泗民低〔2026〕3号"

    r = client.post(f"{API}/proxies", headers=civil.auth, json={
        "ward_id_number": other_head, "ward_name": "王老五", "proxy_id_number": wife, "proxy_name": "李秀英",
        "legal_basis": "（2026）鲁0831民特5号", "appointed_by": "泗水县人民法院", "valid_from": "2026-01-01",
        "account": ACCOUNT, "bank": "建行"})
    assert r.status_code == 201, r.json
    assert r.json["category"] == "dibao" and r.json["account"] == "************" + ACCOUNT[-4:]
    raw = db.session.execute(sa.text("SELECT account FROM proxy_appointments")).scalar_one()
    assert ACCOUNT not in raw
    # The minor needs no recorded group: 未成年人 follows from the birth date.
    r = upload(client, "/proxies/import", civil, write_csv(
        ["被代管人身份证号", "被代管人姓名", "代管人身份证号", "代管人姓名", "群体类别", "法律依据", "指定机关", "起始日期"],
        [[kid, "王小妹", child, "张小川", "未成年人", "泗民监〔2026〕1号", "县民政局", "2026-02-01"]]))
    assert r.status_code == 201, r.json
    assert db.session.execute(sa.select(sa.func.count(ProxyAppointment.id))).scalar() == 2
    actions = set(db.session.execute(sa.select(AuditEntry.action)).scalars())
    assert {"village.created", "town.created", "household.created", "resident.registered", "group.recorded",
            "proxy.appointed"} <= actions

    listed = client.get(f"{API}/households?code=H00", headers=civil.auth).json
    assert listed["total"] == 2 and listed["items"][0]["members"][0]["id_number"].startswith("370831")
    assert "*" in listed["items"][0]["members"][0]["id_number"]


def test_templates_download_with_their_headers(client, db, admin, make_staff):
    civil = make_staff("dept_operator", department_id=dept(db, "03"))
    for path, who, first in (("/villages/template", admin, "统计用区划代码"), ("/households/template", civil, "户号"),
                             ("/groups/template", civil, "身份证号"), ("/proxies/template", civil, "被代管人身份证号"),
                             ("/deaths/template", admin, "身份证号")):
        r = client.get(f"{API}{path}", headers=who.auth)
        assert r.status_code == 200, path
        rows = CalamineWorkbook.from_filelike(io.BytesIO(r.data)).get_sheet_by_index(0).to_python()
        assert rows[0][0] == first


def _setup(client, db, admin, make_staff):
    assert upload(client, "/villages/import", admin, villages_file(), "v.xlsx").status_code == 201
    civil = make_staff("dept_operator", department_id=dept(db, "03"))
    people = ids(4)
    r = client.post(f"{API}/households", headers=civil.auth, json={
        "code": "H100", "town_id": db.session.execute(sa.select(Town.id).where(Town.code == QUANLIN + "000")).scalar(),
        "since": "2020-01-01", "members": [{"id_number": people[0], "name": "赵一", "relation": "户主"},
                    {"id_number": people[1], "name": "钱二", "relation": "配偶"},
                    {"id_number": people[2], "name": "孙三", "relation": "子"},
                    {"id_number": people[3], "name": "李四", "relation": "儿媳"}]})
    assert r.status_code == 201, r.json
    return civil, people, r.json["id"]


def test_a_department_records_only_its_own_groups(client, db, admin, make_staff):
    civil, people, _ = _setup(client, db, admin, make_staff)
    disabled_fed = make_staff("dept_operator", department_id=dept(db, "11"))
    body = {"id_number": people[0], "category": "低保户", "certificate_no": "X1", "since": "2026-01-01"}
    r = client.post(f"{API}/groups", headers=disabled_fed.auth, json=body)
    assert r.status_code == 403 and r.json["error"]["code"] == "not_issuer"
    r = client.post(f"{API}/groups", headers=admin.auth, json={**body, "department_id": dept(db, "11")})
    assert r.status_code == 403 and r.json["error"]["code"] == "not_issuer"
    r = client.post(f"{API}/groups", headers=disabled_fed.auth, json={**body, "category": "残疾人"})
    assert r.status_code == 201 and r.json["department_id"] == dept(db, "11")
    r = client.post(f"{API}/groups", headers=civil.auth, json={**body, "category": "未成年人"})
    assert r.status_code == 422 and r.json["error"]["code"] == "minor_computed"
    # 民政局 does not see 残联's record, 残联 revokes its own
    assert client.get(f"{API}/groups", headers=civil.auth).json["total"] == 0
    rid = client.get(f"{API}/groups", headers=disabled_fed.auth).json["items"][0]["id"]
    assert client.post(f"{API}/groups/{rid}/revoke", headers=civil.auth, json={"reason": "x"}).status_code == 404
    r = client.post(f"{API}/groups/{rid}/revoke", headers=disabled_fed.auth, json={"reason": "复核不符合"})
    assert r.status_code == 200 and r.json["revoked_at"] and r.json["until"]


def test_proxy_refusals(client, db, admin, make_staff):
    civil, people, _ = _setup(client, db, admin, make_staff)
    base = {"ward_id_number": people[0], "proxy_id_number": people[1], "legal_basis": "（2026）鲁0831民特1号",
            "appointed_by": "泗水县人民法院", "valid_from": "2026-01-01"}
    r = client.post(f"{API}/proxies", headers=civil.auth, json=base)
    assert r.status_code == 422 and r.json["error"]["code"] == "ward_not_protected"
    assert r.json["error"]["field"] == "ward_id_number"
    client.post(f"{API}/groups", headers=civil.auth, json={"id_number": people[0], "category": "特困",
                                                           "certificate_no": "T1", "since": "2025-01-01"})
    r = client.post(f"{API}/proxies", headers=civil.auth, json={**base, "proxy_id_number": people[0]})
    assert r.status_code == 422 and r.json["error"]["code"] == "proxy_self"
    r = client.post(f"{API}/proxies", headers=civil.auth, json={**base, "valid_from": "2024-06-01"})
    assert r.status_code == 422 and r.json["error"]["code"] == "ward_not_protected"   # not 特困 yet then
    farm = make_staff("dept_operator", department_id=dept(db, "06"))
    r = client.post(f"{API}/proxies", headers=farm.auth, json=base)
    assert r.status_code == 403
    r = client.post(f"{API}/proxies", headers=civil.auth, json=base)
    assert r.status_code == 201, r.json
    r2 = client.post(f"{API}/proxies", headers=civil.auth, json={**base, "proxy_id_number": people[2]})
    assert r2.status_code == 409 and r2.json["error"]["code"] == "appointment_exists"
    r3 = client.post(f"{API}/proxies/{r.json['id']}/revoke", headers=civil.auth, json={"reason": "法院撤销指定"})
    assert r3.status_code == 200
    r4 = client.post(f"{API}/proxies", headers=civil.auth, json={**base, "proxy_id_number": people[2]})
    assert r4.status_code == 201
    live = db.session.execute(sa.select(sa.func.count(ProxyAppointment.id))
                              .where(ProxyAppointment.revoked_at.is_(None))).scalar()
    assert live == 1


def test_bad_rows_refuse_the_whole_file_naming_row_and_column(client, db, admin, make_staff):
    civil, people, _ = _setup(client, db, admin, make_staff)
    before = db.session.execute(sa.select(sa.func.count(Resident.id))).scalar()
    fresh = ids(3, date(1970, 1, 1))
    rows = [["H200", "", "户主", "周五", fresh[0], "泉林镇", "卞桥村委会", ""],       # good
            ["H200", "", "子", "周六", fresh[1][:-1] + "0", "泉林镇", "", ""],       # bad check digit
            ["H201", "", "配偶", "吴七", fresh[2], "泉林镇", "", ""],                 # household without head
            ["H202", "", "户主", "钱二", people[1], "泉林镇", "", ""],                # already in H100
            ["H203", "", "户主", "冯九", make_id_number("370831", date(1980, 1, 1), 555), "不存在镇", "", ""]]
    r = upload(client, "/households/import", civil,
               write_csv(["户号", "户主身份证号", "与户主关系", "姓名", "身份证号", "镇街", "村（社区）", "地址"], rows))
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"
    errors = {(e["row"], e["column"]) for e in r.json["error"]["details"]["errors"]}
    assert errors == {(3, "身份证号"), (4, "与户主关系"), (5, "身份证号"), (6, "镇街")}
    assert all(fresh[1] not in str(e["value"]) for e in r.json["error"]["details"]["errors"])
    assert db.session.execute(sa.select(sa.func.count(Resident.id))).scalar() == before
    assert db.session.execute(sa.select(Household.id).where(Household.code == "H200")).first() is None


def test_town_staff_work_in_their_own_town_only(client, db, admin, make_staff):
    civil, people, hid = _setup(client, db, admin, make_staff)
    towns = dict(db.session.execute(sa.select(Town.code, Town.id)).all())
    quanlin, sizhang = towns[QUANLIN + "000"], towns["370831101000"]
    other_town = make_staff("town_staff", town_id=sizhang)
    own_town = make_staff("town_staff", town_id=quanlin)
    member = {"id_number": make_id_number("370831", date(1990, 1, 1), 777), "name": "陈十", "relation": "户主"}
    r = client.post(f"{API}/households", headers=other_town.auth, json={"code": "H300", "town_id": quanlin,
                                                                       "members": [member]})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden_scope"
    assert client.get(f"{API}/households", headers=other_town.auth).json["total"] == 0
    assert client.get(f"{API}/households/{hid}", headers=other_town.auth).status_code == 404
    assert client.post(f"{API}/households/{hid}/members", headers=other_town.auth,
                       json={**member, "relation": "孙子"}).status_code == 404
    assert client.get(f"{API}/households", headers=own_town.auth).json["total"] == 1
    r = client.post(f"{API}/households", headers=own_town.auth, json={"code": "H300", "town_id": quanlin,
                                                                     "members": [member]})
    assert r.status_code == 201
    farm_reviewer = make_staff("dept_reviewer", department_id=dept(db, "06"))
    assert client.post(f"{API}/households", headers=farm_reviewer.auth,
                       json={"code": "H301", "town_id": quanlin, "members": [member]}).status_code == 403
    bank = make_staff("bank_operator", bank_id=1)
    assert client.get(f"{API}/households", headers=bank.auth).status_code == 403


def test_household_history_head_death_new_head_split_and_move_out(client, db, admin, make_staff):
    civil, people, hid = _setup(client, db, admin, make_staff)
    r = client.post(f"{API}/deaths", headers=civil.auth, json={
        "id_number": people[0], "name": "赵一", "died_on": "2026-03-02", "source": "民政部门通知",
        "document": "泗民殡〔2026〕9号"})
    assert r.status_code == 201, r.json
    assert r.json["headless_household_id"] == hid and r.json["resident"]["deceased_on"] == "2026-03-02"
    h = client.get(f"{API}/households/{hid}", headers=civil.auth).json
    assert h["head_id"] is None and len(h["members"]) == 3
    assert client.get(f"{API}/households?without_head=true", headers=civil.auth).json["total"] == 1
    # the same notice again changes nothing; a different date is refused for a department
    again = client.post(f"{API}/deaths", headers=civil.auth, json={
        "id_number": people[0], "died_on": "2026-03-02", "source": "minzheng", "document": "泗民殡〔2026〕9号"})
    assert again.status_code == 201 and again.json["changed"] is False
    other = client.post(f"{API}/deaths", headers=civil.auth, json={
        "id_number": people[0], "died_on": "2026-03-05", "source": "minzheng", "document": "x"})
    assert other.status_code == 409
    r = client.post(f"{API}/households/{hid}/head", headers=civil.auth,
                    json={"new_head": people[1], "reason": "原户主死亡", "on": "2026-03-10"})
    assert r.status_code == 200, r.json
    assert r.json["head_id"] == db.session.execute(sa.select(Resident.id).where(Resident.name == "钱二")).scalar()
    r = client.post(f"{API}/households/{hid}/split", headers=civil.auth, json={
        "code": "H101", "members": [{"member": people[2], "relation": "户主"}, {"member": people[3], "relation": "配偶"}]})
    assert r.status_code == 201, r.json
    assert {m["name"]: m["relation"] for m in r.json["members"]} == {"孙三": "户主", "李四": "配偶"}
    r = client.post(f"{API}/households/{hid}/remove-member", headers=civil.auth, json={"member": people[1]})
    assert r.status_code == 200 and r.json["members"] == [] and r.json["head_id"] is None
    history = client.get(f"{API}/households/{hid}/history", headers=civil.auth).json
    assert [(h["relation"], h["end_reason"]) for h in history] == [
        ("户主", "死亡"), ("配偶", "原户主死亡"), ("子", "分户（分至户号H101）"), ("儿媳", "分户（分至户号H101）"),
        ("户主", "迁出")]


def test_head_must_change_before_moving_out_and_members_join_one_household(client, db, admin, make_staff):
    civil, people, hid = _setup(client, db, admin, make_staff)
    r = client.post(f"{API}/households/{hid}/remove-member", headers=civil.auth, json={"member": people[0]})
    assert r.status_code == 409 and r.json["error"]["code"] == "head_must_change_first"
    r = client.post(f"{API}/households/{hid}/head", headers=civil.auth, json={"new_head": people[1]})
    assert r.status_code == 422 and r.json["error"]["field"] == "former_head_relation"
    r = client.post(f"{API}/households", headers=civil.auth, json={
        "code": "H900", "town_id": db.session.execute(sa.select(Town.id).where(Town.code == QUANLIN + "000")).scalar(),
        "members": [{"id_number": people[2], "relation": "户主"}]})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_member"


def test_admin_adds_and_renames_towns_and_villages_others_cannot(client, db, admin, make_staff):
    r = client.post(f"{API}/towns", headers=admin.auth, json={"code": "370831111000", "name": "新设镇"})
    assert r.status_code == 201
    tid = r.json["id"]
    r = client.post(f"{API}/villages", headers=admin.auth, json={"code": "370831111201", "name": "新村"})
    assert r.status_code == 201 and r.json["town_id"] == tid
    vid = r.json["id"]
    assert client.patch(f"{API}/towns/{tid}", headers=admin.auth, json={"name": "新设街道"}).json["name"] == "新设街道"
    assert client.patch(f"{API}/villages/{vid}", headers=admin.auth, json={"name": "新社区"}).json["name"] == "新社区"
    r = client.post(f"{API}/villages", headers=admin.auth, json={"code": "370831199201", "name": "无镇村"})
    assert r.status_code == 422 and r.json["error"]["code"] == "town_unknown"
    r = client.post(f"{API}/villages", headers=admin.auth, json={"code": "370832111201", "name": "外县村"})
    assert r.status_code == 422 and r.json["error"]["code"] == "code_other_county"
    civil = make_staff("dept_operator", department_id=dept(db, "03"))
    assert client.post(f"{API}/towns", headers=civil.auth, json={"code": "370831112000", "name": "x镇"}
                       ).status_code == 403
    bad = write_csv(["统计用区划代码", "城乡分类代码", "名称"], [["370831111202", "220", "甲村"], ["3708311", "", "乙村"]])
    r = upload(client, "/villages/import", admin, bad)
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json["error"]["details"]["errors"]] == [(3, "统计用区划代码")]
    assert db.session.execute(sa.select(Village.id).where(Village.name == "甲村")).first() is None
