"""The batch approval flow across roles in headless Chromium: operator, reviewer, finance, bank; screenshots."""
from __future__ import annotations

import pathlib

import sqlalchemy as sa

from onecard.payments.models import Batch
from tests.browser import SHOTS, checked_screenshot, needs_chromium
from tests.conftest import TEST_PASSWORD
from tests.console.test_payments import result_file

pytestmark = needs_chromium


def sign_in(browser, base, username, problems):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/console/")
    return context, page


def test_batch_goes_from_operator_to_bank_through_pages(live_server, browser, pay, pension_list, db,
                                                        tmp_path):
    SHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    base = live_server

    # 1. The department operator makes the batch from the matched list and submits it.
    ctx, page = sign_in(browser, base, pay.operator.username, problems)
    page.click("a[data-menu=batches]")
    page.select_option("#list-id", str(pension_list.id))
    page.click("#create-batch")
    page.wait_for_selector(".msg-success")
    batch_id = db.session.execute(sa.select(sa.func.max(Batch.id))).scalar()
    db.session.remove()
    url = f"{base}/console/batches/{batch_id}"
    page.goto(url)
    assert page.is_visible("#held-table")
    checked_screenshot(page, SHOTS / "console_pay_batch_draft.png", full_page=True)
    page.click("#step-submit")
    page.wait_for_selector(".msg-success")
    assert page.get_attribute("#batch-status", "data-status") == "submitted"
    assert not page.is_visible("#step-review")
    ctx.close()

    # 2. The reviewer reviews it.
    ctx, page = sign_in(browser, base, pay.reviewer.username, problems)
    page.goto(url)
    page.click("#step-review")
    page.wait_for_selector(".msg-success")
    assert page.get_attribute("#batch-status", "data-status") == "reviewed"
    ctx.close()

    # 3. Finance approves; pressing the same approve form again (a stale page) does nothing.
    ctx, page = sign_in(browser, base, pay.finance.username, problems)
    page.goto(url)
    checked_screenshot(page, SHOTS / "console_pay_batch_reviewed.png", full_page=True)
    csrf = page.input_value("form[data-step=approve] input[name=csrf_token]")
    nonce = page.input_value("form[data-step=approve] input[name=form_nonce]")
    page.click("#step-approve")
    page.wait_for_selector(".msg-success")
    assert page.get_attribute("#batch-status", "data-status") == "approved"
    page.evaluate("""([action, csrf, nonce]) => {
        const f = document.createElement('form'); f.method = 'post'; f.action = action;
        for (const [k, v] of [['csrf_token', csrf], ['form_nonce', nonce]]) {
            const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
    }""", [f"/console/batches/{batch_id}/approve", csrf, nonce])
    page.wait_for_selector(".msg-info")
    assert "该操作已处理" in page.inner_text("main")
    approvals = db.session.execute(sa.text("select count(*) from audit_entries where action = 'batch.approved' "
                                           "and entity_id = :b"), {"b": str(batch_id)}).scalar()
    db.session.remove()
    assert approvals == 1
    ctx.close()

    # 4. The bank exports the file (batch sent), downloads it and uploads a result with one failure.
    ctx, page = sign_in(browser, base, pay.rcb.username, problems)
    page.click("a[data-menu=bank_files]")
    checked_screenshot(page, SHOTS / "console_pay_bank_files.png", full_page=True)
    page.click(f"form[data-export='{batch_id}'] button")
    page.wait_for_selector(".msg-success")
    with page.expect_download() as info:
        page.click(f"a[data-download='{batch_id}']")
    data = pathlib.Path(info.value.path()).read_bytes()
    number = page.inner_text(f"#awaiting-table a[href='/console/batches/{batch_id}']")
    from onecard.payments import bankformats
    from tests.fixtures_payments import parse_bank_file
    layout = bankformats.RCB
    _, details, ok = parse_bank_file(data, layout.encoding, layout.sep)
    assert ok
    results = tmp_path / "result.csv"
    results.write_bytes(result_file(number, data, {int(details[0][1])}))
    page.set_input_files(f"#result-file-{batch_id}", str(results))
    page.click(f"form[data-results='{batch_id}'] button[type=submit]")
    page.wait_for_url(url)
    assert page.get_attribute("#batch-status", "data-status") == "feedback_received"
    assert page.is_visible("[data-check=lines] .agree") and page.is_visible("[data-check=outcome] .agree")
    assert page.locator(".mismatch").count() == 0
    assert "账户已销户" in page.inner_text("#lines-table")
    checked_screenshot(page, SHOTS / "console_pay_batch_feedback.png", full_page=True)
    page.set_viewport_size({"width": 768, "height": 1024})      # a tablet
    checked_screenshot(page, SHOTS / "console_pay_batch_feedback_tablet.png", full_page=True)
    ctx.close()
    assert problems == []
