"""Matching (比对) lists against the card registry, summaries and follow-up lists, through the staff API."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.audit import AuditEntry
from onecard.cards.models import Card
from onecard.extensions import db
from onecard.lists import matching
from onecard.lists.models import RecipientRow
from tests.factories import make_card, make_resident, new_account, new_id_number, new_mobile
from tests.fixtures_lists import csv_bytes, upload

API = "/api/staff/v1"


def row(name, id_number, *, town="济河街道", village="东庄村", bank="工商银行", mobile=None):
    return [name, id_number, "汉族", mobile or new_mobile(), town, village, bank, new_account(), "100", ""]


@pytest.fixture
def registry_list(client, operator, project, county):
    """A stored list with one person in each match category, and the registry behind it."""
    t1, t2 = county["towns"]
    v1, v2 = county["villages"]
    icbc, ccb = county["banks"]["ICBC"], county["banks"]["CCB"]
    people = {}

    def person(key, status, *, name="张三明", listed_name=None, town=t1, village=v1, card_bank=icbc,
               registered=True, cancelled_first=False, list_town="济河街道", list_village="东庄村",
               list_bank="工商银行"):
        id_number = new_id_number()
        if registered:
            r = make_resident(town, village, name=name, id_number=id_number)
            if cancelled_first:
                make_card(r, card_bank, "cancelled")
            if status:
                make_card(r, card_bank, status)
        people[key] = {"id": id_number, "mobile": new_mobile()}
        return row(listed_name or name, id_number, town=list_town, village=list_village, bank=list_bank,
                   mobile=people[key]["mobile"])

    rows = [
        person("usable", "active", name="甲正常"),
        person("not_applied", None, name="乙未申"),
        person("not_applied_status", "not_applied", name="乙二未"),
        person("applied", "applied", name="丙申领"),
        person("ready", "ready", name="丙二待"),
        person("issued", "issued", name="丁未激", town=t2, village=v2, list_town="泗河街道",
               list_village="西峪村"),
        person("lost", "lost", name="戊挂失", card_bank=ccb, list_bank="农业银行"),
        person("cancelled", None, name="己注销", cancelled_first=True),
        person("replaced", "active", name="庚补卡", cancelled_first=True),
        person("name_mismatch", "active", name="辛真名", listed_name="辛假名"),
        person("not_in_registry", None, registered=False, name="壬无卡", list_town="泗河街道",
               list_village="西峪村"),
    ]
    r = upload(client, operator, project.id, csv_bytes(rows))
    assert r.status_code == 201, r.json
    return {"list_id": r.json["id"], "people": people}


def results_by_name(list_id):
    return {name: result for name, result in db.session.execute(
        sa.select(RecipientRow.name, RecipientRow.match_result).where(RecipientRow.list_id == list_id))}


def test_match_gives_each_category_its_result(client, operator, registry_list):
    list_id = registry_list["list_id"]
    r = client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    assert r.status_code == 200, r.json
    assert r.json["changed"] == 11 and r.json["rows"] == 11
    assert r.json["counts"] == {"usable": 2, "not_applied": 2, "not_issued": 2, "not_activated": 1,
                                "lost_or_cancelled": 2, "name_mismatch": 1, "not_in_registry": 1}
    assert results_by_name(list_id) == {
        "甲正常": "usable", "乙未申": "not_applied", "乙二未": "not_applied", "丙申领": "not_issued",
        "丙二待": "not_issued", "丁未激": "not_activated", "戊挂失": "lost_or_cancelled",
        "己注销": "lost_or_cancelled", "庚补卡": "usable", "辛假名": "name_mismatch", "壬无卡": "not_in_registry"}
    # The replacement card, not the cancelled one, is the one matched.
    replaced = db.session.execute(sa.select(RecipientRow.card_id).where(RecipientRow.name == "庚补卡")).scalar()
    assert db.session.get(Card, replaced).status == "active"
    detail = client.get(f"{API}/lists/{list_id}", headers=operator.auth).json
    assert detail["status"] == "matched" and detail["matched_at"]
    usable = client.get(f"{API}/lists/{list_id}/rows?match_result=usable", headers=operator.auth).json
    assert usable["total"] == 2
    assert all(i["card_account"].startswith("*") and i["card_bank"] == "工商银行" for i in usable["items"])


def test_rematch_reports_only_rows_whose_result_changed(client, operator, admin, registry_list, county):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    again = client.post(f"{API}/lists/{list_id}/match", headers=operator.auth).json
    assert again["changed"] == 0
    # The registry changes: the issued card is activated and the unregistered person gets a resident + card.
    issued = db.session.execute(sa.select(Card).where(Card.status == "issued")).scalar_one()
    issued.status = "active"
    newcomer = make_resident(county["towns"][1], county["villages"][1], name="壬无卡",
                             id_number=registry_list["people"]["not_in_registry"]["id"])
    make_card(newcomer, county["banks"]["ICBC"], "applied")
    r = client.post(f"{API}/lists/rematch", headers=admin.auth)
    assert r.status_code == 200, r.json
    assert r.json["changed"] == 2 and r.json["lists_checked"] == 1
    assert r.json["lists"][0]["list_id"] == list_id and r.json["lists"][0]["changed"] == 2
    changed = db.session.execute(sa.select(RecipientRow.name).where(
        RecipientRow.list_id == list_id,
        RecipientRow.match_changed_at == sa.select(sa.func.max(RecipientRow.match_changed_at)).scalar_subquery()))
    assert {n for (n,) in changed} == {"丁未激", "壬无卡"}
    assert results_by_name(list_id)["壬无卡"] == "not_issued"
    assert client.post(f"{API}/lists/rematch", headers=admin.auth).json["changed"] == 0
    assert client.post(f"{API}/lists/rematch", headers=operator.auth).status_code == 403


def test_rematch_all_skips_withdrawn_lists(client, operator, admin, registry_list):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/withdraw", headers=operator.auth, json={})
    assert matching.rematch_all(admin.actor)["lists_checked"] == 0
    assert client.post(f"{API}/lists/{list_id}/match", headers=operator.auth).status_code == 409


def test_summary_counts_by_result_town_village_and_bank(client, operator, registry_list):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    s = client.get(f"{API}/lists/{list_id}/summary", headers=operator.auth).json
    assert s["counts"]["usable"] == 2 and sum(s["counts"].values()) == 11
    towns = {t["name"]: t for t in s["by_town"]}
    assert towns["泗河街道"]["rows"] == 2 and towns["泗河街道"]["counts"]["not_activated"] == 1
    assert towns["济河街道"]["rows"] == 9 and towns["济河街道"]["amount_fen"] == 90000
    villages = {v["name"]: v["rows"] for v in s["by_village"]}
    assert villages == {"东庄村": 9, "西峪村": 2}
    banks = {b["name"]: b for b in s["by_bank"]}
    assert banks["农业银行"]["rows"] == 1 and banks["农业银行"]["counts"]["lost_or_cancelled"] == 1


def test_followup_needs_a_matched_list(client, operator, registry_list):
    r = client.get(f"{API}/lists/{registry_list['list_id']}/followup", headers=operator.auth)
    assert r.status_code == 409 and r.json["error"]["code"] == "list_not_matched"


def test_village_staff_followup_shows_only_their_village_with_full_phone(client, operator, make_staff,
                                                                         registry_list, county):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    village = make_staff("village_staff", village_id=county["villages"][1])
    r = client.get(f"{API}/lists/{list_id}/followup", headers=village.auth)
    assert r.status_code == 200
    names = {i["name"] for i in r.json["items"]}
    assert names == {"丁未激", "壬无卡"}
    item = next(i for i in r.json["items"] if i["name"] == "丁未激")
    assert item["mobile"] == registry_list["people"]["issued"]["mobile"]     # staff must be able to call
    assert item["id_number"].startswith("370831") and "***********" in item["id_number"]
    assert registry_list["people"]["issued"]["id"] not in r.get_data(as_text=True)
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "list.followup_export")
                               .order_by(AuditEntry.seq.desc())).scalars().first()
    assert entry.actor_id == village.id and entry.entity_id == str(list_id) and '"rows":2' in entry.after
    # Asking for another village's rows gives nothing, not their data.
    other = client.get(f"{API}/lists/{list_id}/followup?village_id={county['villages'][0]}", headers=village.auth)
    assert other.json["count"] == 0


def test_village_followup_xlsx(client, operator, make_staff, registry_list, county):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    village = make_staff("village_staff", village_id=county["villages"][0])
    r = client.get(f"{API}/lists/{list_id}/followup.xlsx?village_id={county['villages'][0]}", headers=village.auth)
    assert r.status_code == 200
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(r.data)).get_sheet_by_index(0).to_python()
    assert sheet[0][:5] == ["序号", "原表行号", "姓名", "身份证号", "手机号"]
    names = {line[2] for line in sheet[1:]}
    assert names == {"乙未申", "乙二未", "丙申领", "丙二待", "戊挂失", "己注销", "辛假名"}
    assert all("***********" in line[3] for line in sheet[1:])
    assert all(len(line[4]) == 11 and "*" not in line[4] for line in sheet[1:])


def test_bank_operator_sees_rows_listed_at_or_carded_by_their_bank(client, operator, make_staff, registry_list,
                                                                    county):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    ccb = make_staff("bank_operator", bank_id=county["banks"]["CCB"])
    names = {i["name"] for i in client.get(f"{API}/lists/{list_id}/followup", headers=ccb.auth).json["items"]}
    assert names == {"戊挂失"}          # listed at 农业银行 but the card is a 建设银行 card
    abc = make_staff("bank_operator", bank_id=county["banks"]["ABC"])
    names = {i["name"] for i in client.get(f"{API}/lists/{list_id}/followup", headers=abc.auth).json["items"]}
    assert names == {"戊挂失"}          # listed at 农业银行
    boc = make_staff("bank_operator", bank_id=county["banks"]["BOC"])
    assert client.get(f"{API}/lists/{list_id}/followup", headers=boc.auth).json["count"] == 0


def test_town_staff_and_department_followup_scope(client, operator, make_staff, registry_list, county, finance):
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    town = make_staff("town_staff", town_id=county["towns"][1])
    body = client.get(f"{API}/lists/{list_id}/followup", headers=town.auth).json
    assert {i["name"] for i in body["items"]} == {"丁未激", "壬无卡"} and body["full_mobile"] is True
    own = client.get(f"{API}/lists/{list_id}/followup", headers=operator.auth).json
    assert own["count"] == 9 and own["full_mobile"] is False
    assert all(i["mobile"].startswith("*******") for i in own["items"])
    assert client.get(f"{API}/lists/{list_id}/followup", headers=finance.auth).json["count"] == 9
    other = make_staff("dept_operator", department_id=county["departments"]["县教育体育局"])
    assert client.get(f"{API}/lists/{list_id}/followup", headers=other.auth).status_code == 404
    assert client.post(f"{API}/lists/{list_id}/match", headers=other.auth).status_code == 404
    assert client.get(f"{API}/lists/{list_id}/summary", headers=other.auth).status_code == 404
    assert client.post(f"{API}/lists/{list_id}/match", headers=finance.auth).status_code == 403
    village = make_staff("village_staff", village_id=county["villages"][0])
    assert client.post(f"{API}/lists/{list_id}/match", headers=village.auth).status_code == 403
    assert client.get(f"{API}/lists/{list_id}/rows", headers=village.auth).status_code == 403


def test_admin_can_match_any_department_list(client, admin, registry_list):
    r = client.post(f"{API}/lists/{registry_list['list_id']}/match", headers=admin.auth)
    assert r.status_code == 200 and r.json["counts"]["usable"] == 2


def test_openapi_document_lists_the_list_endpoints(client, db):
    doc = client.get(f"{API}/openapi.json").json
    for path in ("/api/staff/v1/lists", "/api/staff/v1/lists/{list_id}/match",
                 "/api/staff/v1/lists/{list_id}/followup.xlsx", "/api/staff/v1/lists/template.xlsx"):
        assert path in doc["paths"], path



def test_followup_shows_who_applied_since_the_match(client, operator, make_staff, registry_list, county, citizen_env):
    """A resident who applied (assisted or not) after the match shows as 已申请, so nobody chases them again."""
    from onecard.actors import Actor
    from onecard.cards import applications
    from onecard.people.models import Resident
    from onecard.privacy import blind_index
    from onecard.reference.models import BankBranch
    list_id = registry_list["list_id"]
    client.post(f"{API}/lists/{list_id}/match", headers=operator.auth)
    village = make_staff("village_staff", village_id=county["villages"][0])
    before = {i["name"]: i for i in client.get(f"{API}/lists/{list_id}/followup", headers=village.auth).json["items"]}
    assert before["乙未申"]["since_match"] is None
    resident = db.session.execute(sa.select(Resident).where(
        Resident.id_bidx == blind_index(registry_list["people"]["not_applied"]["id"], "id"))).scalar_one()
    branch = db.session.execute(sa.select(BankBranch).where(BankBranch.bank_id == county["banks"]["ICBC"])
                                ).scalars().first()
    applications.apply_for_card(Actor(kind="citizen", id=resident.id, label="居民本人"), resident.id,
                                bank_id=county["banks"]["ICBC"], delivery="branch", branch_id=branch.id,
                                photo=b"\xff\xd8\xff" + b"\x00" * 100)
    after = {i["name"]: i for i in client.get(f"{API}/lists/{list_id}/followup", headers=village.auth).json["items"]}
    assert after["乙未申"]["since_match"].startswith("已申请（已提交")
    assert after["丙申领"]["since_match"] is None          # applied before the match: nothing new
