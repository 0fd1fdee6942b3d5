"""Finance in headless Chromium: runs the risk checks, reads a finding's evidence, publishes a 公示 and opens
the public page from the console. Screenshots go to tests/screenshots/."""
from __future__ import annotations

from tests.browser import SHOTS, checked_screenshot, needs_chromium
from tests.conftest import TEST_PASSWORD
from tests.console.test_oversight import _paid_data

pytestmark = needs_chromium


def test_finance_runs_risk_checks_and_publishes_a_disclosure(live_server, browser, make_staff, county, ov, db):
    elder = _paid_data(ov, county)
    make_staff("finance", "czj")
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server}/console/login")
    page.fill("#username", "czj")
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server}/console/")

    page.click("a[data-menu=risk]")
    page.click("#run-checks")
    page.wait_for_selector(".msg-success")
    assert "风险核查已完成" in page.inner_text(".msg-success")
    finding = page.locator("section.finding", has_text="重复")
    assert finding.count() >= 1
    finding.first.locator("summary").click()
    assert "孔*" in finding.first.inner_text() and "孔令秀" not in page.content()
    checked_screenshot(page, SHOTS / "console_oversight_risk.png", full_page=True)

    page.click("a[data-menu=stats]")
    assert page.locator("svg.chart").count() == 2
    checked_screenshot(page, SHOTS / "console_oversight_stats.png", full_page=True)

    page.click("a[data-menu=disclosure]")
    page.select_option("#project_id", str(elder.id))
    page.fill("#period", "2026-03")
    page.click("#publish")
    page.wait_for_selector(".msg-success")
    checked_screenshot(page, SHOTS / "console_oversight_disclosure.png", full_page=True)
    with context.expect_page() as opened:
        page.click("a.public-link")
    public = opened.value
    public.wait_for_load_state()
    assert "/public/disclosures/" in public.url
    text = public.inner_text("body")
    assert "高龄津贴" in text and "孔令秀" not in text
    checked_screenshot(public, SHOTS / "console_oversight_public.png", full_page=True)
    assert not problems, problems
    context.close()
