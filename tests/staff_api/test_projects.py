"""Project catalogue through the staff API: register, edit, code, retire, list, refusals, audit."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.audit import AuditEntry

API = "/api/staff/v1"
CIVIL = "县民政局"
FARM = "县农业农村局"


def _body(**over):
    body = {"category": "社会救助", "name": "城乡低保金", "cycle": "按月", "bank": "农商行", "via_passbook": "否",
            "level": "县级", "standard": "183.00", "per_household": "是", "required_category": "低保户",
            "eligibility": "持有效低保证"}
    body.update(over)
    return body


def _operator(make_staff, county, dept=CIVIL):
    return make_staff("dept_operator", department_id=county["departments"][dept])


def test_operator_registers_own_project_with_chinese_values(client, county, make_staff):
    op = _operator(make_staff, county)
    r = client.post(f"{API}/projects", headers=op.auth, json=_body())
    assert r.status_code == 201, r.json
    p = r.json
    assert p["department_id"] == county["departments"][CIVIL]
    assert (p["cycle"], p["level"], p["status"], p["code"]) == ("monthly", "county", "registered", None)
    assert p["bank_name"] == "农商银行" and p["via_passbook"] is False and p["per_household"] is True
    assert p["standard"] == "183.00" and p["standard_fen"] == 18300 and p["required_category"] == "dibao"


def test_codes_are_accepted_as_well_as_chinese(client, county, admin):
    r = client.post(f"{API}/projects", headers=admin.auth, json=_body(
        department_id=county["departments"][FARM], cycle="yearly", level="village", via_passbook=True,
        per_household=False, required_category=None, standard=None, bank=None))
    assert r.status_code == 201, r.json
    assert (r.json["cycle"], r.json["level"], r.json["via_passbook"], r.json["bank_id"]) == ("yearly", "village",
                                                                                             True, None)


def test_each_bad_field_is_refused_with_its_field(client, county, make_staff):
    op = _operator(make_staff, county)
    cases = [({"cycle": "每两周"}, "cycle"), ({"level": "省级"}, "level"), ({"bank": "花旗银行"}, "bank"),
             ({"via_passbook": "也许"}, "via_passbook"), ({"standard": "-5"}, "standard"),
             ({"standard": "abc"}, "standard"), ({"required_category": "学生"}, "required_category"),
             ({"category": ""}, "category"), ({"name": "  "}, "name")]
    for change, field in cases:
        r = client.post(f"{API}/projects", headers=op.auth, json=_body(**change))
        assert r.status_code == 422, (change, r.json)
        assert r.json["error"]["field"] == field, (change, r.json)
    assert client.get(f"{API}/projects", headers=op.auth).json == []


def test_duplicate_project_in_same_department_is_409(client, county, make_staff):
    op = _operator(make_staff, county)
    assert client.post(f"{API}/projects", headers=op.auth, json=_body()).status_code == 201
    r = client.post(f"{API}/projects", headers=op.auth, json=_body(cycle="按季"))
    assert r.status_code == 409
    assert r.json["error"] == {"code": "project_duplicate", "field": "name", "message": r.json["error"]["message"]}
    other = _operator(make_staff, county, FARM)
    assert client.post(f"{API}/projects", headers=other.auth, json=_body()).status_code == 201


def test_operator_cannot_register_for_another_department(client, county, make_staff):
    op = _operator(make_staff, county)
    r = client.post(f"{API}/projects", headers=op.auth, json=_body(department_id=county["departments"][FARM]))
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden_scope"


def test_admin_must_name_the_department(client, county, admin):
    r = client.post(f"{API}/projects", headers=admin.auth, json=_body())
    assert r.status_code == 422 and r.json["error"]["field"] == "department_id"


def test_admin_codes_by_the_documented_scheme(client, county, admin, make_staff):
    op = _operator(make_staff, county)
    ids = [client.post(f"{API}/projects", headers=op.auth, json=_body(**b)).json["id"] for b in (
        {"category": "社会救助", "name": "城乡低保金"}, {"category": "社会救助", "name": "特困供养金"},
        {"category": "优抚", "name": "高龄津贴"})]
    codes = [client.post(f"{API}/projects/{i}/code", headers=admin.auth).json["code"] for i in ids]
    # 03 = 县民政局, then 大类 number, then 小类 sequence inside it
    assert codes == ["0301001", "0301002", "0302001"]
    again = client.post(f"{API}/projects/{ids[0]}/code", headers=admin.auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "project_not_registered"


def test_operator_cannot_code_or_retire(client, county, make_staff):
    op = _operator(make_staff, county)
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    for action in ("code", "retire"):
        r = client.post(f"{API}/projects/{pid}/{action}", headers=op.auth, json={} if action == "retire" else None)
        assert r.status_code == 403 and r.json["error"]["code"] == "forbidden_role"


def test_edit_keeps_the_code_and_refuses_changing_it(client, county, admin, make_staff):
    op = _operator(make_staff, county)
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    code = client.post(f"{API}/projects/{pid}/code", headers=admin.auth).json["code"]
    r = client.patch(f"{API}/projects/{pid}", headers=op.auth, json={"standard": "200", "cycle": "按季"})
    assert r.status_code == 200 and r.json["standard_fen"] == 20000 and r.json["code"] == code
    r = client.patch(f"{API}/projects/{pid}", headers=admin.auth, json={"code": "9999999"})
    assert r.status_code == 422 and r.json["error"]["code"] == "code_immutable"
    assert client.get(f"{API}/projects/{pid}", headers=op.auth).json["code"] == code


def test_edit_to_an_existing_name_is_409(client, county, make_staff):
    op = _operator(make_staff, county)
    client.post(f"{API}/projects", headers=op.auth, json=_body())
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body(name="特困供养金")).json["id"]
    r = client.patch(f"{API}/projects/{pid}", headers=op.auth, json={"name": "城乡低保金"})
    assert r.status_code == 409 and r.json["error"]["field"] == "name"


def test_retired_project_cannot_be_edited_or_coded_and_keeps_its_code(client, county, admin, make_staff):
    op = _operator(make_staff, county)
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    code = client.post(f"{API}/projects/{pid}/code", headers=admin.auth).json["code"]
    r = client.post(f"{API}/projects/{pid}/retire", headers=admin.auth, json={"note": "政策到期"})
    assert r.status_code == 200 and r.json["status"] == "retired" and r.json["code"] == code
    assert client.patch(f"{API}/projects/{pid}", headers=op.auth, json={"standard": "1"}).status_code == 409
    assert client.post(f"{API}/projects/{pid}/retire", headers=admin.auth, json={}).status_code == 409
    # the code is never reused: the next project of the same 大类 gets the next number
    pid2 = client.post(f"{API}/projects", headers=op.auth, json=_body(name="临时救助金")).json["id"]
    assert client.post(f"{API}/projects/{pid2}/code", headers=admin.auth).json["code"] == "0301002"


def test_department_roles_see_only_their_department_others_see_all(client, county, admin, make_staff):
    civil, farm = _operator(make_staff, county), _operator(make_staff, county, FARM)
    a = client.post(f"{API}/projects", headers=civil.auth, json=_body()).json["id"]
    b = client.post(f"{API}/projects", headers=farm.auth, json=_body(category="耕地保护", name="耕地地力保护补贴")).json["id"]
    reviewer = make_staff("dept_reviewer", department_id=county["departments"][FARM])
    assert [p["id"] for p in client.get(f"{API}/projects", headers=civil.auth).json] == [a]
    assert [p["id"] for p in client.get(f"{API}/projects", headers=reviewer.auth).json] == [b]
    bank = make_staff("bank_operator", bank_id=county["banks"]["RCB"])
    assert {p["id"] for p in client.get(f"{API}/projects", headers=bank.auth).json} == {a, b}
    assert client.get(f"{API}/projects/{b}", headers=civil.auth).status_code == 404
    assert client.patch(f"{API}/projects/{b}", headers=civil.auth, json={"standard": "1"}).status_code == 404
    r = client.get(f"{API}/projects", headers=admin.auth, query_string={"department_id": county["departments"][FARM]})
    assert [p["id"] for p in r.json] == [b]


def test_every_change_is_audited(client, county, admin, make_staff, db):
    op = _operator(make_staff, county)
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    client.patch(f"{API}/projects/{pid}", headers=op.auth, json={"standard": "190"})
    client.post(f"{API}/projects/{pid}/code", headers=admin.auth)
    client.post(f"{API}/projects/{pid}/retire", headers=admin.auth, json={})
    actions = db.session.execute(sa.select(AuditEntry.action).where(
        AuditEntry.entity_type == "project", AuditEntry.entity_id == str(pid)).order_by(AuditEntry.seq)).scalars().all()
    assert actions == ["project.registered", "project.edited", "project.coded", "project.retired"]


def test_unauthenticated_is_401(client, db):
    assert client.get(f"{API}/projects").status_code == 401


def test_uncoded_project_is_deleted_not_retired(client, county, admin, make_staff):
    op = _operator(make_staff, county)
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    r = client.post(f"{API}/projects/{pid}/retire", headers=admin.auth, json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "project_not_coded"
    assert client.delete(f"{API}/projects/{pid}", headers=op.auth).status_code == 204
    assert client.get(f"{API}/projects/{pid}", headers=op.auth).status_code == 404
    pid = client.post(f"{API}/projects", headers=op.auth, json=_body()).json["id"]
    client.post(f"{API}/projects/{pid}/code", headers=admin.auth)
    r = client.delete(f"{API}/projects/{pid}", headers=op.auth)
    assert r.status_code == 409 and r.json["error"]["code"] == "project_coded"


def test_concurrent_coding_in_one_department_gives_distinct_codes(app, client, county, admin, make_staff, db):
    import threading

    from onecard.extensions import db as _db
    from onecard.projects import service
    from onecard.projects.models import Project

    op = _operator(make_staff, county)
    ids = [client.post(f"{API}/projects", headers=op.auth, json=_body(name=f"项目{i}")).json["id"] for i in range(4)]
    actor = admin.actor
    barrier = threading.Barrier(len(ids))
    failures = []

    def work(pid):
        with app.app_context():
            try:
                barrier.wait()
                service.code_project(actor, pid)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                failures.append(repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=work, args=(pid,)) for pid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert failures == []
    codes = sorted(db.session.execute(sa.select(Project.code).where(Project.id.in_(ids))).scalars())
    assert codes == ["0301001", "0301002", "0301003", "0301004"]


def test_concurrent_duplicate_registration_gives_one_project(app, county, make_staff, db):
    import threading

    from onecard.extensions import db as _db
    from onecard.projects import service
    from onecard.projects.models import Project

    actor = _operator(make_staff, county).actor
    barrier = threading.Barrier(3)
    outcomes = []

    def work():
        with app.app_context():
            try:
                barrier.wait()
                service.register_project(actor, _body())
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001
                outcomes.append(getattr(exc, "code", repr(exc)))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "project_duplicate", "project_duplicate"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(Project)).scalar() == 1
