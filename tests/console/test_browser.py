"""The console in headless Chromium (Debian's package): the admin signs in, opens an account, reads the dashboard.

Screenshots of the main pages go to tests/screenshots/ (git-ignored) for review.
"""
from __future__ import annotations

from tests.browser import SHOTS, checked_screenshot, needs_chromium
from tests.conftest import TEST_PASSWORD
from tests.console.test_dashboard import _county_data

pytestmark = needs_chromium


def test_admin_signs_in_opens_an_account_and_reads_the_dashboard(live_server, browser, make_staff, county, db):
    _county_data(db, county)
    make_staff("admin", "chief")
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))

    page.goto(f"{live_server}/console/login")
    assert page.evaluate("document.activeElement.id") == "username"     # ready to type
    checked_screenshot(page, SHOTS / "console_login.png")
    page.fill("#username", "chief")
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server}/console/")
    assert "上次登录：" in page.inner_text("#last-login")
    page.keyboard.press("Tab")      # the first Tab reaches the skip link, which jumps to the content
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    assert "济河街道" in charts.first.inner_html()
    checked_screenshot(page, SHOTS / "console_dashboard.png", full_page=True)

    page.click("a[data-menu=accounts]")
    page.wait_for_url(f"{live_server}/console/accounts")
    # Choosing the position shows only the scope picker it needs (console.js).
    page.select_option("#new-role", "dept_operator")
    assert page.is_visible("#new-department_id") and not page.is_visible("#new-bank_id")
    page.fill("#new-username", "mz_browser")
    page.fill("#new-display-name", "民政经办（浏览器）")
    page.fill("#new-password", "Initial2026pw")
    page.select_option("#new-department_id", label="县民政局")
    page.click("form[data-account-form] button[type=submit]")
    page.wait_for_selector(".msg-success")
    assert "已开通账号 mz_browser" in page.inner_text(".msg-success")
    assert "民政经办（浏览器）" in page.inner_text("#accounts-table")
    checked_screenshot(page, SHOTS / "console_accounts.png", full_page=True)

    page.click("a[data-menu=guide]")
    checked_screenshot(page, SHOTS / "console_guide.png")
    page.click("a[data-menu=audit_verify]")
    page.click("text=开始校验")
    assert "校验通过" in page.inner_text("#chain-result")
    assert problems == []       # no CSP violation, no failed request (nothing from outside)

    tablet = browser.new_context(viewport={"width": 768, "height": 1024}, locale="zh-CN")
    tab = tablet.new_page()
    tab.goto(f"{live_server}/console/login")
    tab.fill("#username", "mz_browser")
    tab.fill("#password", "Initial2026pw")
    tab.click("button[type=submit].primary")
    tab.wait_for_url(f"{live_server}/console/password")
    checked_screenshot(tab, SHOTS / "console_password_tablet.png", full_page=True)
    tablet.close()
    context.close()
