"""The department operator's day in headless Chromium: template, an upload with errors, the fix, matching.

Screenshots go to tests/screenshots/ (git-ignored) for review.
"""
from __future__ import annotations

import re

from tests.browser import SHOTS, checked_screenshot, needs_chromium
from tests.conftest import TEST_PASSWORD
from tests.factories import make_card, make_resident, new_account, new_id_number, new_mobile
from tests.fixtures_lists import csv_bytes

pytestmark = needs_chromium


def _row(name, id_number, *, town="济河街道"):
    return [name, id_number, "汉族", new_mobile(), town, "东庄村", "工商银行", new_account(), "100.00", ""]


def test_operator_fixes_an_upload_from_the_inline_report_and_matches_it(live_server, browser, operator,
                                                                        project, county, db):
    person = make_resident(county["towns"][0], county["villages"][0], name="甲正常", id_number=new_id_number())
    make_card(person, county["banks"]["ICBC"], "active")
    good_id = new_id_number()
    wrong_id = good_id[:17] + ("0" if good_id[17] != "0" else "1")
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    # The refused upload is answered 422 on purpose (Chromium logs that): any other error is a problem.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None)

    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.resource_type)
            if r.method == "POST" and r.url.endswith("/console/upload") else None)

    page.goto(f"{live_server}/console/login")
    page.fill("#username", operator.username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{live_server}/console/")
    page.click("a[data-menu=upload]")
    page.wait_for_url(f"{live_server}/console/upload")

    with page.expect_download() as download:
        page.click("#template-link")
    assert download.value.suggested_filename.endswith(".xlsx")

    page.select_option("#project_id", str(project.id))
    page.fill("#period", "2026-11")
    bad = csv_bytes([_row("甲正常", person.id_number), _row("乙错号", wrong_id), _row("丙错镇", good_id, town="无此镇")])
    page.set_input_files("#file", files=[{"name": "名单-有错.csv", "mimeType": "text/csv", "buffer": bad}])
    page.click("form[data-upload-form] button[type=submit]")
    page.wait_for_selector("#error-table")
    rows = page.locator("#error-table tbody tr")
    assert rows.count() == 2
    assert "身份证号" in rows.nth(0).inner_text() and "镇街" in rows.nth(1).inner_text()
    assert wrong_id not in page.content()
    assert page.is_visible("#report-link")
    checked_screenshot(page, SHOTS / "console_upload_errors.png", full_page=True)

    # The page the server answered still carries the chosen project and period: only the file changes.
    fixed = csv_bytes([_row("甲正常", person.id_number), _row("乙错号", good_id)])
    page.set_input_files("#file", files=[{"name": "名单-已改.csv", "mimeType": "text/csv", "buffer": fixed}])
    page.click("form[data-upload-form] button[type=submit]")
    page.wait_for_selector("#list-total")
    assert re.search(r"/console/lists/\d+$", page.url)
    assert page.inner_text("#list-total") == "200.00 元"
    assert "名单已保存：2 人" in page.content()
    checked_screenshot(page, SHOTS / "console_list_stored.png", full_page=True)
    assert uploads == ["xhr", "xhr"]      # both uploads went through lists.js (progress, then 正在校验…)

    page.click("#match-button")
    page.wait_for_selector("#summary-counts")
    assert "比对完成" in page.content()
    assert page.inner_text("#match-button") == "重新比对"
    checked_screenshot(page, SHOTS / "console_matching_summary.png", full_page=True)
    page.click("a[data-menu=home]")
    page.wait_for_selector("svg.chart")
    assert "比对进度（按镇街" in page.content()
    checked_screenshot(page, SHOTS / "console_home_matching_progress.png", full_page=True)
    assert not problems, problems
    context.close()
