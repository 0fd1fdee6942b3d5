"""The H5 pages in headless Chromium at a phone's size (390x844), against a live server on 127.0.0.1.

Dev-login, bind, see the card, apply with a photo, see an arrival, switch on elderly mode.
Screenshots go to tests/screenshots/ (gitignored).
"""
from __future__ import annotations

import re

import pytest

from tests.browser import SHOTS, needs_chromium
from tests.factories import make_resident
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
    html = page.content()
    assert not FULL_ID.search(html), f"{name} shows a full ID number"
    page.screenshot(path=str(SHOTS / f"citizen_{name}.png"), full_page=True)
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
    page.select_option("#bank_id", label="农商银行（泗水县农商银行）")
    page.fill("#branch", "泗水县农商银行营业部")
    page.set_input_files("#photo", str(photo))
    _check(page, "apply")
    _submit(page, "#submit-apply")
    assert "/m/card" in page.url
    assert "已申领" in page.inner_text("#card-status")
    assert page.inner_text(".app-status") == "已提交"
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


def test_errors_are_plain_chinese_on_the_page(live_server, page, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="曾志强")
    page.goto(f"{live_server}/m/login")
    page.fill("#id_number", resident.id_number)
    _submit(page, "#dev-login")
    page.goto(f"{live_server}/m/apply")
    page.fill("#branch", "")
    _submit(page, "#submit-apply")
    assert "领卡网点不能为空" in page.inner_text(".error")
    _check(page, "apply_error")
