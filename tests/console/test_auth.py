"""Console sign-in: session cookie, CSRF, idle expiry, lockout, security headers, last-login notice."""
from __future__ import annotations

import re
import time

import sqlalchemy as sa

from console import core
from onecard.staff.models import AuthToken, StaffAccount
from tests.conftest import TEST_PASSWORD

HIDDEN = re.compile(r'name="(csrf_token|form_nonce)" value="([^"]+)"')


def hidden(response) -> dict:
    """The hidden guard fields of the first form on a page."""
    found = {}
    for name, value in HIDDEN.findall(response.get_data(as_text=True)):
        found.setdefault(name, value)
    return found


def login(client, username, password=TEST_PASSWORD, **extra):
    page = client.get("/console/login")
    return client.post("/console/login", data={"csrf_token": hidden(page)["csrf_token"], "username": username,
                                               "password": password, **extra})


def session_of(client) -> dict:
    return core.decode_session(client.get_cookie(core.COOKIE, path=core.COOKIE_PATH).value)


def put_session(client, data: dict) -> None:
    client.set_cookie(core.COOKIE, core.encode_session(data), path=core.COOKIE_PATH)


def test_login_lands_on_dashboard_and_shows_last_login_notice(client, make_staff):
    staff = make_staff("admin", "chief")   # its first login happened in the fixture (no address known)
    r = login(client, "chief")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")
    page = client.get("/console/").get_data(as_text=True)
    assert "上次登录：" in page
    client.post("/console/logout", data=hidden(client.get("/console/")))
    login(client, "chief")
    page = client.get("/console/").get_data(as_text=True)
    assert re.search(r"上次登录：\d{4}-\d{2}-\d{2} \d{2}:\d{2} 来自 127\.0\.0\.1", page)
    assert staff.username in page


def test_first_login_ever_says_so(client, db):
    from onecard import passwords
    db.session.add(StaffAccount(username="fresh", display_name="新人", role="finance",
                                password_hash=passwords.hash_password(TEST_PASSWORD)))
    db.session.commit()
    login(client, "fresh")
    assert "这是您第一次登录本平台" in client.get("/console/").get_data(as_text=True)


def test_wrong_password_is_refused_in_chinese(client, make_staff):
    make_staff("finance", "fin")
    r = login(client, "fin", "wrong-password-1")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_lockout_after_repeated_failures_shows_locked_message(client, make_staff):
    make_staff("finance", "fin")
    for _ in range(5):
        login(client, "fin", "wrong-password-1")
    r = login(client, "fin")          # even the right password is refused while locked
    assert r.status_code == 401
    assert "账号已锁定" in r.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_with_chinese_page(client, make_staff):
    make_staff("admin", "chief")
    client.get("/console/login")
    r = client.post("/console/login", data={"username": "chief", "password": TEST_PASSWORD})
    assert r.status_code == 400
    assert r.mimetype == "text/html"
    assert "CSRF" in r.get_data(as_text=True) and "请刷新页面" in r.get_data(as_text=True)
    login(client, "chief")
    r = client.post("/console/accounts", data={"csrf_token": "forged", "username": "x1", "display_name": "x",
                                               "role": "finance", "password": "Abcdef12345"})
    assert r.status_code == 400
    from onecard.extensions import db
    assert db.session.execute(sa.select(StaffAccount).where(StaffAccount.username == "x1")).first() is None


def test_session_cookie_is_signed_httponly_strict_and_scoped_to_console(client, make_staff):
    make_staff("admin", "chief")
    r = login(client, "chief")
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith(core.COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    # A tampered cookie is ignored: the holder is simply not signed in.
    value = client.get_cookie(core.COOKIE, path=core.COOKIE_PATH).value
    client.set_cookie(core.COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path=core.COOKIE_PATH)
    assert client.get("/console/").status_code == 302


def test_security_headers_on_console_pages(client, make_staff):
    make_staff("admin", "chief")
    for response in (client.get("/console/login"), login(client, "chief"), client.get("/console/")):
        h = response.headers
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "script-src 'self'" in h["Content-Security-Policy"] and "unsafe-inline" not in h[
            "Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style_attributes(client, make_staff):
    make_staff("admin", "chief")
    login(client, "chief")
    for path in ("/console/", "/console/accounts", "/console/guide", "/console/reference", "/console/audit/verify"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert " style=" not in html, path
        assert " on" + "click=" not in html, path


def test_idle_session_expires_and_its_token_is_revoked(client, make_staff, app):
    make_staff("admin", "chief")
    login(client, "chief")
    state = session_of(client)
    state["seen"] = int(time.time()) - (app.config["CONSOLE_IDLE_MINUTES"] * 60 + 5)
    put_session(client, state)
    r = client.get("/console/accounts")
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]
    assert "长时间未操作" in client.get(r.headers["Location"]).get_data(as_text=True)
    from onecard import tokens
    from onecard.extensions import db
    row = db.session.execute(sa.select(AuthToken).where(AuthToken.token_hash == tokens._digest(state["token"]))
                             ).scalar_one()
    assert row.revoked_at is not None


def test_revoked_or_expired_token_ends_the_console_session(client, make_staff, db):
    staff = make_staff("admin", "chief")
    login(client, "chief")
    assert client.get("/console/").status_code == 200
    from onecard import tokens
    tokens.revoke_all("staff", staff.id)     # e.g. the bureau disabled the account or the password changed
    db.session.commit()
    r = client.get("/console/")
    assert r.status_code == 302
    assert "登录已过期" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_unauthenticated_visit_goes_to_login_and_back(client, make_staff):
    make_staff("admin", "chief")
    r = client.get("/console/accounts")
    assert r.status_code == 302 and "next=/console/accounts" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    r = client.post("/console/login", data={"csrf_token": hidden(page)["csrf_token"], "username": "chief",
                                            "password": TEST_PASSWORD, "next": "/console/accounts"})
    assert r.headers["Location"].endswith("/console/accounts")


def test_login_never_redirects_off_site(client, make_staff):
    make_staff("admin", "chief")
    for target in ("//evil.example/x", "https://evil.example/console/", "/api/staff/v1/accounts"):
        r = login(client, "chief", next=target)
        assert r.headers["Location"].endswith("/console/"), target
        client.post("/console/logout", data=hidden(client.get("/console/")))


def test_logout_revokes_the_token(client, make_staff, db):
    make_staff("admin", "chief")
    login(client, "chief")
    token = session_of(client)["token"]
    r = client.post("/console/logout", data=hidden(client.get("/console/")))
    assert r.status_code == 302
    assert client.get("/console/").status_code == 302
    assert client.get("/api/staff/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_must_change_password_is_forced_after_login(client, admin, db):
    from onecard.staff import service
    service.create_account(admin.actor, username="newbie", display_name="新同事", role="finance",
                           password="Initial2026pw")
    r = login(client, "newbie", "Initial2026pw")
    assert r.headers["Location"].endswith("/console/password")
    assert client.get("/console/").headers["Location"].endswith("/console/password")
    page = client.get("/console/password")
    r = client.post("/console/password", data={**hidden(page), "old_password": "Initial2026pw",
                                               "new_password": "Better2026pw", "new_password_again": "Other2026pw"})
    assert r.status_code == 422 and "两次输入的新密码不一致" in r.get_data(as_text=True)
    r = client.post("/console/password", data={**hidden(page), "old_password": "Initial2026pw",
                                               "new_password": "short", "new_password_again": "short"})
    assert r.status_code == 422 and "密码至少10位" in r.get_data(as_text=True)
    r = client.post("/console/password", data={**hidden(page), "old_password": "Initial2026pw",
                                               "new_password": "Better2026pw", "new_password_again": "Better2026pw"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/login")
    assert client.get("/console/").status_code == 302          # the old session ended with the change
    r = login(client, "newbie", "Better2026pw")
    assert r.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200


def test_the_session_cookie_is_sealed_and_its_token_is_refused_by_the_api(client, make_staff):
    """Issue #16: the cookie was signed but readable, and its bearer token worked on the staff API."""
    import base64
    make_staff("admin", "chief")
    assert login(client, "chief").status_code == 302
    raw = client.get_cookie(core.COOKIE, path=core.COOKIE_PATH).value
    token = core.decode_session(raw)["token"]
    decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    assert token.encode() not in decoded and b"token" not in decoded and b"csrf" not in decoded
    r = client.get("/api/staff/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json["error"]["code"] == "token_wrong_channel"
    home = client.get("/console/")
    assert home.status_code == 200, home.get_data(as_text=True)[:300]          # still good where it belongs
    tampered = raw[:-2] + ("A" if raw[-2] != "A" else "B") + raw[-1]
    assert core.decode_session(tampered) == {}
