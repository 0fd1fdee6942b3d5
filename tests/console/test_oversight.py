"""Oversight console pages: statistics with drill-down, progress, risk checks, 公示, audit trail, complaints and
card applications; each through the same services as the API, refused to the wrong role, acting once."""
from __future__ import annotations

import re

import sqlalchemy as sa

from onecard.actors import SYSTEM
from onecard.audit import AuditEntry
from onecard.cards.models import CardApplication
from onecard.complaints import service as complaints
from onecard.oversight.models import Disclosure, RiskFinding, RiskRun
from tests.console.test_auth import hidden
from tests.console.test_pages import menu_keys, signed_in
from tests.factories import make_card, make_resident

READ_ACTION = "audit.read"


def _form(client, url: str, action: str) -> dict:
    """The guard fields of the form posting to ``action`` on page ``url``."""
    html = client.get(url).get_data(as_text=True)
    start = html.index(f'action="{action}"')
    chunk = html[start:html.index("</form>", start)]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', chunk))


def _paid_data(ov, county):
    t, v = county["towns"][0], county["villages"][0]
    elder = ov.project("县民政局", "高龄津贴", standard_fen=10000)
    a = make_resident(t, v, name="孔令秀")
    b = make_resident(t, v, name="孟庆华")
    ov.recipient_list(elder, "2026-03", [(a, 10000, "usable"), (b, 10000, "usable")])
    ov.pay(a, elder, "2026-03", 10000, batch_id=1)
    ov.pay(a, elder, "2026-03", 10000, batch_id=2)        # a duplicate payment: a risk finding
    ov.pay(b, elder, "2026-03", 10000, outcome="failed", failure_code="account_closed", failure_reason="账户已销户")
    return elder


def test_menus_show_the_oversight_entries_by_role(app, make_staff, county):
    dept = county["departments"]["县民政局"]
    cases = [("finance", {}, {"stats", "progress", "risk", "disclosure", "complaints", "card_applications"}, {"audit"}),
             ("auditor", {}, {"stats", "audit", "risk"}, set()),
             ("dept_reviewer", {"department_id": dept}, {"stats", "progress", "complaints", "disclosure"},
              {"card_applications", "audit"}),
             # a bank answers the account problems routed to it (complaints as cases)
             ("bank_operator", {"bank_id": county["banks"]["ICBC"]}, {"card_applications", "complaints"},
              {"stats", "risk", "disclosure", "progress"})]
    for role, scope, has, lacks in cases:
        client = app.test_client()
        signed_in(client, make_staff, role, **scope)
        keys = menu_keys(client)
        assert has <= keys, (role, has - keys)
        assert not (lacks & keys), (role, lacks & keys)


def test_stats_table_links_each_figure_to_its_rows_and_draws_charts(client, make_staff, county, ov):
    _paid_data(ov, county)
    signed_in(client, make_staff, "finance")
    page = client.get("/console/stats?dimension=town").get_data(as_text=True)
    assert page.count('<svg') >= 2 and "账户已销户" in page
    links = re.findall(r'href="(/console/stats/rows\?[^"]+measure=failed[^"]*)"', page)
    assert links
    rows = client.get(links[0].replace("&amp;", "&"))
    text = rows.get_data(as_text=True)
    assert rows.status_code == 200 and "孟*" in text and "孟庆华" not in text     # masked
    xlsx = client.get("/console/stats.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get("/console/stats?dimension=planet").status_code == 422
    assert client.get("/console/stats/rows?dimension=town&key=1&measure=nope").status_code == 422


def test_progress_shows_the_four_steps_per_department(client, make_staff, county):
    signed_in(client, make_staff, "finance")
    page = client.get("/console/progress?today=2030-01-01").get_data(as_text=True)
    assert "县民政局" in page and page.count('data-status="overdue"') >= 4
    assert all(name in page for name in ("项目梳理", "比对", "发放", "平台"))


def test_finance_runs_checks_and_marks_a_finding_once(client, make_staff, county, ov, db):
    _paid_data(ov, county)
    signed_in(client, make_staff, "finance")
    guard = _form(client, "/console/risk", "/console/risk/run")
    assert client.post("/console/risk/run", data=guard).status_code == 302
    again = client.post("/console/risk/run", data=guard, follow_redirects=True)
    assert "该操作已处理" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RiskRun)) == 1
    finding = db.session.scalars(sa.select(RiskFinding).where(RiskFinding.check_code == "duplicate_payment")).one()
    page = client.get("/console/risk").get_data(as_text=True)
    assert f'id="finding-{finding.id}"' in page and "证据" in page
    action = f"/console/risk/{finding.id}/mark"
    guard = _form(client, "/console/risk", action)
    refused = client.post(action, data={**guard, "status": "dismissed"}, follow_redirects=True)
    assert "必须填写核查说明" in refused.get_data(as_text=True)
    client.post(action, data={**guard, "status": "dismissed", "note": "系补发，已核实"})
    db.session.refresh(finding)
    assert finding.status == "dismissed" and finding.note == "系补发，已核实"


def test_risk_run_and_mark_refused_to_an_auditor(client, make_staff, county):
    signed_in(client, make_staff, "auditor")
    page = client.get("/console/risk").get_data(as_text=True)
    assert "运行全部风险核查" not in page
    guard = hidden(client.get("/console/risk"))
    assert client.post("/console/risk/run", data=guard).status_code == 403
    assert client.post("/console/risk/1/mark", data={**guard, "status": "confirmed"}).status_code == 403


def test_publish_and_withdraw_a_disclosure_once(client, make_staff, county, ov, db):
    elder = _paid_data(ov, county)
    signed_in(client, make_staff, "finance")
    guard = _form(client, "/console/disclosure", "/console/disclosure/publish")
    data = {**guard, "project_id": elder.id, "period": "2026-03"}
    client.post("/console/disclosure/publish", data=data)
    again = client.post("/console/disclosure/publish", data=data, follow_redirects=True)
    assert "该操作已处理" in again.get_data(as_text=True)
    d = db.session.scalars(sa.select(Disclosure)).one()
    page = client.get("/console/disclosure").get_data(as_text=True)
    assert f'href="/public/disclosures/{d.id}"' in page
    assert client.get(f"/public/disclosures/{d.id}").status_code == 200
    nothing = client.post("/console/disclosure/publish",
                          data={**_form(client, "/console/disclosure", "/console/disclosure/publish"),
                                "project_id": elder.id, "period": "2025-01"}, follow_redirects=True)
    assert "还没有发放成功的记录" in nothing.get_data(as_text=True)
    action = f"/console/disclosure/{d.id}/withdraw"
    client.post(action, data={**_form(client, "/console/disclosure", action), "reason": "名单有误"})
    db.session.refresh(d)
    assert d.status == "withdrawn" and d.withdraw_reason == "名单有误"


def test_department_operator_reads_disclosures_but_cannot_publish(client, make_staff, county, ov):
    elder = _paid_data(ov, county)
    signed_in(client, make_staff, "dept_operator", department_id=county["departments"]["县民政局"])
    page = client.get("/console/disclosure")
    assert page.status_code == 200 and "发布公示" not in page.get_data(as_text=True)
    r = client.post("/console/disclosure/publish",
                    data={**hidden(page), "project_id": elder.id, "period": "2026-03"})
    assert r.status_code == 403


def test_auditor_browses_the_trail_with_filters_and_the_read_is_audited(client, make_staff, county, db):
    auditor = signed_in(client, make_staff, "auditor")
    page = client.get("/console/audit?action=staff.&since=2020-01-01T00:00")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "/console/audit/verify" in text
    reads = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor_id == auditor.actor.id)).all()
    assert READ_ACTION in reads, reads
    assert client.get("/console/audit?since=garbage").status_code == 422


def test_audit_browser_refused_to_finance(client, make_staff, county):
    signed_in(client, make_staff, "finance")
    assert client.get("/console/audit").status_code == 403


def test_department_replies_to_its_complaint_once(client, make_staff, county, ov, db):
    elder = ov.project("县民政局", "高龄津贴")
    resident = make_resident(county["towns"][0], county["villages"][0])
    c = complaints.file_complaint(SYSTEM, resident.id, "这个月的钱没到账", project_id=elder.id)
    signed_in(client, make_staff, "dept_reviewer", department_id=county["departments"]["县民政局"])
    action = f"/console/complaints/{c['id']}/reply"
    guard = _form(client, "/console/complaints", action)
    client.post(action, data={**guard, "reply": "已核实，下周补发"})
    again = client.post(action, data={**guard, "reply": "第二次"}, follow_redirects=True)
    assert "该操作已处理" in again.get_data(as_text=True)
    assert complaints.my_complaints(resident.id)[0]["reply"] == "已核实，下周补发"
    other = client.application.test_client()
    signed_in(other, make_staff, "dept_reviewer", department_id=county["departments"]["县残疾人联合会"])
    assert "这个月的钱没到账" not in other.get("/console/complaints").get_data(as_text=True)


def test_bank_moves_a_card_application_with_buttons(client, make_staff, county, db):
    bank = county["banks"]["ICBC"]
    resident = make_resident(county["towns"][0], county["villages"][0])
    card = make_card(resident, bank, "applied")
    application = CardApplication(resident_id=resident.id, card_id=card.id, bank_id=bank, delivery="branch")
    db.session.add(application)
    db.session.commit()
    signed_in(client, make_staff, "bank_operator", bank_id=bank)
    page = client.get("/console/card-applications").get_data(as_text=True)
    assert 'name="action" value="accept"' in page and 'name="action" value="collected"' not in page
    action = f"/console/card-applications/{application.id}/move"
    guard = _form(client, "/console/card-applications", action)
    client.post(action, data={**guard, "action": "accept"})
    again = client.post(action, data={**guard, "action": "accept"}, follow_redirects=True)
    assert "该操作已处理" in again.get_data(as_text=True)
    db.session.refresh(application)
    assert application.status == "accepted"
    other = client.application.test_client()
    signed_in(other, make_staff, "bank_operator", bank_id=county["banks"]["RCB"])
    assert f"application-{application.id}" not in other.get("/console/card-applications").get_data(as_text=True)
    dept = client.application.test_client()
    signed_in(dept, make_staff, "dept_operator", department_id=county["departments"]["县民政局"])
    assert dept.get("/console/card-applications").status_code == 403
