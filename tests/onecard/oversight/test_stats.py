"""Statistics against a small hand-checked county: every figure, its drill-down rows, scope and the xlsx."""
from __future__ import annotations

import io
from datetime import datetime

import openpyxl
import pytest

from tests.factories import make_card, make_resident

URL = "/api/staff/v1/oversight/stats"


@pytest.fixture
def world(ov, county):
    t0, t1 = county["towns"]
    v0, v1 = county["villages"]
    r1 = make_resident(t0, v0, name="张三明")
    r2 = make_resident(t0, v0, name="李四光")
    r3 = make_resident(t1, v1, name="王五")
    r4 = make_resident(t1, v1, name="赵六一")
    make_card(r1, ov.bank(), "active")
    make_card(r2, ov.bank(), "issued")
    make_card(r4, ov.bank(), "active")
    a = ov.project("县民政局", "高龄津贴")
    b = ov.project("县残疾人联合会", "重度残疾人护理补贴")
    ov.recipient_list(a, "2026-03", [(r1, 10000, "usable"), (r2, 10000, "not_activated"), (r3, 10000, "not_applied")])
    ov.recipient_list(b, "2026-03", [(r4, 9000, "usable")])
    ov.pay(r1, a, "2026-03", 10000, batch_id=1)                                       # 2 days
    failed = ov.pay(r2, a, "2026-03", 10000, batch_id=1, outcome="failed", failure_code="E01",
                    failure_reason="账户未激活")
    ov.pay(r2, a, "2026-03", 10000, batch_id=2, reissue_of=failed.line_id,
           approved_at=datetime(2026, 3, 10), occurred_at=datetime(2026, 3, 11))       # 1 day
    ov.pay(r3, a, "2026-03", 10000, batch_id=1, outcome="failed", failure_reason="户名不符")
    ov.pay(r4, b, "2026-03", 9000, batch_id=3, occurred_at=datetime(2026, 3, 5, 2, 0))  # 4 days
    return {"a": a, "b": b, "r": [r1, r2, r3, r4], "towns": (t0, t1)}


def _by_key(rows):
    return {r["key"]: r for r in rows}


def test_department_figures_match_the_hand_count(client, finance, world, ov):
    r = client.get(URL, headers=finance.auth, query_string={"dimension": "department"})
    assert r.status_code == 200, r.json
    rows = _by_key(r.json["dimensions"]["department"])
    mz = rows[str(ov.dept("县民政局"))]
    assert mz["label"] == "县民政局"
    assert (mz["recipients"], mz["matched_usable"], mz["activated"]) == (3, 1, 1)
    assert mz["matched_share"] == pytest.approx(0.3333) and mz["activated_share"] == pytest.approx(0.3333)
    assert (mz["batches"], mz["paid_count"], mz["paid_fen"], mz["failed_count"], mz["reissued_paid"]) == \
        (2, 2, 20000, 2, 1)
    assert mz["avg_days_to_arrival"] == pytest.approx(1.5)
    assert sorted((f["code"], f["reason"], f["count"]) for f in mz["failures"]) == \
        [("", "户名不符", 1), ("E01", "账户未激活", 1)]
    cl = rows[str(ov.dept("县残疾人联合会"))]
    assert (cl["recipients"], cl["matched_usable"], cl["activated"], cl["batches"], cl["paid_count"],
            cl["paid_fen"], cl["failed_count"], cl["avg_days_to_arrival"]) == (1, 1, 1, 1, 1, 9000, 0, 4.0)


def test_town_village_bank_month_and_project_dimensions(client, finance, world, ov):
    dims = client.get(URL, headers=finance.auth).json["dimensions"]
    assert set(dims) == {"department", "project", "town", "village", "bank", "month"}
    t0, t1 = world["towns"]
    towns = _by_key(dims["town"])
    assert (towns[str(t0)]["recipients"], towns[str(t0)]["batches"], towns[str(t0)]["paid_count"],
            towns[str(t0)]["failed_count"], towns[str(t0)]["avg_days_to_arrival"]) == (2, 2, 2, 1, 1.5)
    assert (towns[str(t1)]["recipients"], towns[str(t1)]["batches"], towns[str(t1)]["paid_fen"],
            towns[str(t1)]["failed_count"], towns[str(t1)]["avg_days_to_arrival"]) == (2, 2, 9000, 1, 4.0)
    month = _by_key(dims["month"])["2026-03"]
    assert (month["recipients"], month["matched_usable"], month["activated"], month["batches"], month["paid_count"],
            month["paid_fen"], month["failed_count"], month["reissued_paid"]) == (4, 2, 2, 3, 3, 29000, 2, 1)
    assert month["avg_days_to_arrival"] == pytest.approx(2.33)
    bank = _by_key(dims["bank"])[str(ov.bank())]
    assert bank["paid_fen"] == 29000 and bank["label"] == "农商银行"
    project = _by_key(dims["project"])[str(world["a"].id)]
    assert project["label"] == "高龄津贴" and project["reissued_paid"] == 1
    assert sum(v["recipients"] for v in dims["village"]) == 4


def test_every_figure_drills_down_to_masked_rows(client, finance, world, ov):
    t0, _ = world["towns"]
    r = client.get(URL + "/rows", headers=finance.auth,
                   query_string={"dimension": "town", "key": t0, "measure": "failed"})
    assert r.status_code == 200, r.json
    assert r.json["total"] == 1
    item = r.json["items"][0]
    assert item["name"] == "李*光" and item["failure_code"] == "E01" and item["outcome"] == "failed"
    assert "*" in item["id_number"] and world["r"][1].id_number not in r.get_data(as_text=True)

    dept = ov.dept("县民政局")
    r = client.get(URL + "/rows", headers=finance.auth,
                   query_string={"dimension": "department", "key": dept, "measure": "recipients"})
    assert r.json["total"] == 3 and {i["name"] for i in r.json["items"]} == {"张*明", "李*光", "王*"}
    body = r.get_data(as_text=True)
    for resident in world["r"]:
        assert resident.id_number not in body
    for measure, expected in (("matched", 1), ("activated", 1), ("paid", 2), ("reissued", 1), ("arrival", 2),
                              ("ledger", 4)):
        r = client.get(URL + "/rows", headers=finance.auth,
                       query_string={"dimension": "department", "key": dept, "measure": measure})
        assert r.json["total"] == expected, measure
    r = client.get(URL + "/rows", headers=finance.auth,
                   query_string={"dimension": "month", "key": "2026-03", "measure": "failed", "failure_code": ""})
    assert r.json["total"] == 1 and r.json["items"][0]["failure_reason"] == "户名不符"


def test_bad_drilldown_is_refused_cleanly(client, finance, world):
    r = client.get(URL + "/rows", headers=finance.auth,
                   query_string={"dimension": "county", "key": "1", "measure": "paid"})
    assert r.status_code == 422
    r = client.get(URL + "/rows", headers=finance.auth,
                   query_string={"dimension": "town", "key": "abc", "measure": "paid"})
    assert r.status_code == 422 and r.json["error"]["code"] == "key_invalid"


def test_department_sees_only_its_own_figures(client, make_staff, world, ov):
    op = make_staff("dept_operator", department_id=ov.dept("县残疾人联合会"))
    dims = client.get(URL, headers=op.auth).json["dimensions"]
    assert [r["key"] for r in dims["department"]] == [str(ov.dept("县残疾人联合会"))]
    assert sum(r["paid_fen"] for r in dims["town"]) == 9000
    r = client.get(URL + "/rows", headers=op.auth,
                   query_string={"dimension": "department", "key": ov.dept("县民政局"), "measure": "paid"})
    assert r.json["total"] == 0


def test_bank_and_village_staff_have_no_statistics(client, make_staff, county, world):
    bank = make_staff("bank_operator", bank_id=county["banks"]["RCB"])
    assert client.get(URL, headers=bank.auth).status_code == 403


def test_xlsx_export_has_every_dimension_and_neutralises_formulas(client, finance, world, ov, county):
    evil = ov.project("县民政局", "=HYPERLINK(\"http://x\")")
    r0 = world["r"][0]
    ov.pay(r0, evil, "2026-04", 500, batch_id=9)
    r = client.get(URL + ".xlsx", headers=finance.auth)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    assert {"部门", "项目", "镇街", "村（社区）", "银行", "月份", "失败原因"} <= set(book.sheetnames)
    labels = [row[0].value for row in book["项目"].iter_rows(min_row=2)]
    assert "'=HYPERLINK(\"http://x\")" in labels
    assert all(cell.data_type != "f" for row in book["项目"].iter_rows() for cell in row)


def test_dimensions_can_be_chosen_and_are_documented(client, finance, world):
    r = client.get("/api/staff/v1/openapi.json")
    assert "/api/staff/v1/oversight/stats/rows" in r.json["paths"] and "/api/staff/v1/audit/entries" in r.json["paths"]
    r = client.get(URL + "?dimension=town&dimension=bank", headers=finance.auth)
    assert r.status_code == 200 and set(r.json["dimensions"]) == {"town", "bank"}
    assert client.get(URL + "?dimension=galaxy", headers=finance.auth).status_code == 422
