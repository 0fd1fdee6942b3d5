"""The console's 互斥补贴规则 page: the bureau's administrator records a rule with its source and retires it;
a department sees the rules but has no form; a bank has no such page."""
from __future__ import annotations

import re

from onecard.exclusions.models import ExclusionRule
from tests.console.test_oversight import _form
from tests.console.test_pages import signed_in
from tests.fixtures_payments import make_project


def test_the_administrator_records_and_retires_an_exclusion_rule(client, db, make_staff, county):
    civil, rcb = county["departments"]["县民政局"], county["banks"]["RCB"]
    tekun, dibao = make_project(civil, rcb, "特困人员救助供养金"), make_project(civil, rcb, "最低生活保障金")
    signed_in(client, make_staff, "admin")
    guard = _form(client, "/console/exclusion-rules", "/console/exclusion-rules")
    r = client.post("/console/exclusion-rules", data={**guard, "name": "特困与低保", "scope": "person",
                                                       "source": "鲁民〔2021〕12号",
                                                       "project_ids": [str(tekun.id), str(dibao.id)]})
    assert r.status_code == 302
    page = client.get("/console/exclusion-rules").get_data(as_text=True)
    assert "互斥规则已登记" in page and "特困人员救助供养金、最低生活保障金" in page and "鲁民〔2021〕12号" in page
    rule = db.session.query(ExclusionRule).one()
    action = f"/console/exclusion-rules/{rule.id}/retire"
    guard = _form(client, "/console/exclusion-rules", action)
    client.post(action, data={**guard, "reason": "政策调整"})
    db.session.expire_all()
    assert db.session.get(ExclusionRule, rule.id).status == "retired"
    # One project only: refused with the service's message, nothing stored.
    guard = _form(client, "/console/exclusion-rules", "/console/exclusion-rules")
    r = client.post("/console/exclusion-rules", data={**guard, "name": "x", "source": "y",
                                                       "project_ids": [str(tekun.id)]}, follow_redirects=True)
    assert "至少包含两个" in r.get_data(as_text=True) and db.session.query(ExclusionRule).count() == 1

    department = client.application.test_client()
    signed_in(department, make_staff, "dept_operator", department_id=civil)
    html = department.get("/console/exclusion-rules").get_data(as_text=True)
    assert "特困与低保" in html and not re.search(r'action="/console/exclusion-rules"', html)
    bank = client.application.test_client()
    signed_in(bank, make_staff, "bank_operator", bank_id=rcb)
    assert bank.get("/console/exclusion-rules").status_code == 403
