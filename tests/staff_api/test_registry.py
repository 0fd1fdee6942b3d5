"""Card registry import through the staff API: create, update in place, report what changed, refuse bad moves."""
from __future__ import annotations

import csv
import hashlib
import io
import json

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.audit import AuditEntry
from onecard.cards.models import Card
from onecard.people.models import Resident
from onecard.privacy import blind_index
from onecard.sheets import write_xlsx
from tests.factories import make_card, make_resident, new_account, new_id_number

API = "/api/staff/v1"
COLUMNS = ["姓名", "身份证号", "社保卡号", "发卡银行", "金融账号", "卡状态", "申领日期", "发卡日期", "激活日期",
           "镇街", "村（社区）", "手机号", "民族"]


def _csv(rows, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.get(c, "") for c in COLUMNS])
    return out.getvalue().encode(encoding)


def _upload(client, staff, data, name="制卡数据.csv"):
    return client.post(f"{API}/registry/imports", headers=staff.auth, data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _town_names(db, county):
    from onecard.reference.models import Town, Village
    t1 = db.session.get(Town, county["towns"][0]).name
    t2 = db.session.get(Town, county["towns"][1]).name
    v1 = db.session.get(Village, county["villages"][0]).name
    return t1, t2, v1


def _row(name, id_number, card, status="正常", bank="工行", account=None, town="", village="", **extra):
    return {"姓名": name, "身份证号": id_number, "社保卡号": card, "发卡银行": bank, "金融账号": account or "",
            "卡状态": status, "申领日期": "2025-03-01", "发卡日期": "2025/4/1", "激活日期": "20250502",
            "镇街": town, "村（社区）": village, "手机号": "13912345678", "民族": "汉族", **extra}


def _card(db, number):
    return db.session.execute(sa.select(Card).where(Card.card_bidx == blind_index(number, "card"))).scalar_one()


def test_first_import_creates_people_and_cards(client, county, admin, db):
    t1, t2, v1 = _town_names(db, county)
    ids = [new_id_number() for _ in range(3)]
    acc = new_account()
    data = _csv([_row("张三", ids[0], "A00000001", account=acc, town=t1, village=v1),
                 _row("李四", ids[1], "A00000002", status="已发放未激活", bank="中国农业银行泗水县支行", town=t2),
                 _row("王五", ids[2], "", status="未申领", bank="", town=t1)])
    r = _upload(client, admin, data)
    assert r.status_code == 201, r.json
    rep = r.json
    assert (rep["rows_total"], rep["rows_applied"], rep["new_residents"], rep["new_cards"]) == (3, 3, 3, 2)
    assert rep["error_count"] == 0 and rep["errors"] == []
    assert rep["file_sha256"] == hashlib.sha256(data).hexdigest()
    c1 = _card(db, "A00000001")
    assert c1.status == "active" and c1.account == acc and c1.bank_id == county["banks"]["ICBC"]
    assert c1.activated_at.date().isoformat() == "2025-05-02"
    p1 = db.session.get(Resident, c1.resident_id)
    assert p1.town_id == county["towns"][0] and p1.village_id == county["villages"][0] and p1.mobile_masked
    assert _card(db, "A00000002").bank_id == county["banks"]["ABC"]
    again = client.get(f"{API}/registry/imports/{rep['id']}", headers=admin.auth)
    assert again.status_code == 200 and again.json["new_cards"] == 2


def test_reimport_reports_what_changed_and_refuses_disallowed_moves(client, county, admin, db):
    t1, t2, _ = _town_names(db, county)
    people = [make_resident(county["towns"][0], name=n) for n in ("赵一", "钱二", "孙三", "周四", "吴五")]
    issued = make_card(people[0], county["banks"]["ICBC"], "issued")
    active = make_card(people[1], county["banks"]["ICBC"], "active")
    cancelled = make_card(people[2], county["banks"]["ICBC"], "cancelled")
    old = make_card(people[3], county["banks"]["CCB"], "lost")
    same = make_card(people[4], county["banks"]["ICBC"], "active", account=new_account())
    elsewhere = make_card(make_resident(county["towns"][1], name="卫十"), county["banks"]["BOC"], "active")
    new_acc = new_account()
    numbers = {c.id: c.card_number for c in (issued, active, cancelled, old, same, elsewhere)}
    rows = [
        _row("赵一", people[0].id_number, numbers[issued.id], status="正常", town=t1),             # issued -> active
        _row("钱二", people[1].id_number, numbers[active.id], status="active", account=new_acc, town=t1),  # account
        _row("孙三", people[2].id_number, numbers[cancelled.id], status="正常", town=t1),          # refused
        _row("周四", people[3].id_number, "B99999999", status="已发放未激活", bank="建行", town=t1),   # replacement
        _row("吴五", people[4].id_number, numbers[same.id], status="正常", bank="工商银行", account=same.account,
             town=t1),                                                                             # unchanged
        _row("郑六", new_id_number(), "C00000001", town="火星镇"),                                  # unknown town
        _row("冯七", "370831195003011234", "C00000002", town=t1),                                   # bad ID
        _row("陈八", people[0].id_number, numbers[elsewhere.id], town=t1),                              # another's card
        _row("褚九", new_id_number(), "C00000003", town=t2, 卡状态="丢了"),                          # bad status
    ]
    r = _upload(client, admin, _csv(rows, encoding="gb18030"))
    assert r.status_code == 201, r.json
    rep = r.json
    assert rep["rows_total"] == 9 and rep["rows_applied"] == 4, rep
    assert rep["new_residents"] == 0 and rep["new_cards"] == 1 and rep["replaced_cards"] == 1
    assert rep["status_change_detail"] == {"issued→active": 1, "lost→cancelled": 1}
    assert rep["status_changes"] == 2 and rep["account_changes"] == 1 and rep["unchanged"] == 1
    errors = {(e["row"], e["column"]) for e in rep["errors"]}
    assert errors == {(4, "卡状态"), (7, "镇街"), (8, "身份证号"), (9, "社保卡号"), (10, "卡状态")}
    assert rep["error_count"] == 5
    assert not any("370831195003011234" in json.dumps(e, ensure_ascii=False) for e in rep["errors"])
    db.session.expire_all()
    assert db.session.get(Card, issued.id).status == "active"
    assert db.session.get(Card, active.id).account == new_acc
    assert db.session.get(Card, cancelled.id).status == "cancelled"
    assert db.session.get(Card, old.id).status == "cancelled"
    new = _card(db, "B99999999")
    assert new.status == "issued" and new.replaces_card_id == old.id and new.bank_id == county["banks"]["CCB"]


def test_reimporting_the_same_file_changes_nothing(client, county, admin, db):
    t1, _, _ = _town_names(db, county)
    data = _csv([_row("张三", new_id_number(), "A00000001", account=new_account(), town=t1)])
    assert _upload(client, admin, data).json["new_cards"] == 1
    rep = _upload(client, admin, data).json
    assert (rep["new_residents"], rep["new_cards"], rep["status_changes"], rep["account_changes"],
            rep["unchanged"]) == (0, 0, 0, 0, 1)


def test_a_citizen_applied_card_takes_the_registry_number(client, county, admin, db):
    t1, _, _ = _town_names(db, county)
    person = make_resident(county["towns"][0], name="刘一")
    applied = make_card(person, county["banks"]["ICBC"], "applied")
    rep = _upload(client, admin, _csv([_row("刘一", person.id_number, "D00000001", status="待领取", town=t1)])).json
    assert rep["new_cards"] == 0 and rep["status_change_detail"] == {"applied→ready": 1}
    db.session.expire_all()
    card = db.session.get(Card, applied.id)
    assert card.card_number == "D00000001" and card.status == "ready"


def test_xlsx_and_duplicate_card_numbers_in_one_file(client, county, admin, db):
    t1, _, _ = _town_names(db, county)
    a, b = new_id_number(), new_id_number()
    rows = [[r[c] for c in COLUMNS] for r in (_row("张三", a, "A00000001", town=t1), _row("李四", b, "A00000001", town=t1))]
    rep = _upload(client, admin, write_xlsx(COLUMNS, rows), name="制卡.xlsx").json
    assert rep["new_cards"] == 1 and rep["error_count"] == 1 and rep["errors"][0]["row"] == 3


def test_missing_columns_refuse_the_whole_file(client, county, admin, db):
    r = _upload(client, admin, "姓名,身份证号\n张三,1\n".encode())
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"
    assert db.session.execute(sa.select(sa.func.count()).select_from(Resident)).scalar() == 0


def test_one_audit_entry_per_import(client, county, admin, db):
    t1, _, _ = _town_names(db, county)
    rows = [_row(n, new_id_number(), f"A0000000{i}", town=t1) for i, n in enumerate(("张三", "李四", "王五"))]
    rep = _upload(client, admin, _csv(rows)).json
    entries = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "registry.imported")).scalars().all()
    assert len(entries) == 1 and json.loads(entries[0].after)["new_cards"] == 3
    assert entries[0].entity_id == str(rep["id"])
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.entity_type == "card")).scalar() == 0


def test_registry_import_rematches_the_lists_of_the_current_and_next_period(client, county, admin, db,
                                                                            operator, project):
    """A resident listed as 未激活 becomes 可用 in the matched list when the import activates the card; a list of
    a long-gone period is not touched. Fails if re-matching cannot run (it is no longer optional)."""
    from onecard.lists.matching import current_and_next_periods
    from onecard.lists.models import RecipientRow
    from onecard.timeutil import local_today
    from tests.fixtures_lists import csv_bytes, upload
    t1, _, v1 = _town_names(db, county)
    person = make_resident(county["towns"][0], county["villages"][0], name="张三明")
    card = make_card(person, county["banks"]["ICBC"], "issued")
    this_month = local_today().strftime("%Y-%m")
    assert this_month in current_and_next_periods(local_today())
    list_ids = {}
    for period in (this_month, "2020-01"):
        row = ["张三明", person.id_number, "汉族", "13912345678", t1, v1, "工商银行", "", "100", ""]
        r = upload(client, operator, project.id, csv_bytes([row]), period=period)
        assert r.status_code == 201, r.json
        list_ids[period] = r.json["id"]
        assert client.post(f"{API}/lists/{r.json['id']}/match", headers=operator.auth).json["counts"][
            "not_activated"] == 1

    rep = _upload(client, admin, _csv([_row("张三明", person.id_number, card.card_number, status="正常",
                                            account=new_account(), town=t1)]))
    assert rep.status_code == 201, rep.json
    assert rep.json["rematch"] == "done"
    detail = rep.json["rematch_detail"]
    assert detail["lists_checked"] == 1 and detail["changed"] == 1
    assert detail["lists"][0]["list_id"] == list_ids[this_month]
    results = dict(db.session.execute(sa.select(RecipientRow.list_id, RecipientRow.match_result)).all())
    assert results == {list_ids[this_month]: "usable", list_ids["2020-01"]: "not_activated"}
    assert client.get(f"{API}/registry/imports/{rep.json['id']}", headers=admin.auth).json[
        "rematch_detail"]["changed"] == 1


def test_only_the_administrator_imports_and_reports_are_for_admin_and_auditor(client, county, admin, auditor,
                                                                              finance, make_staff, db):
    t1, _, _ = _town_names(db, county)
    data = _csv([_row("张三", new_id_number(), "A00000001", town=t1)])
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    for staff in (op, finance, auditor):
        assert _upload(client, staff, data).status_code == 403
    rid = _upload(client, admin, data).json["id"]
    assert client.get(f"{API}/registry/imports/{rid}", headers=auditor.auth).status_code == 200
    assert client.get(f"{API}/registry/imports/{rid}", headers=op.auth).status_code == 403
    assert client.get(f"{API}/registry/imports/999", headers=admin.auth).status_code == 404
    assert [i["id"] for i in client.get(f"{API}/registry/imports", headers=admin.auth).json] == [rid]


def test_template_has_the_documented_columns(client, county, admin):
    r = client.get(f"{API}/registry/template", headers=admin.auth)
    assert r.status_code == 200
    header = CalamineWorkbook.from_filelike(io.BytesIO(r.data)).get_sheet_by_index(0).to_python()[0]
    assert header == COLUMNS
