"""公示: who may publish and withdraw, the masking of the public page and xlsx, the audit of both."""
from __future__ import annotations

import io

import openpyxl
import pytest
import sqlalchemy as sa

from onecard.audit import AuditEntry
from tests.factories import make_resident

STAFF = "/api/staff/v1/oversight/disclosures"


@pytest.fixture
def paid(ov, county):
    t, v = county["towns"][0], county["villages"][0]
    project = ov.project("县民政局", "高龄津贴")
    people = [make_resident(t, v, name=n) for n in ("张三明", "欧阳小明", "李四")]
    for r in people:
        ov.pay(r, project, "2026-03", 10000)
    ov.pay(people[0], project, "2026-03", 10000, outcome="failed")      # a failure is not disclosed as paid
    return {"project": project, "people": people}


def _publish(client, who, project, period="2026-03"):
    return client.post(STAFF, headers=who.auth, json={"project_id": project.id, "period": period})


def test_finance_publishes_and_the_public_page_is_masked(client, finance, paid, db):
    r = _publish(client, finance, paid["project"])
    assert r.status_code == 201, r.json
    assert r.json["row_count"] == 3 and r.json["total_fen"] == 30000
    page = client.get(r.json["public_url"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for masked in ("张*明", "欧**明", "李*"):
        assert masked in html
    for person in paid["people"]:
        assert person.name not in html and person.id_number not in html
        assert person.id_masked in html
    assert "高龄津贴" in html and "100.00" in html
    assert "高龄津贴" in client.get("/public/disclosures").get_data(as_text=True)
    actions = db.session.execute(sa.select(AuditEntry.action)).scalars().all()
    assert "disclosure.published" in actions


def test_xlsx_download_is_masked_too(client, finance, paid):
    d = _publish(client, finance, paid["project"]).json
    r = client.get(f"/public/disclosures/{d['id']}.xlsx")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("序号", "姓名", "身份证号", "镇街", "村（社区）", "金额（元）")
    assert {row[1] for row in rows[1:]} == {"张*明", "欧**明", "李*"}
    text = str(rows)
    for person in paid["people"]:
        assert person.id_number not in text and person.name not in text
    assert all(row[5] == 100 for row in rows[1:])


def test_owning_reviewer_may_publish_but_not_another_department_or_operator(client, make_staff, paid, ov):
    other = make_staff("dept_reviewer", department_id=ov.dept("县残疾人联合会"))
    assert _publish(client, other, paid["project"]).status_code == 403
    operator = make_staff("dept_operator", department_id=ov.dept("县民政局"))
    assert _publish(client, operator, paid["project"]).status_code == 403
    reviewer = make_staff("dept_reviewer", department_id=ov.dept("县民政局"))
    assert _publish(client, reviewer, paid["project"]).status_code == 201


def test_nothing_paid_nothing_published_and_never_twice(client, finance, paid):
    r = _publish(client, finance, paid["project"], "2026-04")
    assert r.status_code == 409 and r.json["error"]["code"] == "nothing_to_disclose"
    assert _publish(client, finance, paid["project"]).status_code == 201
    r = _publish(client, finance, paid["project"])
    assert r.status_code == 409 and r.json["error"]["code"] == "already_published"
    assert client.post(STAFF, headers=finance.auth, json={"project_id": 99999, "period": "2026-03"}).status_code == 404
    r = client.post(STAFF, headers=finance.auth, json={"project_id": paid["project"].id, "period": "三月"})
    assert r.status_code == 422


def test_withdrawn_disclosure_says_so(client, finance, paid, db):
    d = _publish(client, finance, paid["project"]).json
    r = client.post(f"{STAFF}/{d['id']}/withdraw", headers=finance.auth, json={"reason": ""})
    assert r.status_code == 422
    r = client.post(f"{STAFF}/{d['id']}/withdraw", headers=finance.auth, json={"reason": "当事人申请更正"})
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    page = client.get(f"/public/disclosures/{d['id']}")
    assert page.status_code == 410 and "已撤回" in page.get_data(as_text=True)
    for person in paid["people"]:
        assert person.id_masked not in page.get_data(as_text=True)
    j = client.get(f"/public/disclosures/{d['id']}.json")
    assert j.status_code == 410 and j.json["error"]["code"] == "disclosure_withdrawn"
    assert client.get(f"/public/disclosures/{d['id']}.xlsx").status_code == 410
    assert "高龄津贴" not in client.get("/public/disclosures").get_data(as_text=True)
    again = client.post(f"{STAFF}/{d['id']}/withdraw", headers=finance.auth, json={"reason": "再次撤回"})
    assert again.status_code == 409
    # Republishing after a withdrawal makes a new disclosure.
    assert _publish(client, finance, paid["project"]).status_code == 201
    actions = db.session.execute(sa.select(AuditEntry.action)).scalars().all()
    assert actions.count("disclosure.published") == 2 and "disclosure.withdrawn" in actions


def test_unknown_disclosure_is_404(client, db):
    assert client.get("/public/disclosures/424242").status_code == 404
    assert client.get("/public/disclosures/424242.json").status_code == 404


def test_staff_list_is_scoped(client, finance, make_staff, paid, ov):
    _publish(client, finance, paid["project"])
    assert len(client.get(STAFF, headers=finance.auth).json) == 1
    other = make_staff("dept_operator", department_id=ov.dept("县残疾人联合会"))
    assert client.get(STAFF, headers=other.auth).json == []


def test_two_concurrent_publishes_make_one_disclosure(app, finance, paid, db):
    import threading

    from onecard.errors import Conflict
    from onecard.oversight import disclosure
    from onecard.oversight.models import Disclosure
    actor, project_id = finance.actor, paid["project"].id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def publish():
        with app.app_context():
            barrier.wait()
            try:
                disclosure.publish(actor, project_id=project_id, period="2026-03")
                outcomes.append("published")
            except Conflict as exc:
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["already_published", "published"]
    assert db.session.execute(sa.select(sa.func.count(Disclosure.id))).scalar() == 1


def test_public_page_pages_by_30_and_filters_by_village(client, finance, ov, county):
    project = ov.project("县民政局", "高龄津贴")
    east = [make_resident(county["towns"][0], county["villages"][0], name=f"东{i:02d}") for i in range(3)]
    west = [make_resident(county["towns"][1], county["villages"][1], name=f"西{i:02d}") for i in range(31)]
    for r in east + west:
        ov.pay(r, project, "2026-03", 10000)
    d = _publish(client, finance, project).json
    j = client.get(f"/public/disclosures/{d['id']}.json").json
    assert j["total"] == 34 and j["pages"] == 2 and len(j["rows"]) == 30
    assert {v["id"] for v in j["villages"]} == set(county["villages"])
    j = client.get(f"/public/disclosures/{d['id']}.json?village={county['villages'][0]}").json
    assert j["total"] == 3 and {r["village"] for r in j["rows"]} == {"东庄村"}
    assert client.get(f"/public/disclosures/{d['id']}?village=999999").status_code == 422
    html = client.get(f"/public/disclosures/{d['id']}?big=1").get_data(as_text=True)
    assert 'class="big"' in html and "标准版" in html
