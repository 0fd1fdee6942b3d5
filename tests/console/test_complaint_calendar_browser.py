"""The 办理时限与节假日 page in headless Chromium: the administrator opens it from the menu, is refused beside the
form for a blank name, registers a 调休 working day and deletes it; axe-core finds no serious problem on the
refusal, the listed calendar or after the delete."""
from __future__ import annotations

from datetime import date

from onecard.complaints.models import Holiday
from tests.browser import SHOTS, axe_problems, needs_chromium
from tests.console.test_payments_browser import sign_in

pytestmark = needs_chromium


def test_the_administrator_keeps_the_calendar_in_the_browser(live_server, browser, make_staff, db):
    SHOTS.mkdir(exist_ok=True)
    admin = make_staff("admin", "cal_admin")
    problems: list[str] = []
    console_errors: list[str] = []       # the refused submit is answered 422 on purpose; only axe counts here
    ctx, page = sign_in(browser, live_server, admin.username, console_errors)
    page.click("a[data-menu=complaint_calendar]")
    page.fill("#year", "2027")
    with page.expect_navigation():
        page.click("form[aria-label] button[type=submit]")

    page.fill("#day", "2027-10-09")
    page.select_option("#kind", "workday")
    page.fill("#holiday-name", "   ")          # passes the browser's required check, not the rule
    with page.expect_navigation():
        page.click("#day-form button[type=submit]")
    assert page.is_visible("#day-error") and page.get_attribute("#holiday-name", "aria-invalid") == "true"
    assert page.input_value("#day") == "2027-10-09" and page.input_value("#kind") == "workday"
    problems += axe_problems(page, "console_calendar_refused")

    page.fill("#holiday-name", "国庆节调休")
    with page.expect_navigation():
        page.click("#day-form button[type=submit]")
    page.wait_for_selector(".msg-success")
    assert page.locator("#holidays-table tr[data-day='2027-10-09']").count() == 1
    page.screenshot(path=str(SHOTS / "console_calendar_listed.png"), full_page=True)
    problems += axe_problems(page, "console_calendar_listed")

    with page.expect_navigation():
        page.click("#holidays-table tr[data-day='2027-10-09'] button")
    page.wait_for_selector(".msg-success")
    assert page.locator("#holidays-table tr[data-day]").count() == 0
    problems += axe_problems(page, "console_calendar_deleted")
    ctx.close()
    db.session.expire_all()
    assert db.session.get(Holiday, date(2027, 10, 9)) is None
    assert not problems, "\n".join(problems)
