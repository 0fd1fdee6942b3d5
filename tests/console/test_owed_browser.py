"""The 应发未发 page in headless Chromium at 1366 px: the operator filters by reason, is refused beside the form
without a reason, cancels a line with one; axe-core finds no serious problem on the list, the refusal or after."""
from __future__ import annotations

from onecard.payments.models import BatchLine
from tests.browser import SHOTS, axe_problems, needs_chromium
from tests.console.test_owed_pages import owed_world  # noqa: F401 (fixture)
from tests.console.test_payments_browser import sign_in

pytestmark = needs_chromium


def test_the_operator_filters_and_cancels_an_owed_line_in_the_browser(live_server, browser, pay, owed_world, db):  # noqa: F811
    SHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    console_errors: list[str] = []       # the refused submit is answered 422 on purpose; only axe counts here
    ctx, page = sign_in(browser, live_server, pay.operator.username, console_errors)
    page.click("a[data-menu=owed]")
    assert page.locator("#owed-table tbody tr[data-line]").count() == 2
    problems += axe_problems(page, "console_owed_list")
    page.select_option("#f-reason", "退汇：账户已销户")
    with page.expect_navigation():
        page.click("form[aria-label] button[type=submit]")
    assert page.locator("#owed-table tbody tr[data-line]").count() == 1

    returned = owed_world["returned"]
    page.fill(f"#cancel-reason-{returned}", "   ")     # passes the browser's required check, not the rule
    with page.expect_navigation():
        page.click(f"form[data-cancel='{returned}'] button")
    assert page.is_visible(f"#cancel-error-{returned}")
    problems += axe_problems(page, "console_owed_refused")
    page.fill(f"#cancel-reason-{returned}", "家属书面申请放弃")
    with page.expect_navigation():
        page.click(f"form[data-cancel='{returned}'] button")
    page.wait_for_selector(".msg-success")
    page.screenshot(path=str(SHOTS / "console_owed_cancelled.png"), full_page=True)
    problems += axe_problems(page, "console_owed_cancelled")
    ctx.close()
    db.session.expire_all()
    assert db.session.get(BatchLine, returned).status == "written_off"
    assert not problems, "\n".join(problems)
