"""Pilot progress against the plan's timetable, evaluated on a fixed "today"."""
from __future__ import annotations

from datetime import datetime

import pytest

from onecard.oversight import progress
from tests.factories import make_resident

URL = "/api/staff/v1/oversight/progress"


@pytest.fixture
def departments(ov, county, make_staff):
    """民政局 did everything on time; 残联 registered a project but is behind; 教体局 has done nothing."""
    t, v = county["towns"][0], county["villages"][0]
    mz = ov.project("县民政局", "高龄津贴", created_at=datetime(2021, 8, 20))
    r = make_resident(t, v)
    ov.recipient_list(mz, "2021-09", [(r, 10000, "usable")], matched_at=datetime(2021, 9, 10))
    ov.pay(r, mz, "2021-09", 10000, approved_at=datetime(2021, 10, 8), occurred_at=datetime(2021, 10, 9))
    make_staff("dept_operator", department_id=ov.dept("县民政局"))
    ov.project("县残疾人联合会", "护理补贴", status="registered", created_at=datetime(2021, 9, 1))
    return ov


def _steps(body, name):
    dept = next(d for d in body["departments"] if d["department"] == name)
    return {s["step"]: s["status"] for s in dept["steps"]}


def test_statuses_on_a_fixed_day_in_november(client, finance, departments):
    r = client.get(URL, headers=finance.auth, query_string={"year": 2021, "today": "2021-11-15"})
    assert r.status_code == 200, r.json
    body = r.json
    assert [s["deadline"] for s in body["timetable"]] == ["2021-09-30", "2021-09-30", "2021-10-31", "2021-12-31"]
    assert _steps(body, "县民政局") == {"projects": "done", "matching": "done", "payment": "done", "platform": "done"}
    assert _steps(body, "县残疾人联合会") == {"projects": "done", "matching": "overdue", "payment": "overdue",
                                        "platform": "not_yet_due"}
    assert _steps(body, "县教育体育局") == {
        "projects": "overdue", "matching": "overdue", "payment": "overdue", "platform": "not_yet_due"}
    # Only business departments are measured (not the two coordinating bureaus).
    assert {d["department"] for d in body["departments"]}.isdisjoint({"县财政局", "县人力资源社会保障局"})


def test_before_september_nothing_is_overdue(client, finance, departments):
    body = client.get(URL, headers=finance.auth, query_string={"year": 2021, "today": "2021-08-31"}).json
    assert all(s["status"] != "overdue" for d in body["departments"] for s in d["steps"])


def test_after_year_end_the_platform_step_is_overdue_without_accounts(client, finance, departments):
    body = client.get(URL, headers=finance.auth, query_string={"year": 2021, "today": "2022-01-01"}).json
    assert _steps(body, "县残疾人联合会")["platform"] == "overdue"
    assert _steps(body, "县民政局")["platform"] == "done"


def test_late_completion_is_flagged(client, finance, ov, county):
    t, v = county["towns"][0], county["villages"][0]
    p = ov.project("县民政局", "高龄津贴", created_at=datetime(2021, 11, 2))
    r = make_resident(t, v)
    ov.pay(r, p, "2021-11", 10000, occurred_at=datetime(2021, 11, 20))
    body = client.get(URL, headers=finance.auth, query_string={"year": 2021, "today": "2021-12-01"}).json
    mz = next(d for d in body["departments"] if d["department"] == "县民政局")
    step = next(s for s in mz["steps"] if s["step"] == "projects")
    assert step["status"] == "done" and step["late"] and step["done_on"] == "2021-11-02"


def test_default_year_is_the_first_project_year(departments, db):
    assert progress.default_year() == 2021


def test_department_sees_only_itself(client, make_staff, departments, ov):
    op = make_staff("dept_reviewer", department_id=ov.dept("县残疾人联合会"))
    body = client.get(URL, headers=op.auth, query_string={"year": 2021, "today": "2021-11-15"}).json
    assert [d["department"] for d in body["departments"]] == ["县残疾人联合会"]


def test_bad_year_is_refused(client, finance, departments):
    assert client.get(URL, headers=finance.auth, query_string={"year": 1999}).status_code == 422
