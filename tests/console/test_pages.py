"""Console pages: role menus, accounts administration, the act-once guard, audit check, reference, guide."""
from __future__ import annotations

import re
import threading

import sqlalchemy as sa

from console import core
from onecard.staff.models import StaffAccount
from tests.conftest import TEST_PASSWORD
from tests.console.test_auth import hidden, login

ACCOUNT_FORM = {"username": "mz_new", "display_name": "民政经办新", "role": "dept_operator",
                "password": "Initial2026pw"}


def menu_keys(client) -> set[str]:
    return set(re.findall(r'data-menu="([a-z_]+)"', client.get("/console/").get_data(as_text=True)))


def signed_in(client, make_staff, role, **scope):
    staff = make_staff(role, **scope)
    login(client, staff.username)
    return staff


def test_each_role_sees_its_own_menu(app, make_staff, county):
    depts, banks = county["departments"], county["banks"]
    cases = {
        ("finance", ()): ({"home", "batches", "ledger", "stats", "risk", "audit_verify", "guide"},
                          {"upload", "bank_files", "accounts"}),
        ("bank_operator", (("bank_id", banks["ICBC"]),)): ({"bank_files", "batches"},
                                                            {"upload", "accounts", "risk", "audit_verify"}),
        ("dept_operator", (("department_id", depts["县民政局"]),)): ({"upload", "matching", "batches", "projects"},
                                                                   {"accounts", "bank_files", "audit_verify"}),
        ("admin", ()): ({"accounts", "reference", "audit", "audit_verify", "projects"},
                        {"upload", "bank_files", "assist"}),
        ("village_staff", (("village_id", county["villages"][0]),)): ({"followup", "home", "guide", "assist"},
                                                                       {"batches", "accounts", "upload"}),
        ("town_staff", (("town_id", county["towns"][0]),)): ({"followup", "assist"}, {"batches", "accounts"}),
        ("auditor", ()): ({"audit", "audit_verify", "accounts", "ledger"}, {"upload", "bank_files"}),
    }
    for (role, scope), (has, lacks) in cases.items():
        client = app.test_client()
        signed_in(client, make_staff, role, **dict(scope))
        keys = menu_keys(client)
        assert has <= keys, (role, has - keys)
        assert not (lacks & keys), (role, lacks & keys)


def test_menu_entry_for_a_page_not_yet_built_shows_the_placeholder(client, make_staff, county):
    signed_in(client, make_staff, "bank_operator", bank_id=county["banks"]["ICBC"])
    r = client.get("/console/soon/bank_files")
    assert r.status_code == 200 and "建设中" in r.get_data(as_text=True)
    assert client.get("/console/soon/upload").status_code == 404     # not in this role's menu


def test_admin_opens_an_account_and_the_new_user_must_change_password(client, make_staff, county, db):
    signed_in(client, make_staff, "admin")
    page = client.get("/console/accounts")
    assert page.status_code == 200
    r = client.post("/console/accounts", data={**hidden(page), **ACCOUNT_FORM,
                                               "department_id": county["departments"]["县民政局"]})
    assert r.status_code == 302
    listing = client.get("/console/accounts").get_data(as_text=True)
    assert "已开通账号 mz_new" in listing and "民政经办新" in listing and "县民政局" in listing
    account = db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == "mz_new")).scalar_one()
    assert account.role == "dept_operator" and account.must_change_password
    other = client.application.test_client()
    assert login(other, "mz_new", "Initial2026pw").headers["Location"].endswith("/console/password")


def test_open_account_refusal_is_shown_on_the_form_without_the_password(client, make_staff, db):
    signed_in(client, make_staff, "admin")
    page = client.get("/console/accounts")
    r = client.post("/console/accounts", data={**hidden(page), **ACCOUNT_FORM})   # no department chosen
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "必须指定所属范围" in body and 'value="mz_new"' in body and "Initial2026pw" not in body
    assert db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == "mz_new")).first() is None
    # The same page may be corrected and sent again: a refusal does not spend the form.
    r = client.post("/console/accounts", data={**hidden(page), **ACCOUNT_FORM, "role": "finance"})
    assert r.status_code == 302
    assert db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == "mz_new")).first()


def test_double_submit_opens_the_account_once(client, make_staff, db):
    signed_in(client, make_staff, "admin")
    page = client.get("/console/accounts")
    form = {**hidden(page), **ACCOUNT_FORM, "role": "finance"}
    assert client.post("/console/accounts", data=form).status_code == 302
    r = client.post("/console/accounts", data=form, follow_redirects=True)
    assert "该操作已处理" in r.get_data(as_text=True)
    assert "用户名已被使用" not in r.get_data(as_text=True)      # nothing was attempted the second time
    n = db.session.execute(sa.select(sa.func.count()).select_from(StaffAccount)
                           .where(StaffAccount.username == "mz_new")).scalar()
    assert n == 1


def test_concurrent_double_click_acts_once(app, client, make_staff, db):
    staff = signed_in(client, make_staff, "admin")
    page = client.get("/console/accounts")
    form = {**hidden(page), **ACCOUNT_FORM, "role": "finance"}
    cookie = client.get_cookie(core.COOKIE, path=core.COOKIE_PATH).value
    barrier = threading.Barrier(2)
    codes = []

    def press():
        c = app.test_client()
        c.set_cookie(core.COOKIE, cookie, path=core.COOKIE_PATH)
        barrier.wait()
        r = c.post("/console/accounts", data=form, follow_redirects=True)
        codes.append(("该操作已处理" in r.get_data(as_text=True), r.status_code))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    n = db.session.execute(sa.select(sa.func.count()).select_from(StaffAccount)
                           .where(StaffAccount.username == "mz_new")).scalar()
    assert n == 1
    assert sorted(codes) == [(False, 200), (True, 200)]
    from onecard.audit import AuditEntry
    created = db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "staff.created", AuditEntry.actor_id == staff.id)).scalar()
    assert created == 1


def test_a_form_nonce_signed_for_someone_else_is_refused(app, client, make_staff, db):
    signed_in(client, make_staff, "admin")
    page = client.get("/console/accounts")
    other = app.test_client()
    signed_in(other, make_staff, "admin")
    mine = hidden(other.get("/console/accounts"))
    r = other.post("/console/accounts", data={"csrf_token": mine["csrf_token"],
                                              "form_nonce": hidden(page)["form_nonce"], **ACCOUNT_FORM,
                                              "role": "finance"})
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    assert db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == "mz_new")).first() is None


def test_disable_enable_and_reset_password(app, client, make_staff, db):
    signed_in(client, make_staff, "admin")
    target = make_staff("finance", "fin_x")
    user = app.test_client()
    login(user, "fin_x")
    assert user.get("/console/").status_code == 200
    detail = f"/console/accounts/{target.id}"
    r = client.post(f"{detail}/active", data={**hidden(client.get(detail)), "active": "0"}, follow_redirects=True)
    assert "已停用" in r.get_data(as_text=True)
    assert user.get("/console/").status_code == 302             # disabling ends the user's session at once
    assert login(user, "fin_x").status_code == 401
    r = client.post(f"{detail}/active", data={**hidden(client.get(detail)), "active": "1"}, follow_redirects=True)
    assert "已启用" in r.get_data(as_text=True)
    r = client.post(f"{detail}/password", data={**hidden(client.get(detail)), "reset_password": "Reset2026pass"},
                    follow_redirects=True)
    assert "密码已重置" in r.get_data(as_text=True)
    assert login(user, "fin_x", TEST_PASSWORD).status_code == 401
    assert login(user, "fin_x", "Reset2026pass").headers["Location"].endswith("/console/password")


def test_admin_cannot_disable_itself_and_sees_why(client, make_staff):
    me = signed_in(client, make_staff, "admin")
    detail = f"/console/accounts/{me.id}"
    r = client.post(f"{detail}/active", data={**hidden(client.get(detail)), "active": "0"}, follow_redirects=True)
    assert "不能停用自己的账号" in r.get_data(as_text=True)
    assert client.get("/console/").status_code == 200


def test_change_position_moves_scope(client, make_staff, county, db):
    signed_in(client, make_staff, "admin")
    target = make_staff("finance", "fin_y")
    detail = f"/console/accounts/{target.id}"
    r = client.post(f"{detail}/position", data={**hidden(client.get(detail)), "role": "bank_operator",
                                                "bank_id": county["banks"]["CCB"],
                                                "department_id": county["departments"]["县民政局"]})
    assert r.status_code == 302
    account = db.session.get(StaffAccount, target.id)
    db.session.refresh(account)
    assert account.role == "bank_operator" and account.bank_id == county["banks"]["CCB"]
    assert account.department_id is None       # a scope that does not apply is dropped


def test_accounts_page_is_read_only_for_the_auditor_and_closed_to_others(app, make_staff, county):
    auditor = app.test_client()
    signed_in(auditor, make_staff, "auditor")
    body = auditor.get("/console/accounts").get_data(as_text=True)
    assert "全部账号" in body and "开通账号</h2>" not in body
    r = auditor.post("/console/accounts", data={**hidden(auditor.get("/console/")), **ACCOUNT_FORM})
    assert r.status_code == 403 and "没有此项操作权限" in r.get_data(as_text=True)
    operator = app.test_client()
    signed_in(operator, make_staff, "dept_operator", department_id=county["departments"]["县民政局"])
    r = operator.get("/console/accounts")
    assert r.status_code == 403 and r.mimetype == "text/html"


def test_audit_chain_check_page(app, make_staff, county, db):
    finance = app.test_client()
    signed_in(finance, make_staff, "finance")
    assert "开始校验" in finance.get("/console/audit/verify").get_data(as_text=True)
    body = finance.get("/console/audit/verify?run=1").get_data(as_text=True)
    assert "校验通过" in body
    # A rewritten entry is reported (simulating tampering below the application: drop the trigger first).
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
    else:
        db.session.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_change"))
    db.session.execute(sa.text("UPDATE audit_entries SET note = 'changed' WHERE seq = 1"))
    db.session.commit()
    body = finance.get("/console/audit/verify?run=1").get_data(as_text=True)
    assert "校验发现" in body and "记录被改动" in body
    if db.engine.dialect.name == "sqlite":
        from onecard.audit import install_append_only
        install_append_only(db.session, "sqlite")
    else:
        db.session.execute(sa.text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_no_change"))
    db.session.commit()
    operator = app.test_client()
    signed_in(operator, make_staff, "dept_operator", department_id=county["departments"]["县民政局"])
    assert operator.get("/console/audit/verify?run=1").status_code == 403


def test_reference_page_lists_towns_villages_banks_departments(client, make_staff, county):
    signed_in(client, make_staff, "admin")
    body = client.get(f"/console/reference?town={county['towns'][0]}").get_data(as_text=True)
    for text in ("济河街道", "东庄村", "工商银行泗水县支行", "县民政局"):
        assert text in body


def test_guide_puts_the_readers_role_first_and_covers_every_role(client, make_staff, county):
    signed_in(client, make_staff, "bank_operator", bank_id=county["banks"]["ICBC"])
    body = client.get("/console/guide").get_data(as_text=True)
    sections = re.findall(r'<section[^>]*id="guide-([a-z_]+)"', body)
    assert sections[0] == "bank_operator"
    assert set(sections) == {"admin", "dept_operator", "dept_reviewer", "finance", "bank_operator",
                             "town_staff", "village_staff", "auditor"}
    assert "导出代发文件" in body and "（您的岗位）" in body


def test_every_form_field_has_a_label(client, make_staff, county):
    me = signed_in(client, make_staff, "admin")
    for path in ("/console/accounts", f"/console/accounts/{me.id}", "/console/password", "/console/reference"):
        html = client.get(path).get_data(as_text=True)
        ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
        fields = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*>', html)
        assert len(ids) == len(fields), path
        for field_id in ids:
            assert f'<label for="{field_id}"' in html, (path, field_id)
    assert 'class="skip-link" href="#main"' in html


def test_demo_banner_only_on_synthetic_data(client, make_staff, db):
    signed_in(client, make_staff, "admin")
    assert "演示数据（合成）" not in client.get("/console/").get_data(as_text=True)
    from onecard import settings_store
    settings_store.put("demo_synthetic", "true")
    db.session.commit()
    assert "演示数据（合成）" in client.get("/console/").get_data(as_text=True)


def test_a_console_url_that_matches_nothing_answers_with_a_page_not_json(client):
    r = client.get("/console/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html" and "页面或记录不存在" in r.get_data(as_text=True)
