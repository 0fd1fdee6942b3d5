"""Department contacts (附件4) through the staff API: CRUD scoped by department, phones encrypted and masked."""
from __future__ import annotations

import io

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.audit import AuditEntry
from onecard.contacts.models import DepartmentContact

API = "/api/staff/v1"


def _op(make_staff, county, dept="县民政局"):
    return make_staff("dept_operator", department_id=county["departments"][dept])


LEADER = {"kind": "分管负责人", "name": "孔繁华", "position": "县民政局副局长", "phone": "13905371234", "note": "分管社会救助"}


def test_operator_registers_own_contacts_and_phone_is_masked(client, county, make_staff, db):
    op = _op(make_staff, county)
    r = client.post(f"{API}/contacts", headers=op.auth, json=LEADER)
    assert r.status_code == 201, r.json
    assert r.json["kind"] == "leader" and r.json["department_id"] == county["departments"]["县民政局"]
    assert r.json["phone"] == "*******1234"
    r2 = client.post(f"{API}/contacts", headers=op.auth, json={"kind": "contact", "name": "颜明", "position": "救助股股长",
                                                               "phone": "0537-4221234"})
    assert r2.status_code == 201 and r2.json["phone"] == "0537-***1234"
    raw = db.session.execute(sa.text("SELECT phone FROM department_contacts")).scalars().all()
    assert all("13905371234" not in v and "4221234" not in v for v in raw)   # encrypted at rest
    listed = client.get(f"{API}/contacts", headers=op.auth).json
    assert [c["kind"] for c in listed] == ["leader", "contact"]


def test_bad_input_is_refused_with_the_field(client, county, make_staff):
    op = _op(make_staff, county)
    for change, field in (({"phone": "12345"}, "phone"), ({"kind": "秘书"}, "kind"), ({"name": "1号"}, "name"),
                          ({"position": ""}, "position")):
        r = client.post(f"{API}/contacts", headers=op.auth, json={**LEADER, **change})
        assert r.status_code == 422 and r.json["error"]["field"] == field, (change, r.json)


def test_other_departments_contacts_are_hidden_and_untouchable(client, county, make_staff):
    civil, farm = _op(make_staff, county), _op(make_staff, county, "县农业农村局")
    cid = client.post(f"{API}/contacts", headers=civil.auth, json=LEADER).json["id"]
    assert client.get(f"{API}/contacts", headers=farm.auth).json == []
    assert client.get(f"{API}/contacts/{cid}", headers=farm.auth).status_code == 404
    assert client.patch(f"{API}/contacts/{cid}", headers=farm.auth, json={"note": "x"}).status_code == 404
    assert client.delete(f"{API}/contacts/{cid}", headers=farm.auth).status_code == 404
    r = client.post(f"{API}/contacts", headers=farm.auth,
                    json={**LEADER, "department_id": county["departments"]["县民政局"]})
    assert r.status_code == 403


def test_edit_delete_and_audit(client, county, make_staff, admin, db):
    op = _op(make_staff, county)
    cid = client.post(f"{API}/contacts", headers=op.auth, json=LEADER).json["id"]
    r = client.patch(f"{API}/contacts/{cid}", headers=op.auth, json={"phone": "13905375678"})
    assert r.status_code == 200 and r.json["phone"].endswith("5678")
    assert client.patch(f"{API}/contacts/{cid}", headers=op.auth,
                        json={"department_id": county["departments"]["县农业农村局"]}).status_code == 422
    assert client.delete(f"{API}/contacts/{cid}", headers=admin.auth).status_code == 204
    assert db.session.get(DepartmentContact, cid) is None
    actions = db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.entity_type == "department_contact")
                                 .order_by(AuditEntry.seq)).scalars().all()
    assert actions == ["contact.created", "contact.updated", "contact.deleted"]
    after = db.session.execute(sa.select(AuditEntry.after).where(AuditEntry.action == "contact.updated")).scalar()
    assert "13905375678" not in after


def test_admin_registers_for_any_department_and_reviewer_cannot_manage(client, county, make_staff, admin):
    r = client.post(f"{API}/contacts", headers=admin.auth,
                    json={**LEADER, "department_id": county["departments"]["县农业农村局"]})
    assert r.status_code == 201
    assert client.post(f"{API}/contacts", headers=admin.auth, json=LEADER).status_code == 422
    reviewer = make_staff("dept_reviewer", department_id=county["departments"]["县农业农村局"])
    assert client.post(f"{API}/contacts", headers=reviewer.auth, json=LEADER).status_code == 403
    assert len(client.get(f"{API}/contacts", headers=reviewer.auth).json) == 1


def test_export_attachment4(client, county, make_staff, finance):
    op = _op(make_staff, county)
    client.post(f"{API}/contacts", headers=op.auth, json=LEADER)
    rows = CalamineWorkbook.from_filelike(io.BytesIO(client.get(f"{API}/contacts/export", headers=op.auth).data)) \
        .get_sheet_by_index(0).to_python()
    assert rows[0] == ["序号", "部门", "类型", "姓名", "单位及职务", "联系方式", "备注"]
    assert rows[1][3:6] == ["孔繁华", "县民政局副局长", "13905371234"]
    masked = CalamineWorkbook.from_filelike(io.BytesIO(client.get(f"{API}/contacts/export", headers=finance.auth)
                                                       .data)).get_sheet_by_index(0).to_python()
    assert masked[1][5] == "*******1234"
