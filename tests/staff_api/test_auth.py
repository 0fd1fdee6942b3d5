"""Staff sign-in, lockout, tokens, passwords and opening accounts."""
from __future__ import annotations

from tests.conftest import TEST_PASSWORD


def _login(client, username, password=TEST_PASSWORD):
    return client.post("/api/staff/v1/auth/login", json={"username": username, "password": password})


def test_login_returns_token_and_me_works(client, admin):
    r = _login(client, "admin_t")
    assert r.status_code == 200
    token = r.json["token"]
    me = client.get("/api/staff/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json["username"] == "admin_t" and me.json["role"] == "admin"
    assert "password_hash" not in me.json


def test_second_login_shows_the_previous_login(client, admin):
    r = _login(client, "admin_t")   # the fixture logged in once already
    assert r.json["previous_login"] is not None


def test_wrong_password_and_unknown_user_look_the_same(client, admin):
    a = _login(client, "admin_t", "wrong-password1")
    b = _login(client, "nobody", "wrong-password1")
    assert a.status_code == b.status_code == 401
    assert a.json["error"] == b.json["error"]


def test_account_locks_after_repeated_failures(client, admin):
    for _ in range(5):
        _login(client, "admin_t", "wrong-password1")
    r = _login(client, "admin_t")
    assert r.status_code == 401 and r.json["error"]["code"] == "account_locked"


def test_requests_without_or_with_bad_token_are_401(client, db):
    assert client.get("/api/staff/v1/auth/me").status_code == 401
    assert client.get("/api/staff/v1/auth/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_logout_revokes_the_token(client, admin):
    assert client.post("/api/staff/v1/auth/logout", headers=admin.auth).status_code == 204
    assert client.get("/api/staff/v1/auth/me", headers=admin.auth).status_code == 401


def test_expired_token_is_refused(client, admin, db):
    from datetime import timedelta

    import sqlalchemy as sa

    from onecard.staff.models import AuthToken
    from onecard.timeutil import utcnow
    db.session.execute(sa.update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/staff/v1/auth/me", headers=admin.auth).status_code == 401


def test_password_change_requires_old_password_and_strength(client, admin):
    r = client.post("/api/staff/v1/auth/password", headers=admin.auth,
                    json={"old_password": "bad", "new_password": "NewPass12345"})
    assert r.status_code == 422 and r.json["error"]["field"] == "old_password"
    r = client.post("/api/staff/v1/auth/password", headers=admin.auth,
                    json={"old_password": TEST_PASSWORD, "new_password": "short"})
    assert r.status_code == 422 and r.json["error"]["code"] == "weak_password"
    r = client.post("/api/staff/v1/auth/password", headers=admin.auth,
                    json={"old_password": TEST_PASSWORD, "new_password": "NewPass12345"})
    assert r.status_code == 204
    assert _login(client, "admin_t", "NewPass12345").status_code == 200
    assert client.get("/api/staff/v1/auth/me", headers=admin.auth).status_code == 401  # old sessions ended


def test_admin_opens_a_department_operator(client, admin, county):
    dept = county["departments"]["县民政局"]
    r = client.post("/api/staff/v1/accounts", headers=admin.auth, json={
        "username": "mz_new", "display_name": "民政经办", "role": "dept_operator", "password": "Welcome2026x",
        "department_id": dept})
    assert r.status_code == 201, r.json
    assert r.json["department_id"] == dept and r.json["must_change_password"] is True
    assert _login(client, "mz_new", "Welcome2026x").status_code == 200


def test_operator_without_department_is_refused(client, admin):
    r = client.post("/api/staff/v1/accounts", headers=admin.auth, json={
        "username": "x1", "display_name": "x", "role": "dept_operator", "password": "Welcome2026x"})
    assert r.status_code == 422 and r.json["error"]["field"] == "department_id"


def test_only_admin_opens_accounts(client, finance):
    r = client.post("/api/staff/v1/accounts", headers=finance.auth, json={
        "username": "x2", "display_name": "x", "role": "finance", "password": "Welcome2026x"})
    assert r.status_code == 403


def test_duplicate_username_is_a_conflict(client, admin):
    r = client.post("/api/staff/v1/accounts", headers=admin.auth, json={
        "username": "admin_t", "display_name": "x", "role": "finance", "password": "Welcome2026x"})
    assert r.status_code == 409 and r.json["error"]["field"] == "username"


def test_disabling_an_account_ends_its_sessions(client, admin, finance):
    r = client.patch(f"/api/staff/v1/accounts/{finance.id}", headers=admin.auth, json={"active": False})
    assert r.status_code == 200
    assert client.get("/api/staff/v1/auth/me", headers=finance.auth).status_code == 401
