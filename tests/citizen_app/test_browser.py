"""The H5 pages in headless Chromium at a phone's size (390x844), against a live server on 127.0.0.1.

Dev-login, bind, see the card, apply with a photo, see an arrival, switch on elderly mode.
Screenshots go to tests/screenshots/ (gitignored).
"""
from __future__ import annotations

import re

import pytest

from tests.browser import SHOTS, axe_problems, needs_chromium
from tests.factories import make_card, make_resident
from tests.fixtures_citizen import JPEG, add_ledger, last_code, make_project

FULL_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")

pytestmark = [
    pytest.mark.usefixtures("citizen_env"),
    *needs_chromium,
]


@pytest.fixture
def page(browser):
    """A phone-sized page (390x844)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                  is_mobile=True, has_touch=True, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def _check(page, name: str) -> str:
    """Every page the tests pass through: no full ID, no critical or serious axe-core finding, a screenshot."""
    html = page.content()
    assert not FULL_ID.search(html), f"{name} shows a full ID number"
    page.screenshot(path=str(SHOTS / f"citizen_{name}.png"), full_page=True)
    problems = axe_problems(page, name)
    assert not problems, "\n".join(problems)
    return html


def _submit(page, selector: str) -> None:
    """Click something that loads a new page and wait for that page (a POST + redirect)."""
    with page.expect_navigation():
        page.click(selector)


def _font_px(page) -> float:
    return float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))


def test_phone_binds_sees_card_applies_reads_arrival_and_goes_elderly(live_server, page, county, tmp_path):
    resident = make_resident(county["towns"][0], county["villages"][0], name="颜桂兰")
    project = make_project(county["departments"]["县民政局"], "高龄津贴")
    add_ledger(resident, project, county["banks"]["RCB"], period="2026-01", amount_fen=10000)
    base = live_server

    page.goto(f"{base}/m/")
    _check(page, "home_anonymous")
    _submit(page, "text=登录")
    _submit(page, "#dev-login")                      # a fresh phone, not yet bound
    assert page.url.endswith("/m/bind")
    page.fill("#name", "颜桂兰")
    page.fill("#id_number", resident.id_number)
    _submit(page, "#send-code")
    html = _check(page, "bind_code")
    assert "如信息正确" in html
    page.fill("#code", last_code(resident.mobile))
    _submit(page, "#bind")
    assert page.url.endswith("/m/card")
    assert page.inner_text("#card-status") == "未申领"
    _check(page, "card_none")

    _submit(page, "#go-apply")
    photo = tmp_path / "me.jpg"
    photo.write_bytes(JPEG)
    page.select_option("#bank_id", label="农商银行")
    page.select_option("#branch_id", label="泗水县农商银行营业部")
    page.set_input_files("#photo", str(photo))
    _check(page, "apply")
    _submit(page, "#submit-apply")
    assert "/m/card" in page.url
    # The card's words follow the application's real step: submitted, not yet 制卡中.
    assert page.inner_text("#card-status") == "申领已提交"
    assert page.inner_text(".app-status") == "已提交"
    assert "制卡中" not in page.inner_text("main")
    _check(page, "card_applied")

    page.goto(f"{base}/m/subsidies")
    assert page.inner_text("#year-total").endswith("元")
    assert "高龄津贴" in page.inner_text("main") and "100.00元" in page.inner_text("main")
    _check(page, "subsidies")

    before = _font_px(page)
    _submit(page, "#elderly-switch")
    assert "/m/subsidies" in page.url
    after = _font_px(page)
    assert after >= 20 and after > before
    _check(page, "subsidies_elderly")
    page.goto(f"{base}/m/")
    _check(page, "home_elderly")
    for path in ("settings", "complaints", "policies", "card"):
        page.goto(f"{base}/m/{path}")
        _check(page, f"{path}_elderly")


def test_errors_are_plain_chinese_beside_each_field_all_at_once(live_server, page, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="曾志强")
    page.goto(f"{live_server}/m/login")
    page.fill("#id_number", resident.id_number)
    _submit(page, "#dev-login")
    page.goto(f"{live_server}/m/apply")
    _submit(page, "#submit-apply")               # no bank, no branch, no photo
    assert page.inner_text("#bank_id-error") == "请选择发卡银行"
    assert "网点" in page.inner_text("#branch_id-error")
    assert "照片" in page.inner_text("#photo-error")
    assert page.get_attribute("#bank_id", "aria-invalid") == "true"
    _check(page, "apply_error")


# ---------------------------------------------------------------- 长辈版: same functions, larger controls

MEASURE = """() => {
  const sel = 'main a.btn, main .menu a, main button, main input:not([type=hidden]):not([type=radio]):not([type=file]),'
    + ' main select, main textarea, main label.choice, main .photo-control, header a, header button';
  const controls = [];
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    controls.push({what: (el.id || el.tagName) + ' ' + (el.innerText || '').trim().slice(0, 12),
                   w: r.width, h: r.height, right: r.right});
  }
  const status = document.querySelector('.status');
  return {controls, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          statusPx: status ? parseFloat(getComputedStyle(status).fontSize) : null,
          switchPx: parseFloat(getComputedStyle(document.querySelector('#elderly-switch')).fontSize),
          switchText: document.querySelector('#elderly-switch').innerText.trim()};
}"""


def _measure(page, name: str, elderly: bool) -> dict:
    m = page.evaluate(MEASURE)
    assert m["scrollWidth"] <= m["innerWidth"], f"{name}: page is {m['scrollWidth']} px wide on a 390 px screen"
    assert all(c["right"] <= m["innerWidth"] + 0.5 for c in m["controls"]), name
    if elderly:
        small = [c for c in m["controls"] if c["w"] < 60 or c["h"] < 60]
        assert not small, f"{name}: controls below 60x60 in 长辈版: {small}"
        if m["statusPx"] is not None:
            assert m["statusPx"] >= 30, f"{name}: status text {m['statusPx']} px"
        assert m["switchText"] == "标准版"
    else:
        assert m["switchText"] == "长辈版" and m["switchPx"] >= 18      # the entry is large in standard mode too
    _check(page, f"{name}_{'elderly' if elderly else 'standard'}")
    return m


def _sign_in(page, base, resident) -> None:
    page.goto(f"{base}/m/login")
    page.fill("#id_number", resident.id_number)
    _submit(page, "#dev-login")


def _set_mode(page, base, elderly: bool) -> None:
    page.goto(f"{base}/m/")
    if (page.inner_text("#elderly-switch").strip() == "长辈版") == elderly:
        _submit(page, "#elderly-switch")


@pytest.mark.parametrize("elderly", [False, True], ids=["standard", "elderly"])
def test_every_page_fits_a_phone_and_elderly_controls_are_at_least_60px(live_server, page, county, elderly):
    base = live_server
    with_card = make_resident(county["towns"][0], county["villages"][0], name="孔繁荣")
    make_card(with_card, county["banks"]["RCB"], status="issued")
    no_card = make_resident(county["towns"][0], county["villages"][0], name="颜秀英")
    add_ledger(with_card, make_project(county["departments"]["县民政局"]), county["banks"]["RCB"],
               outcome="failed")
    _set_mode(page, base, elderly)
    for path in ("", "login", "policies"):
        page.goto(f"{base}/m/{path}")
        _measure(page, f"anon_{path or 'home'}", elderly)
    _sign_in(page, base, with_card)
    for path in ("", "card", "subsidies", "complaints", "settings", "activate", "loss"):
        page.goto(f"{base}/m/{path}")
        _measure(page, path or "home", elderly)
    _submit(page, "#send-code")                    # the code step with its countdown
    _measure(page, "loss_code", elderly)
    _sign_in(page, base, no_card)
    page.goto(f"{base}/m/apply")
    _measure(page, "apply", elderly)
    page.check("input[value=post]")
    _submit(page, "#submit-apply")
    _measure(page, "apply_errors", elderly)


def test_elderly_home_reaches_every_function(live_server, page, county):
    base = live_server
    resident = make_resident(county["towns"][0], county["villages"][0], name="孟庆兰")
    make_card(resident, county["banks"]["RCB"], status="active")
    _sign_in(page, base, resident)
    _set_mode(page, base, True)
    assert page.evaluate("document.body.className") == "elderly"
    functions = {"补贴到账": "/m/subsidies", "我的社保卡": "/m/card", "挂失社保卡": "/m/loss",
                 "投诉咨询": "/m/complaints", "补贴政策": "/m/policies", "设置": "/m/settings"}
    for label, path in functions.items():
        page.goto(f"{base}/m/")
        link = page.locator(".menu a", has_text=label)
        assert link.is_visible(), f"{label} is not on 首页 in 长辈版"
        with page.expect_navigation():
            link.click()
        assert page.url.endswith(path)
        assert page.title().startswith(label[:2]), page.title()     # each page its own title
        assert page.is_visible("#back")                               # and a way back


# ---------------------------------------------------------------- the code step cannot trap anyone


def test_code_step_survives_reload_back_and_mode_switch(live_server, page, county):
    base = live_server
    resident = make_resident(county["towns"][0], county["villages"][0], name="颜世明")
    make_card(resident, county["banks"]["RCB"], status="active")
    _sign_in(page, base, resident)
    page.goto(f"{base}/m/loss")
    _submit(page, "#send-code")
    assert page.is_visible("#code")
    code = last_code(resident.mobile)
    page.reload()                                   # a reload
    assert page.is_visible("#code")
    assert re.search(r"\d\d:\d\d:\d\d 之后可以重新发送", page.inner_text("#resend-wait"))
    page.goto(f"{base}/m/")                          # away and back
    page.goto(f"{base}/m/loss")
    assert page.is_visible("#code")
    _submit(page, "#elderly-switch")                # a mode switch
    assert page.url.endswith("/m/loss") and page.is_visible("#code")
    page.fill("#code", code)
    _submit(page, "#confirm")
    assert page.url.endswith("/m/card?done=loss")
    assert page.inner_text("#card-status") == "挂失"


# ---------------------------------------------------------------- the assisted mode, as a village helper meets it


@pytest.mark.parametrize("elderly", [False, True], ids=["standard", "elderly"])
def test_helper_goes_from_sign_in_to_a_submitted_application_in_five_screens(live_server, page, county, make_staff,
                                                                              tmp_path, elderly):
    from tests.conftest import TEST_PASSWORD
    base = live_server
    staff = make_staff("village_staff", village_id=county["villages"][0])
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔令芬")
    photo = tmp_path / "me.jpg"
    photo.write_bytes(JPEG)
    page.goto(f"{base}/m/assist/login")
    if elderly:
        _submit(page, "#elderly-switch")
    _measure(page, "assist_login", elderly)
    page.fill("#username", staff.username)
    page.fill("#password", TEST_PASSWORD)
    screens: list[str] = []
    page.on("framenavigated", lambda frame: screens.append(frame.url) if frame == page.main_frame else None)
    _submit(page, "#staff-login")                                      # 1: search
    _measure(page, "assist_home", elderly)
    page.fill("#q", resident.id_number)
    _submit(page, "#search")                                           # 2: the resident (one match), masked
    assert "孔令芬" not in page.inner_text("main") and not page.is_visible("#card-status")
    _measure(page, "assist_resident_consent", elderly)
    _submit(page, "#send-consent")                                     # 3: the code was sent
    _measure(page, "assist_code_sent", elderly)
    page.fill("#code", last_code(resident.mobile))
    _submit(page, "#give-consent")                                     # 4: consent given: card and the form
    assert page.is_visible("#consent-live") and page.inner_text("#card-status") == "未申领"
    _measure(page, "assist_apply", elderly)
    page.select_option("#bank_id", label="农商银行")
    page.select_option("#branch_id", label="泗水县农商银行营业部")
    page.set_input_files("#photo", str(photo))
    _submit(page, "#assist-apply")                                     # 5: submitted
    assert "已为居民提交申领" in page.inner_text("main") and page.inner_text(".app-status") == "已提交"
    assert len(screens) <= 5, screens
    assert all(resident.id_number not in url for url in screens)      # the ID never in a URL
    _measure(page, "assist_done", elderly)
    _submit(page, "#assist-logout")
    assert page.is_visible("#signed-out")


def test_the_axe_check_finds_a_real_problem(page):
    """The accessibility check itself can fail: a picture without alt text and an unlabelled field."""
    page.set_content('<html lang="zh-CN"><title>t</title><main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                     '<input type="text"></main></html>')
    problems = axe_problems(page, "bad")
    assert any("image-alt" in p for p in problems) and any("label" in p for p in problems)
