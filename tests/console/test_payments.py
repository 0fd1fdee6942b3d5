"""Disbursement console pages: agreements, batches and their steps per role, bank files, re-issue, ledger."""
from __future__ import annotations

import html
import io
import re

import sqlalchemy as sa
from openpyxl import load_workbook

from onecard.payments import bankformats
from onecard.payments.models import Agreement, Batch
from tests.console.test_auth import login
from tests.console.test_pages import menu_keys
from tests.fixtures_payments import parse_bank_file

HIDDEN = re.compile(r'name="(csrf_token|form_nonce)" value="([^"]+)"')


def form_fields(page_html: str, action: str) -> dict:
    """The hidden guard fields of the form posting to ``action`` on a page."""
    for m in re.finditer(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page_html, re.S):
        if html.unescape(m.group(1)) == action:
            return dict(HIDDEN.findall(m.group(2)))
    raise AssertionError(f"no form posting to {action}")


def client_for(app, staff):
    c = app.test_client()
    login(c, staff.username)
    return c


def press(client, page_url: str, action: str, **data):
    page = client.get(page_url).get_data(as_text=True)
    fields = form_fields(page, action)
    return client.post(action, data={**fields, **data}), fields


def text(r) -> str:
    return r.get_data(as_text=True)


def create_batch(app, pay, pension_list):
    op = client_for(app, pay.operator)
    r, _ = press(op, "/console/batches", "/console/batches", list_id=str(pension_list.id))
    assert r.status_code == 302, text(r)
    batch = Batch.query.order_by(Batch.id.desc()).first()
    return op, batch


def result_file(batch_number, bank_file_bytes, fail_ids):
    layout = bankformats.RCB
    _, details, ok = parse_bank_file(bank_file_bytes, layout.encoding, layout.sep)
    assert ok
    money = lambda s: layout.parse_money(s, "")  # noqa: E731
    return bankformats.write_result_file(layout, batch_number, [
        (int(d[1]), money(d[4]), "F" if int(d[1]) in fail_ids else "S", "closed" if int(d[1]) in fail_ids else "",
         "账户已销户" if int(d[1]) in fail_ids else "") for d in details])


def test_menu_shows_payment_pages_by_role(app, pay):
    assert {"batches", "reissue", "ledger"} <= menu_keys(client_for(app, pay.operator))
    assert "bank_files" not in menu_keys(client_for(app, pay.operator))
    bank_keys = menu_keys(client_for(app, pay.rcb))
    assert {"batches", "bank_files"} <= bank_keys and not ({"reissue", "ledger"} & bank_keys)


def test_operator_registers_an_agreement_and_a_bank_cannot(app, pay, county, db):
    op = client_for(app, pay.operator)
    page = op.get("/console/agreements")
    assert page.status_code == 200 and "登记代发协议" in text(page)
    r, fields = press(op, "/console/agreements", "/console/agreements", number="XY-CONSOLE-1",
                      bank_id=str(county["banks"]["RCB"]), project_ids=str(pay.pension.id),
                      payment_schedule="每月10日前", feedback_method="file", fund_supervision="财政专户",
                      reconciliation_method="逐笔对账", valid_from="2026-01-01", valid_until="2027-12-31")
    assert r.status_code == 302
    assert db.session.execute(sa.select(Agreement).where(Agreement.number == "XY-CONSOLE-1")).scalar_one()
    # The same form again (double click / back button) registers nothing more.
    again = op.post("/console/agreements", data={**fields, "number": "XY-CONSOLE-1"})
    assert again.status_code == 302
    assert "该操作已处理" in text(op.get("/console/agreements"))
    # A refusal is shown inline, the form kept.
    r, _ = press(op, "/console/agreements", "/console/agreements", number="XY-CONSOLE-2",
                 bank_id=str(county["banks"]["RCB"]), project_ids=str(pay.pension.id), payment_schedule="x",
                 fund_supervision="x", reconciliation_method="x", valid_from="2027-01-01", valid_until="2026-01-01")
    assert r.status_code == 422 and "起始日不能晚于截止日" in text(r) and "XY-CONSOLE-2" in text(r)
    bank = client_for(app, pay.rcb)
    assert bank.get("/console/agreements").status_code == 200
    assert "登记代发协议" not in text(bank.get("/console/agreements"))
    assert bank.post("/console/agreements", data={}).status_code in (400, 403)


def test_batch_page_shows_only_the_buttons_of_the_role(app, pay, pension_list, db):
    op, batch = create_batch(app, pay, pension_list)
    page = text(op.get(f"/console/batches/{batch.id}"))
    assert 'id="step-submit"' in page and 'id="step-cancel"' in page and 'id="step-approve"' not in page
    assert "暂缓发放（2 人）" in page and "王*英" in page and "王秀英" not in page
    reviewer = client_for(app, pay.reviewer)
    assert 'id="step-review"' not in text(reviewer.get(f"/console/batches/{batch.id}"))   # not submitted yet
    # Another department's operator: the batch does not exist for them.
    other = client_for(app, pay.agri_operator)
    assert other.get(f"/console/batches/{batch.id}").status_code == 404
    # A bank operator posting a department step gets the 403 page, and nothing moves.
    bank = client_for(app, pay.rcb)
    r = bank.post(f"/console/batches/{batch.id}/submit", data=form_fields(page, f"/console/batches/{batch.id}/submit"))
    assert r.status_code in (400, 403)
    assert db.session.get(Batch, batch.id).status == "draft"


def test_reviewer_returns_with_reason_and_operator_resubmits(app, pay, pension_list, db):
    op, batch = create_batch(app, pay, pension_list)
    url = f"/console/batches/{batch.id}"
    press(op, url, f"{url}/submit")
    reviewer = client_for(app, pay.reviewer)
    r, _ = press(reviewer, url, f"{url}/return", reason="金额需核对")
    assert r.status_code == 302
    page = text(op.get(url))
    assert "金额需核对" in page and 'id="step-submit"' in page
    press(op, url, f"{url}/submit")
    assert db.session.get(Batch, batch.id).status == "submitted"
    # The operator who submitted sees no review button; the reviewer does.
    assert 'id="step-review"' not in text(op.get(url))
    assert 'id="step-review"' in text(reviewer.get(url))


def test_batch_list_filters_and_create_refusal_shown(app, pay, pension_list):
    op, batch = create_batch(app, pay, pension_list)
    assert batch.number in text(op.get("/console/batches?status=draft&period=2026-10"))
    assert batch.number not in text(op.get("/console/batches?status=approved"))
    # Everybody on the list is already in a batch: the refusal is shown on the page.
    r, _ = press(op, "/console/batches", "/console/batches", list_id=str(pension_list.id))
    assert r.status_code == 409 and "没有可发放的明细" in text(r)


def run_to_feedback(app, pay, pension_list, db, *, fail_first=True):
    op, batch = create_batch(app, pay, pension_list)
    url = f"/console/batches/{batch.id}"
    press(op, url, f"{url}/submit")
    press(client_for(app, pay.reviewer), url, f"{url}/review")
    fin = client_for(app, pay.finance)
    r, fields = press(fin, url, f"{url}/approve")
    assert r.status_code == 302
    bank = client_for(app, pay.rcb)
    r, _ = press(bank, "/console/bank-files", f"{url}/export")
    assert r.status_code == 302
    data = bank.get(f"{url}/bank-file").data
    first = db.session.get(Batch, batch.id)
    line_ids = [int(x) for x in re.findall(r"<tr><td>(\d+)</td>", text(op.get(url)))]
    fail = {line_ids[0]} if fail_first else set()
    results = result_file(first.number, data, fail)
    page = text(bank.get("/console/bank-files"))
    fields = form_fields(page, f"{url}/results")
    r = bank.post(f"{url}/results", data={**fields, "file": (io.BytesIO(results), "result.csv")},
                  content_type="multipart/form-data")
    assert r.status_code == 302, text(r)
    return op, fin, bank, batch, fail


def test_full_flow_through_pages_with_totals_agreeing(app, pay, pension_list, db):
    op, fin, bank, batch, fail = run_to_feedback(app, pay, pension_list, db)
    url = f"/console/batches/{batch.id}"
    page = text(fin.get(url))
    assert "银行已回盘" in page and page.count('class="agree"') == 2 and "mismatch" not in page
    assert "账户已销户" in page
    r, _ = press(op, url, f"{url}/reconcile")
    assert r.status_code == 302
    assert db.session.get(Batch, batch.id).status == "reconciled"
    press(fin, url, f"{url}/close")
    assert db.session.get(Batch, batch.id).status == "closed"
    # Re-issue of the failed line: the bank closed the account and nothing changed since, so the line waits as
    # 账户未变更 until staff record why it may go again (the bank confirmed the account was reopened).
    page = text(op.get("/console/reissue"))
    assert "账户已销户" in page and "账户未变更" in page
    line_id = next(iter(fail))
    r, _ = press(op, "/console/reissue", "/console/reissue", project_id=str(pay.pension.id), period="2026-10",
                 line_ids=str(line_id))
    assert "账户未变更" in text(op.get("/console/batches"))         # the refusal, shown after the redirect
    assert db.session.execute(sa.select(sa.func.count()).where(Batch.kind == "reissue")).scalar() == 0
    r, _ = press(op, "/console/reissue", f"/console/reissue/{line_id}/allow-resend", reason="银行已确认账户恢复")
    assert r.status_code == 302
    page = text(op.get("/console/reissue"))
    assert "已登记理由：银行已确认账户恢复" in page and "账户未变更：" not in page
    r, _ = press(op, "/console/reissue", "/console/reissue", project_id=str(pay.pension.id), period="2026-10",
                 line_ids=str(next(iter(fail))))
    assert r.status_code == 302
    after = text(op.get("/console/batches"))
    assert "补发" in after
    # Ledger export and supervision.
    x = op.get("/console/ledger/export.xlsx")
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.data)).active
    assert ws.max_row == 1 + 5
    sup = text(fin.get("/console/ledger"))
    assert "城乡居民基础养老金" in sup and 'id="supervision-table"' in sup
    assert fin.get("/console/ledger/supervision.xlsx").status_code == 200
    assert op.get("/console/ledger/supervision.xlsx").status_code == 403


def test_second_press_of_approve_acts_once(app, pay, pension_list, db):
    op, batch = create_batch(app, pay, pension_list)
    url = f"/console/batches/{batch.id}"
    press(op, url, f"{url}/submit")
    press(client_for(app, pay.reviewer), url, f"{url}/review")
    fin = client_for(app, pay.finance)
    r, fields = press(fin, url, f"{url}/approve")
    assert r.status_code == 302
    count = db.session.execute(sa.text("select count(*) from audit_entries where action='batch.approved'")).scalar()
    again = fin.post(f"{url}/approve", data=fields)
    assert again.status_code == 302
    assert "该操作已处理" in text(fin.get(url))
    assert db.session.execute(sa.text("select count(*) from audit_entries where action='batch.approved'")).scalar() \
        == count == 1


def test_result_file_for_another_batch_is_refused_inline(app, pay, pension_list, db):
    op, batch = create_batch(app, pay, pension_list)
    url = f"/console/batches/{batch.id}"
    press(op, url, f"{url}/submit")
    press(client_for(app, pay.reviewer), url, f"{url}/review")
    press(client_for(app, pay.finance), url, f"{url}/approve")
    bank = client_for(app, pay.rcb)
    press(bank, "/console/bank-files", f"{url}/export")
    data = bank.get(f"{url}/bank-file").data
    assert_labelled(text(bank.get("/console/bank-files")), "bank-files")
    wrong = result_file("PB999", data, set())
    fields = form_fields(text(bank.get("/console/bank-files")), f"{url}/results")
    r = bank.post(f"{url}/results", data={**fields, "file": (io.BytesIO(wrong), "result.csv")},
                  content_type="multipart/form-data")
    assert r.status_code == 409
    assert "回盘文件被拒收" in text(r) and "PB999" in text(r)
    assert db.session.get(Batch, batch.id).status == "sent"
    # Another bank sees none of it.
    assert client_for(app, pay.abc).get(f"{url}/bank-file").status_code == 404


def assert_labelled(page_html: str, where: str) -> None:
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page_html)
    fields = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*>', page_html)
    assert len(ids) == len(fields), where
    for field_id in ids:
        assert f'<label for="{field_id}"' in page_html, (where, field_id)


def test_every_payment_form_field_has_a_label(app, pay, pension_list, db):
    op, fin, bank, batch, _ = run_to_feedback(app, pay, pension_list, db)
    pages = {op: ["/console/agreements", "/console/batches", f"/console/batches/{batch.id}", "/console/reissue",
                  "/console/ledger"],
             fin: ["/console/ledger", f"/console/batches/{batch.id}"], bank: ["/console/bank-files"]}
    for client, paths in pages.items():
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, path
            assert_labelled(text(r), path)
    assert 'type="checkbox" name="line_ids"' in text(op.get("/console/reissue"))
