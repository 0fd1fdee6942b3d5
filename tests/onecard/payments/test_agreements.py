"""Agency agreements (代发协议) and passbook accounts through the API."""
from __future__ import annotations

from tests.fixtures_payments import make_project

API = "/api/staff/v1"


def _body(project_ids, bank_id, **extra):
    return {"number": "XY-2026-001", "bank_id": bank_id, "project_ids": project_ids,
            "payment_schedule": "每月10日前", "fund_supervision": "财政专户监管", "reconciliation_method": "逐笔回盘",
            "valid_from": "2026-01-01", "valid_until": "2027-12-31", **extra}


def test_operator_registers_own_departments_agreement_and_bank_sees_it(client, db, county, make_staff):
    hrss = county["departments"]["县人力资源社会保障局"]
    rcb = county["banks"]["RCB"]
    p = make_project(hrss, rcb, "城乡居民基础养老金")
    op = make_staff("dept_operator", department_id=hrss)
    r = client.post(f"{API}/agreements", headers=op.auth, json=_body([p.id], rcb))
    assert r.status_code == 201, r.json
    assert r.json["project_ids"] == [p.id] and r.json["status"] == "active"
    again = client.post(f"{API}/agreements", headers=op.auth, json=_body([p.id], rcb))
    assert again.status_code == 409 and again.json["error"]["code"] == "agreement_number_taken"
    bank = make_staff("bank_operator", bank_id=rcb)
    other_bank = make_staff("bank_operator", bank_id=county["banks"]["ABC"])
    assert len(client.get(f"{API}/agreements", headers=bank.auth).json) == 1
    assert client.get(f"{API}/agreements", headers=other_bank.auth).json == []


def test_agreement_refuses_other_departments_projects_and_bad_dates(client, db, county, make_staff):
    hrss, agri = county["departments"]["县人力资源社会保障局"], county["departments"]["县农业农村局"]
    rcb = county["banks"]["RCB"]
    foreign = make_project(agri, rcb, "耕地地力保护补贴")
    op = make_staff("dept_operator", department_id=hrss)
    r = client.post(f"{API}/agreements", headers=op.auth, json=_body([foreign.id], rcb))
    assert r.status_code == 422 and r.json["error"]["code"] == "agreement_project_scope"
    own = make_project(hrss, rcb, "高龄津贴")
    r = client.post(f"{API}/agreements", headers=op.auth, json=_body([own.id], rcb, valid_until="2025-01-01"))
    assert r.status_code == 422 and r.json["error"]["code"] == "agreement_validity"
    r = client.post(f"{API}/agreements", headers=op.auth, json=_body([own.id], rcb, department_id=agri))
    assert r.status_code == 403


def test_passbook_account_is_stored_masked(client, db, county, make_staff):
    from tests.factories import make_resident, new_account
    from tests.fixtures_payments import make_list, make_project
    r0 = make_resident(county["towns"][0], county["villages"][0])
    agri = county["departments"]["县农业农村局"]
    make_list(make_project(agri, county["banks"]["ABC"], "耕地地力保护补贴", via_passbook=True), [(r0, 8800, "usable")])
    op = make_staff("dept_operator", department_id=agri)
    acct = new_account()
    r = client.post(f"{API}/passbook-accounts", headers=op.auth,
                    json={"resident_id": r0.id, "bank_id": county["banks"]["ABC"], "account": acct})
    assert r.status_code == 201 and r.json["account_last4"] == acct[-4:] and acct not in r.get_data(as_text=True)
    r = client.post(f"{API}/passbook-accounts", headers=op.auth,
                    json={"resident_id": r0.id, "bank_id": county["banks"]["ABC"], "account": acct})
    assert r.status_code == 409


def test_a_department_records_passbooks_only_for_its_own_recipients_at_its_passbook_banks(client, db, county,
                                                                                           make_staff, admin):
    from tests.factories import make_resident, new_account
    from tests.fixtures_payments import make_list, make_project
    agri, civil = county["departments"]["县农业农村局"], county["departments"]["县民政局"]
    mine, theirs = (make_resident(county["towns"][0], county["villages"][0]) for _ in range(2))
    make_list(make_project(agri, county["banks"]["ABC"], "耕地地力保护补贴", via_passbook=True), [(mine, 8800, "usable")])
    make_list(make_project(civil, county["banks"]["ABC"], "高龄津贴", via_passbook=True), [(theirs, 10000, "usable")])
    op = make_staff("dept_operator", department_id=agri)

    def register(who, resident_id, bank):
        return client.post(f"{API}/passbook-accounts", headers=who.auth,
                           json={"resident_id": resident_id, "bank_id": county["banks"][bank], "account": new_account()})
    r = register(op, theirs.id, "ABC")
    assert r.status_code == 404 and r.json["error"]["code"] == "resident_not_in_scope"
    r = register(op, mine.id, "ICBC")
    assert r.status_code == 422 and r.json["error"]["field"] == "bank_id"
    r = register(op, 10**6, "ABC")
    assert r.status_code == 404 and r.json["error"]["field"] == "resident_id"
    assert register(op, mine.id, "ABC").status_code == 201
    assert register(admin, theirs.id, "ICBC").status_code == 201          # the bureau may, for anyone


def test_the_bureau_names_the_agreements_department_and_an_unknown_one_is_refused(client, db, county, admin):
    hrss, rcb = county["departments"]["县人力资源社会保障局"], county["banks"]["RCB"]
    own = make_project(hrss, rcb, "高龄津贴")
    r = client.post(f"{API}/agreements", headers=admin.auth, json=_body([own.id], rcb))
    assert r.status_code == 422 and r.json["error"]["field"] == "department_id"
    assert r.json["error"]["code"] == "department_required"
    r = client.post(f"{API}/agreements", headers=admin.auth, json=_body([own.id], rcb, department_id=999_999))
    assert r.status_code == 422 and r.json["error"]["code"] == "department_unknown"
    r = client.post(f"{API}/agreements", headers=admin.auth, json=_body([own.id], rcb, department_id=hrss))
    assert r.status_code == 201, r.json
