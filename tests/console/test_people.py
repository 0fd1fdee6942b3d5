"""Console pages for master data: places, households (import with inline errors, single edits), groups,
proxies, residents and deaths, each within the position's scope."""
from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa

from onecard.people.models import Household, ProxyAppointment, Resident, ResidentCategory
from onecard.reference.models import Department, Town, Village
from onecard.sheets import write_csv
from onecard.validation import make_id_number
from tests.console.test_auth import hidden, login

HEADERS = ["户号", "户主身份证号", "与户主关系", "姓名", "身份证号", "镇街", "村（社区）", "地址"]


def _post_file(client, url, page, data: bytes, name="f.csv", **fields):
    return client.post(url, content_type="multipart/form-data",
                       data={**hidden(page), **fields, "file": (io.BytesIO(data), name)})


def _dept(db, code):
    return db.session.execute(sa.select(Department.id).where(Department.code == code)).scalar_one()


def test_admin_keeps_towns_and_villages_from_the_console(client, db, admin):
    login(client, admin.username)
    page = client.get("/console/places")
    assert page.status_code == 200 and "按统计用区划代码表导入" in page.get_data(as_text=True)
    assert client.get("/console/places/template.xlsx").status_code == 200
    data = write_csv(["统计用区划代码", "城乡分类代码", "名称"], [["370831100201", "220", "卞桥村委会"]])
    r = _post_file(client, "/console/places/import", page, data)
    assert r.status_code == 302, r.get_data(as_text=True)
    village = db.session.execute(sa.select(Village)).scalar_one()
    page = client.get(f"/console/places?town_id={village.town_id}")
    assert "卞桥村委会" in page.get_data(as_text=True)
    r = client.post("/console/places/villages/rename", data={**hidden(page), "village_id": str(village.id),
                                                             "name": "卞桥村"})
    assert r.status_code == 302
    db.session.refresh(village)
    assert village.name == "卞桥村"
    bad = _post_file(client, "/console/places/import", client.get("/console/places"),
                     write_csv(["统计用区划代码", "名称"], [["12345", "甲村"]]))
    assert bad.status_code == 422 and 'id="import-errors"' in bad.get_data(as_text=True)


def test_civil_affairs_imports_households_and_keeps_groups_and_proxies(client, db, make_staff):
    civil = make_staff("dept_operator", department_id=_dept(db, "03"))
    login(client, civil.username)
    assert "家庭户与户主" in client.get("/console/").get_data(as_text=True)
    page = client.get("/console/people/households")
    assert page.status_code == 200 and "导入家庭户" in page.get_data(as_text=True)
    assert client.get("/console/people/households/template.xlsx").status_code == 200
    head, wife = (make_id_number("370831", date(1960, 1, 1), i) for i in (11, 12))
    bad_id = head[:17] + ("0" if head[17] != "0" else "1")
    r = _post_file(client, "/console/people/households/import", page, write_csv(HEADERS, [
        ["H1", "", "户主", "张大山", head, "泉林镇", "", ""], ["H1", "", "配偶", "李秀英", bad_id, "泉林镇", "", ""]]))
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="import-errors"' in text and "<td>身份证号</td>" in text
    assert bad_id not in text
    assert db.session.execute(sa.select(sa.func.count(Household.id))).scalar() == 0
    r = _post_file(client, "/console/people/households/import", client.get("/console/people/households"),
                   write_csv(HEADERS, [["H1", "", "户主", "张大山", head, "泉林镇", "", ""],
                                       ["H1", "", "配偶", "李秀英", wife, "泉林镇", "", ""]]))
    assert r.status_code == 302, r.get_data(as_text=True)
    hid = db.session.execute(sa.select(Household.id)).scalar_one()
    detail = client.get(f"/console/people/households/{hid}")
    assert "成员变动历史" in detail.get_data(as_text=True) and head not in detail.get_data(as_text=True)

    page = client.get("/console/people/groups")
    r = client.post("/console/people/groups", data={**hidden(page), "id_number": wife, "category": "dibao",
                                                    "certificate_no": "泗民低1号", "since": "2026-01-01"})
    assert r.status_code == 302
    assert db.session.execute(sa.select(ResidentCategory.category)).scalar_one() == "dibao"
    page = client.get("/console/people/proxies")
    r = client.post("/console/people/proxies", data={**hidden(page), "ward_id_number": head, "proxy_id_number": wife,
                                                     "legal_basis": "X", "appointed_by": "法院"})
    assert r.status_code == 422 and "不能指定代管代持" in r.get_data(as_text=True)     # head is in no group
    r = client.post("/console/people/proxies", data={**hidden(page), "ward_id_number": wife, "proxy_id_number": head,
                                                     "legal_basis": "（2026）鲁0831民特1号", "appointed_by": "法院"})
    assert r.status_code == 302
    assert db.session.execute(sa.select(sa.func.count(ProxyAppointment.id))).scalar() == 1

    page = client.get("/console/people/residents")
    r = client.post("/console/people/deaths", data={**hidden(page), "id_number": head, "died_on": "2026-05-01",
                                                    "source": "minzheng", "document": "泗民殡1号"})
    assert r.status_code == 302
    assert db.session.execute(sa.select(Household.head_id)).scalar() is None


def test_town_staff_see_only_their_town_and_cannot_record_groups(client, db, make_staff, admin):
    towns = dict(db.session.execute(sa.select(Town.name, Town.id)).all())
    mine = make_staff("town_staff", town_id=towns["泉林镇"])
    other = make_staff("town_staff", town_id=towns["泗张镇"])
    for code, town in (("H1", "泉林镇"), ("H2", "泗张镇")):
        db.session.add(Household(code=code, town_id=towns[town]))
    db.session.commit()
    login(client, mine.username)
    text = client.get("/console/people/households").get_data(as_text=True)
    assert ">H1<" in text and ">H2<" not in text
    assert "登记认定" not in client.get("/console/people/groups").get_data(as_text=True)
    page = client.get("/console/people/households")
    member = make_id_number("370831", date(1990, 1, 1), 5)
    r = client.post("/console/people/households", data={**hidden(page), "code": "H3", "town_id": str(towns["泗张镇"]),
                                                        "members": f"{member},王五,户主"})
    assert r.status_code == 403
    r = client.post("/console/people/households", data={**hidden(page), "code": "H3", "town_id": str(towns["泉林镇"]),
                                                        "members": f"{member},王五,户主"})
    assert r.status_code == 302
    assert db.session.execute(sa.select(Resident.town_id).where(Resident.name == "王五")).scalar() == towns["泉林镇"]
    assert other.town_id != mine.town_id
