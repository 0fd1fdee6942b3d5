"""The H5 pages through the test client: CSRF, redirects, errors in plain Chinese, nothing unmasked."""
from __future__ import annotations

import re

import pytest

from tests.factories import make_card, make_resident
from tests.fixtures_citizen import add_ledger, branch_id, last_code, make_project

pytestmark = pytest.mark.usefixtures("citizen_env")


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_login_bind_card_and_subsidies_pages(client, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔德福")
    make_card(resident, county["banks"]["RCB"], status="active")
    add_ledger(resident, make_project(county["departments"]["县民政局"]), county["banks"]["RCB"],
               outcome="failed")
    assert client.get("/m/card").headers["Location"].endswith("/m/login")
    page = client.get("/m/login").get_data(as_text=True)
    # A POST without the CSRF token is refused with a plain message.
    r = client.post("/m/login", data={})
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    r = client.post("/m/login", data={"csrf_token": _csrf(page)})
    assert r.headers["Location"].endswith("/m/bind")
    page = client.get("/m/bind").get_data(as_text=True)
    r = client.post("/m/bind", data={"csrf_token": _csrf(page), "step": "details", "name": "孔德福",
                                     "id_number": resident.id_number})
    html = r.get_data(as_text=True)
    assert "如信息正确" in html and resident.id_number not in html
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "code", "code": "999999" if
                                     last_code() != "999999" else "111111"})
    assert "验证码不正确" in r.get_data(as_text=True)
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "code", "code": last_code()})
    assert r.headers["Location"].endswith("/m/card")
    html = client.get("/m/card").get_data(as_text=True)
    assert "正常" in html and resident.id_number not in html and "农商银行" in html
    html = client.get("/m/subsidies").get_data(as_text=True)
    assert "怎么办" in html and "100.00元" in html
    for path in ("/m/", "/m/policies", "/m/settings", "/m/complaints", "/m/apply", "/m/activate", "/m/loss"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert not re.search(r"\d{17}[\dX]", r.get_data(as_text=True)), path


def test_elderly_switch_sets_a_cookie_and_class(client):
    page = client.get("/m/policies").get_data(as_text=True)
    assert 'class=""' in page or "elderly" not in page.split("<body")[1][:40]
    r = client.post("/m/elderly", data={"csrf_token": _csrf(page), "on": "1", "next": "/m/policies"})
    assert r.headers["Location"].endswith("/m/policies")
    assert 'class="elderly"' in client.get("/m/policies").get_data(as_text=True)
    # An outside redirect target is ignored.
    r = client.post("/m/elderly", data={"csrf_token": _csrf(page), "on": "0", "next": "https://evil.example/"})
    assert r.headers["Location"].endswith("/m/")


def test_village_staff_assist_pages_apply_for_a_resident_with_consent(client, county, make_staff):
    import io

    from tests.conftest import TEST_PASSWORD
    from tests.fixtures_citizen import JPEG
    staff = make_staff("village_staff", village_id=county["villages"][0])
    mine = make_resident(county["towns"][0], county["villages"][0], name="孟庆云")
    other = make_resident(county["towns"][1], county["villages"][1], name="孟庆云")
    assert client.get("/m/assist/").headers["Location"].endswith("/m/assist/login")
    page = client.get("/m/assist/login").get_data(as_text=True)
    r = client.post("/m/assist/login", data={"csrf_token": _csrf(page), "username": staff.username,
                                             "password": "wrong"})
    assert "用户名或密码错误" in r.get_data(as_text=True)
    r = client.post("/m/assist/login", data={"csrf_token": _csrf(page), "username": staff.username,
                                             "password": TEST_PASSWORD})
    assert r.headers["Location"].endswith("/m/assist/")
    home = client.get("/m/assist/").get_data(as_text=True)
    assert 'method="post"' in home.split('id="q"')[0][-400:]        # the search form posts: no ID in a URL
    html = client.post("/m/assist/", data={"csrf_token": _csrf(home), "q": "孟庆云"}).get_data(as_text=True)
    # One match in my village: its page at once (the other 孟庆云 lives elsewhere).
    r = client.post("/m/assist/", data={"csrf_token": _csrf(home), "q": mine.id_number})
    assert r.headers["Location"].endswith(f"/m/assist/r/{mine.id}")
    assert "没有办成" in client.get(f"/m/assist/r/{other.id}").get_data(as_text=True)
    html = client.get(f"/m/assist/r/{mine.id}").get_data(as_text=True)
    assert "孟庆云" not in html and 'id="card-status"' not in html      # before consent: the mask only
    token = _csrf(html)
    client.post(f"/m/assist/r/{mine.id}", data={"csrf_token": token, "step": "send"})
    r = client.post(f"/m/assist/r/{mine.id}", data={"csrf_token": token, "step": "consent",
                                                    "code": last_code(mine.mobile)})
    assert r.headers["Location"].endswith(f"/m/assist/r/{mine.id}")
    client.get("/m/assist/")                                           # 返回查找 and back: the consent stays
    html = client.get(f"/m/assist/r/{mine.id}").get_data(as_text=True)
    assert 'id="consent-live"' in html and 'id="card-status"' in html
    html = client.post(f"/m/assist/r/{mine.id}", content_type="multipart/form-data", data={
        "csrf_token": token, "step": "apply", "bank_id": str(county["banks"]["RCB"]), "delivery": "branch",
        "branch_id": str(branch_id(county["banks"]["RCB"])), "photo": (io.BytesIO(JPEG), "p.jpg")}
    ).get_data(as_text=True)
    assert "已为居民提交申领" in html and "已提交" in html
    assert not re.search(r"\d{17}[\dX]", html)
    # The resident sees the latest act on 首页.
    phone = client.application.test_client()
    _dev_login(phone, mine)
    home = phone.get("/m/").get_data(as_text=True)
    assert 'id="latest-assist"' in home and "提交社保卡申领" in home
    # Sign-out ends the staff session.
    r = client.post("/m/assist/logout", data={"csrf_token": token})
    assert "/m/assist/login" in r.headers["Location"]
    assert client.get(f"/m/assist/r/{mine.id}").headers["Location"].endswith("/m/assist/login")


def test_demo_step_offers_demo_residents_on_the_dev_login_and_binding_pages(client, county, make_staff):
    from onecard.citizens import demo as citizen_demo
    make_staff("village_staff", "village", village_id=county["villages"][0])
    main = make_resident(county["towns"][0], county["villages"][0], name="颜建国")
    make_card(main, county["banks"]["RCB"], status="active")
    citizen_demo.run(None)
    html = client.get("/m/login").get_data(as_text=True)
    assert "演示居民 颜*国" in html and main.id_number not in html
    r = client.post("/m/login", data={"csrf_token": _csrf(html)})
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "demo", "resident_id": str(main.id)})
    assert "如信息正确" in r.get_data(as_text=True)
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "code", "code": last_code(main.mobile)})
    assert r.headers["Location"].endswith("/m/card")


def test_any_phone_browser_signs_in_with_the_registered_mobile_when_dev_login_is_off(client, county, app,
                                                                                      monkeypatch):
    import sqlalchemy as sa

    from onecard.citizens.models import CitizenSession
    from onecard.extensions import db
    monkeypatch.setitem(app.config, "DEV_LOGIN", False)
    resident = make_resident(county["towns"][0], county["villages"][0], name="颜景荣")
    resident.wechat_openid = "o-mini-1"
    db.session.commit()
    make_card(resident, county["banks"]["RCB"], status="active")
    page = client.get("/m/login").get_data(as_text=True)
    assert "用手机验证码登录" in page and "开发演示登录" not in page
    assert client.post("/m/login", data={"csrf_token": _csrf(page)}).status_code == 404     # no dev door
    assert client.post("/m/login/phone", data={}).status_code == 400                          # CSRF
    r = client.post("/m/login/phone", data={"csrf_token": _csrf(page)})
    assert r.headers["Location"].endswith("/m/bind")
    assert client.get("/m/card").headers["Location"].endswith("/m/bind")     # unbound: nothing to see yet
    html = client.get("/m/bind").get_data(as_text=True)
    html = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "details", "name": "颜景荣",
                                        "id_number": resident.id_number}).get_data(as_text=True)
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "code", "code": last_code(resident.mobile)})
    assert r.headers["Location"].endswith("/m/card")
    assert "正常" in client.get("/m/card").get_data(as_text=True)
    session = db.session.execute(sa.select(CitizenSession).order_by(CitizenSession.id.desc())).scalars().first()
    assert (session.channel, session.openid, session.resident_id) == ("h5", None, resident.id)
    db.session.refresh(resident)
    assert resident.wechat_openid == "o-mini-1"          # the mini-program's tie is untouched


def test_phone_login_door_is_rate_limited(client, county):
    codes = [client.post("/m/login/phone", data={"csrf_token": _csrf(client.get("/m/login").get_data(as_text=True))})
             .status_code for _ in range(12)]
    assert codes[:10] == [302] * 10 and codes[-1] == 429
    r = client.post("/m/login/phone", data={"csrf_token": _csrf(client.get("/m/login").get_data(as_text=True))})
    assert r.status_code == 429 and r.mimetype == "text/html" and "操作过于频繁" in r.get_data(as_text=True)
    r = client.get("/m/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html" and "页面或记录不存在" in r.get_data(as_text=True)
    r = client.get("/api/citizen/v1/no-such-door")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"      # the API keeps its JSON


def _dev_login(client, resident) -> None:
    page = client.get("/m/login").get_data(as_text=True)
    client.post("/m/login", data={"csrf_token": _csrf(page), "id_number": resident.id_number})


def test_a_pending_code_step_is_server_state_shown_on_every_get_with_its_countdown(client, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔令华")
    make_card(resident, county["banks"]["RCB"], status="issued")
    _dev_login(client, resident)
    html = client.get("/m/activate").get_data(as_text=True)
    assert 'id="code"' not in html and 'id="send-code"' in html
    client.post("/m/activate", data={"csrf_token": _csrf(html), "step": "start"})
    for _ in range(2):      # a plain GET (reload, back, after a mode switch) still shows the code step
        html = client.get("/m/activate").get_data(as_text=True)
        assert 'id="code"' in html and 'id="send-code"' not in html
        assert re.search(r'data-countdown="(\d+)"', html) and "之后可以重新发送" in html
        seconds = int(re.search(r'还有 <span data-countdown="(\d+)"', html).group(1))
        assert 50 <= seconds <= 60
    # Sending again too early is refused, and the code field stays.
    html = client.post("/m/activate", data={"csrf_token": _csrf(html), "step": "start"}).get_data(as_text=True)
    assert "验证码发送太频繁" in html and 'id="code"' in html
    r = client.post("/m/activate", data={"csrf_token": _csrf(html), "step": "code", "code": last_code()})
    assert r.headers["Location"].endswith("/m/card?done=activate")
    html = client.get("/m/activate").get_data(as_text=True)
    assert 'id="code"' not in html          # a used code is no pending step


def test_the_binding_code_step_survives_a_reload_and_can_be_left_on_purpose(client, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="颜丽华")
    page = client.get("/m/login").get_data(as_text=True)
    client.post("/m/login", data={"csrf_token": _csrf(page)})
    page = client.get("/m/bind").get_data(as_text=True)
    client.post("/m/bind", data={"csrf_token": _csrf(page), "step": "details", "name": "颜丽华",
                                 "id_number": resident.id_number})
    html = client.get("/m/bind").get_data(as_text=True)
    assert 'id="code"' in html and "之后可以重新获取" in html
    html = client.get("/m/bind?again=1").get_data(as_text=True)
    assert 'id="id_number"' in html and 'id="back-to-code"' in html
    r = client.post("/m/bind", data={"csrf_token": _csrf(html), "step": "code", "code": last_code()})
    assert r.headers["Location"].endswith("/m/card")


def test_each_page_has_its_own_title_and_a_way_back(client, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孟凡军")
    make_card(resident, county["banks"]["RCB"], status="active")
    _dev_login(client, resident)
    titles = set()
    for path in ("/m/card", "/m/subsidies", "/m/complaints", "/m/policies", "/m/settings", "/m/loss"):
        html = client.get(path).get_data(as_text=True)
        titles.add(re.search(r"<title>(.*?)</title>", html).group(1))
        assert 'id="back"' in html and "返回" in html, path
    assert len(titles) == 6
