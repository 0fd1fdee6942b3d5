"""Scope proof: for every staff role, what it may and may not do on projects, the registry, contacts and accounts.

403 outside the role, 404 outside the scope where another department's record must
not be confirmed to exist, and 2xx inside. One world per role, every endpoint tried.
"""
from __future__ import annotations

import io

import pytest

from onecard.contacts import service as contacts
from onecard.projects import service as projects
from onecard.registry import service as registry
from tests.conftest import TEST_PASSWORD

API = "/api/staff/v1"
ROLES = ["admin", "dept_operator", "dept_reviewer", "finance", "bank_operator", "town_staff", "village_staff",
         "auditor"]
DEPT_ROLES = {"dept_operator", "dept_reviewer"}
OWN, OTHER = "县民政局", "县农业农村局"


def _expected(role: str) -> dict:
    dept = role in DEPT_ROLES

    def only(*roles, ok=200, no=403):
        return ok if role in roles else no

    return {
        "list_projects": 200,
        "get_own_project": 200,
        "get_other_project": 404 if dept else 200,
        "register_project": only("admin", "dept_operator", ok=201),
        "edit_own_project": only("admin", "dept_operator"),
        "edit_other_project": 200 if role == "admin" else 404 if role == "dept_operator" else 403,
        "code_project": only("admin"),
        "retire_project": only("admin"),
        "export_projects": 200,
        "import_registry": only("admin", ok=201),
        "read_registry_report": only("admin", "auditor"),
        "registry_template": 200,
        "list_contacts": 200,
        "get_other_contact": 404 if dept else 200,
        "create_contact": only("admin", "dept_operator", ok=201),
        "edit_other_contact": 200 if role == "admin" else 404 if role == "dept_operator" else 403,
        "list_accounts": only("admin", "auditor"),
        "create_account": only("admin", ok=201),
    }


@pytest.fixture
def world(county, admin, db):
    """Two departments' projects and contacts, and one registry import, made by the administrator."""
    a = admin.actor
    own, other = county["departments"][OWN], county["departments"][OTHER]
    base = {"cycle": "按月", "level": "县级", "bank": "农商行", "standard": "100"}
    p_own = projects.register_project(a, {**base, "department_id": own, "category": "社会救助", "name": "城乡低保金"})
    p_own2 = projects.register_project(a, {**base, "department_id": own, "category": "社会救助", "name": "临时救助"})
    projects.code_project(a, p_own2.id)
    p_other = projects.register_project(a, {**base, "department_id": other, "category": "耕地", "name": "地力补贴"})
    contact = {"kind": "contact", "name": "颜明", "position": "股长", "phone": "13905371234"}
    c_own = contacts.create_contact(a, {**contact, "department_id": own})
    c_other = contacts.create_contact(a, {**contact, "department_id": other})
    report = registry.import_registry(a, io.BytesIO("姓名,身份证号,社保卡号,发卡银行,卡状态,镇街\n".encode()), "x.csv")
    return {"own": own, "p_own": p_own.id, "p_own2": p_own2.id, "p_other": p_other.id, "c_own": c_own.id,
            "c_other": c_other.id, "import": report.id}


def _staff(make_staff, county, role):
    scope = {"dept_operator": {"department_id": county["departments"][OWN]},
             "dept_reviewer": {"department_id": county["departments"][OWN]},
             "bank_operator": {"bank_id": county["banks"]["RCB"]},
             "town_staff": {"town_id": county["towns"][0]},
             "village_staff": {"village_id": county["villages"][0]}}.get(role, {})
    return make_staff(role, f"scope_{role}", **scope)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_gets_exactly_its_rights(role, client, county, make_staff, world, admin):
    staff = admin if role == "admin" else _staff(make_staff, county, role)
    h = staff.auth
    new_project = {"category": "新大类", "name": f"新项目{role}", "cycle": "按年", "level": "村级", "bank": ""}
    if role == "admin":
        new_project["department_id"] = world["own"]
    new_contact = {"kind": "leader", "name": "孔繁华", "position": "副局长", "phone": "0537-4221234"}
    if role == "admin":
        new_contact["department_id"] = world["own"]
    csv_file = "姓名,身份证号,社保卡号,发卡银行,卡状态,镇街\n".encode()
    calls = {
        "list_projects": lambda: client.get(f"{API}/projects", headers=h),
        "get_own_project": lambda: client.get(f"{API}/projects/{world['p_own']}", headers=h),
        "get_other_project": lambda: client.get(f"{API}/projects/{world['p_other']}", headers=h),
        "register_project": lambda: client.post(f"{API}/projects", headers=h, json=new_project),
        "edit_own_project": lambda: client.patch(f"{API}/projects/{world['p_own']}", headers=h,
                                                 json={"standard": "120"}),
        "edit_other_project": lambda: client.patch(f"{API}/projects/{world['p_other']}", headers=h,
                                                   json={"standard": "120"}),
        "code_project": lambda: client.post(f"{API}/projects/{world['p_own']}/code", headers=h),
        "retire_project": lambda: client.post(f"{API}/projects/{world['p_own2']}/retire", headers=h, json={}),
        "export_projects": lambda: client.get(f"{API}/projects/export", headers=h),
        "import_registry": lambda: client.post(f"{API}/registry/imports", headers=h, content_type="multipart/form-data",
                                               data={"file": (io.BytesIO(csv_file), "r.csv")}),
        "read_registry_report": lambda: client.get(f"{API}/registry/imports/{world['import']}", headers=h),
        "registry_template": lambda: client.get(f"{API}/registry/template", headers=h),
        "list_contacts": lambda: client.get(f"{API}/contacts", headers=h),
        "get_other_contact": lambda: client.get(f"{API}/contacts/{world['c_other']}", headers=h),
        "create_contact": lambda: client.post(f"{API}/contacts", headers=h, json=new_contact),
        "edit_other_contact": lambda: client.patch(f"{API}/contacts/{world['c_other']}", headers=h,
                                                   json={"note": "改"}),
        "list_accounts": lambda: client.get(f"{API}/accounts", headers=h),
        "create_account": lambda: client.post(f"{API}/accounts", headers=h, json={
            "username": f"new_{role}", "display_name": "新人", "role": "finance", "password": TEST_PASSWORD + "x"}),
    }
    got = {name: call().status_code for name, call in calls.items()}
    assert got == _expected(role)


@pytest.mark.parametrize("role", ROLES)
def test_lists_show_only_what_the_role_may_see(role, client, county, make_staff, world, admin):
    staff = admin if role == "admin" else _staff(make_staff, county, role)
    seen_projects = {p["id"] for p in client.get(f"{API}/projects", headers=staff.auth).json}
    seen_contacts = {c["id"] for c in client.get(f"{API}/contacts", headers=staff.auth).json}
    if role in DEPT_ROLES:
        assert seen_projects == {world["p_own"], world["p_own2"]}
        assert seen_contacts == {world["c_own"]}
    else:
        assert seen_projects == {world["p_own"], world["p_own2"], world["p_other"]}
        assert seen_contacts == {world["c_own"], world["c_other"]}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_refusals_name_the_reason(role, client, county, make_staff, world):
    staff = _staff(make_staff, county, role)
    r = client.post(f"{API}/projects/{world['p_own']}/code", headers=staff.auth)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden_role"
