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


# ---------------------------------------------------------------- attachment 4 upload
def _form(headers, rows) -> bytes:
    from onecard.sheets import write_xlsx
    return write_xlsx(headers, rows)


def _import(client, staff, data, name="附件4.xlsx", **query):
    return client.post(f"{API}/contacts/import", headers=staff.auth, query_string=query,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_the_plans_form_imports_and_its_first_row_is_the_leader(client, county, make_staff, db):
    op = _op(make_staff, county)
    form = _form(["姓名", "单位及职务", "联系方式", "备注"],
                 [["孔繁华", "县民政局副局长", 13905371234.0, None],      # Excel made the mobile a number
                  ["颜明", "救助股股长", "0537-4221234", "具体经办"]])
    r = _import(client, op, form)
    assert r.status_code == 201, r.json
    assert [(c["name"], c["kind"], c["phone"]) for c in r.json["contacts"]] == [
        ("孔繁华", "leader", "*******1234"), ("颜明", "contact", "0537-***1234")]
    raw = db.session.execute(sa.text("SELECT phone FROM department_contacts")).scalars().all()
    assert all("13905371234" not in v for v in raw)


def test_a_resubmitted_form_replaces_the_registration_and_both_are_audited(client, county, make_staff, db):
    op = _op(make_staff, county)
    client.post(f"{API}/contacts", headers=op.auth, json=LEADER)
    csv = "类型,姓名,单位及职务,联系方式,备注\n联系人,颜明,救助股股长,13905370001,\n分管负责人,曾宪平,副局长,13905370002,\n"
    r = _import(client, op, csv.encode("gbk"), name="附件4.csv")
    assert r.status_code == 201, r.json
    listed = client.get(f"{API}/contacts", headers=op.auth).json
    assert [(c["name"], c["kind"]) for c in listed] == [("曾宪平", "leader"), ("颜明", "contact")]
    actions = db.session.execute(sa.select(AuditEntry.action, AuditEntry.note)
                                 .where(AuditEntry.entity_type == "department_contact")).all()
    assert [a for a, _ in actions].count("contact.deleted") == 1
    assert [a for a, _ in actions].count("contact.created") == 3
    assert all("附件4导入" in (n or "") for a, n in actions[1:])


def test_a_bad_form_changes_nothing_and_names_every_bad_cell(client, county, make_staff):
    op = _op(make_staff, county)
    client.post(f"{API}/contacts", headers=op.auth, json=LEADER)
    form = _form(["序号", "部门", "类型", "姓名", "单位及职务", "联系方式", "备注"],
                 [[1, "县民政局", "分管负责人", "曾宪平", "副局长", "12345", None],        # row 2: phone
                  [2, "县农业农村局", "联络人", "颜明", "股长", "13905370001", None],     # row 3: other department
                  [3, "县民政局", "秘书", "1号", "", "13905370002", None]])            # row 4: kind, name, position
    r = _import(client, op, form)
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "sheet_invalid" and err["field"] == "file"
    assert {(e["row"], e["column"]) for e in err["details"]["errors"]} == {
        (2, "联系方式"), (3, "部门"), (4, "类型"), (4, "姓名"), (4, "单位及职务")}
    assert [c["name"] for c in client.get(f"{API}/contacts", headers=op.auth).json] == ["孔繁华"]


def test_a_form_without_a_leader_or_with_missing_columns_is_refused(client, county, make_staff):
    op = _op(make_staff, county)
    r = _import(client, op, _form(["类型", "姓名", "单位及职务", "联系方式"], [["联系人", "颜明", "股长", "13905370001"]]))
    assert r.status_code == 422 and r.json["error"]["details"]["errors"][0]["column"] == "类型"
    r = _import(client, op, _form(["姓名", "联系方式"], [["颜明", "13905370001"]]))
    assert r.status_code == 422 and "单位及职务" in r.json["error"]["message"]
    r = _import(client, op, b"%PDF-1.4", name="附件4.pdf")
    assert r.status_code == 422 and r.json["error"]["field"] == "file"


def test_import_is_scoped_like_registration(client, county, make_staff, admin):
    op = _op(make_staff, county)
    form = _form(["姓名", "单位及职务", "联系方式"], [["曾宪平", "副局长", "13905370002"]])
    r = _import(client, op, form, department_id=county["departments"]["县农业农村局"])
    assert r.status_code == 403
    reviewer = make_staff("dept_reviewer", department_id=county["departments"]["县民政局"])
    assert _import(client, reviewer, form).status_code == 403
    assert _import(client, admin, form).status_code == 422          # the administrator must name the department
    r = _import(client, admin, form, department_id=county["departments"]["县农业农村局"])
    assert r.status_code == 201 and r.json["contacts"][0]["department_id"] == county["departments"]["县农业农村局"]


def test_export_and_template_import_back(client, county, make_staff):
    op = _op(make_staff, county)
    client.post(f"{API}/contacts", headers=op.auth, json=LEADER)
    exported = client.get(f"{API}/contacts/export", headers=op.auth).data
    r = _import(client, op, exported)
    assert r.status_code == 201 and [c["name"] for c in r.json["contacts"]] == ["孔繁华"]
    template = client.get(f"{API}/contacts/template", headers=op.auth)
    assert template.status_code == 200
    header = CalamineWorkbook.from_filelike(io.BytesIO(template.data)).get_sheet_by_index(0).to_python()[0]
    assert header == ["序号", "类型", "姓名", "单位及职务", "联系方式", "备注"]
