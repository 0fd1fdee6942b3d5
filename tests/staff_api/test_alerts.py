"""Alerts to people (issue #17 item 7): the department's clerks and finance are told when a batch's bank results
arrive, when a result file is refused and when a batch waits too long for review or approval; the administrators
when the SMS outbox stalls or a scheduled job misses its run. Each is a console notice and, for whoever has a
registered mobile, one SMS through the outbox, sent once."""
from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

from notifications.jobs import drain_once
from notifications.scheduler import build, scheduled_job_periods
from onecard.alerts import service as alerts
from onecard.audit import AuditEntry
from onecard.notices import service as notice_service
from onecard.notices.models import Notice
from onecard.payments import bankformats
from onecard.payments.models import Batch, LedgerEntry
from onecard.serving.models import JobHeartbeat
from onecard.staff.models import StaffAccount
from onecard.timeutil import utcnow
from tests.console.test_auth import hidden, login
from tests.fixtures_payments import parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved

OPERATOR_MOBILE, FINANCE_MOBILE, ADMIN_MOBILE = "13905370101", "13905370202", "13905370303"


def _register_mobile(client, admin, staff, mobile):
    r = client.patch(f"{API}/accounts/{staff.id}", headers=admin.auth, json={"mobile": mobile})
    assert r.status_code == 200, r.json
    return r.json


def _sent_batch(client, pay):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    assert r.status_code == 201, r.json
    batch = r.json
    run_to_approved(client, pay, batch["id"])
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb)
    _header, details, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok
    return batch, details


def _upload(client, pay, batch, data: bytes):
    return client.post(f"{API}/batches/{batch['id']}/result-file",
                       headers={**pay.rcb.auth, "Idempotency-Key": uuid.uuid4().hex},
                       data={"file": (io.BytesIO(data), "result.txt")})


def _alerts(client, staff, **query):
    r = client.get(f"{API}/alerts", headers=staff.auth, query_string=query)
    assert r.status_code == 200, r.json
    return r.json


def test_bank_results_tell_the_department_and_finance_in_the_console_and_once_by_sms(
        client, db, pay, pension_list, admin, twilio_app, fake_twilio):
    _register_mobile(client, admin, pay.operator, OPERATOR_MOBILE)
    _register_mobile(client, admin, pay.finance, FINANCE_MOBILE)   # the reviewer registered none
    batch, details = _sent_batch(client, pay)
    failed_id = int(details[0][1])
    r = _upload(client, pay, batch, result_file(bankformats.RCB, batch["number"], details, {failed_id: "frozen"}))
    assert r.status_code == 200, r.json

    for staff in (pay.operator, pay.reviewer, pay.finance):
        page = _alerts(client, staff)
        assert page["unread"] == 1 and len(page["items"]) == 1
        item = page["items"][0]
        assert item["kind"] == "batch_results" and item["batch_id"] == batch["id"]
        assert batch["number"] in item["body"] and "成功4笔" in item["body"] and "失败1笔" in item["body"]
    assert _alerts(client, pay.reviewer)["items"][0]["sms"] == "未登记手机号，未发短信"
    assert _alerts(client, pay.operator)["items"][0]["sms_to"].endswith("0101")
    # Nobody else: another department, the bank, the administrator.
    for staff in (pay.agri_operator, pay.rcb, admin):
        assert _alerts(client, staff) == {"unread": 0, "items": []}

    stats = drain_once()
    assert stats.sent == 2
    assert sorted(m.to for m in fake_twilio.messages) == ["+86" + OPERATOR_MOBILE, "+86" + FINANCE_MOBILE]
    assert all("银行回盘已到" in m.body and batch["number"] in m.body for m in fake_twilio.messages)
    assert drain_once().sent == 0 and len(fake_twilio.messages) == 2
    assert _alerts(client, pay.operator)["items"][0]["sms"] == "已发送"


def test_a_staff_member_marks_only_their_own_alerts_read(client, db, pay, pension_list):
    batch, details = _sent_batch(client, pay)
    assert _upload(client, pay, batch, result_file(bankformats.RCB, batch["number"], details, {})).status_code == 200
    alert_id = _alerts(client, pay.operator)["items"][0]["id"]
    r = client.post(f"{API}/alerts/{alert_id}/read", headers=pay.agri_operator.auth)
    assert r.status_code == 404 and r.json["error"]["code"] == "alert_not_found"
    r = client.post(f"{API}/alerts/{alert_id}/read", headers=pay.operator.auth)
    assert r.status_code == 200 and r.json == {"marked": 1, "unread": 0}
    assert _alerts(client, pay.operator, unread="true")["items"] == []
    assert _alerts(client, pay.reviewer)["unread"] == 1            # read by one is not read by all
    assert client.post(f"{API}/alerts/read-all", headers=pay.reviewer.auth).json == {"marked": 1, "unread": 0}
    assert client.get(f"{API}/alerts").status_code == 401


def test_a_refused_result_file_is_told_once_per_content_and_changes_nothing(client, db, pay, pension_list):
    batch, details = _sent_batch(client, pay)
    short = result_file(bankformats.RCB, batch["number"], details[:-1], {})     # one line missing
    for _ in range(2):                                                         # the bank sends it twice
        r = _upload(client, pay, batch, short)
        assert r.status_code == 409 and r.json["error"]["code"] == "result_rejected"
    page = _alerts(client, pay.operator)
    assert [i["kind"] for i in page["items"]] == ["result_refused"]
    assert "被拒收" in page["items"][0]["body"] and batch["number"] in page["items"][0]["body"]
    assert _alerts(client, pay.finance)["unread"] == 1
    garbled = b"not a result file"
    assert _upload(client, pay, batch, garbled).status_code == 422
    assert [i["kind"] for i in _alerts(client, pay.operator)["items"]] == ["result_refused", "result_refused"]
    # the refusals kept nothing of the files
    assert db.session.get(Batch, batch["id"]).status == "sent"
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar() == 0
    # a refusal for who sent it (another bank) tells nobody
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.abc.auth, "Idempotency-Key": "x1"},
                    data={"file": (io.BytesIO(short), "result.txt")})
    assert r.status_code == 404
    assert len(_alerts(client, pay.operator)["items"]) == 2


def test_a_batch_waiting_too_long_for_review_then_approval_is_told_once_per_wait(client, db, pay, pension_list, app,
                                                                                 monkeypatch):
    monkeypatch.setitem(app.config, "ALERT_APPROVAL_WAIT_HOURS", 48)
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    batch_id = r.json["id"]
    assert post(client, f"/batches/{batch_id}/submit", pay.operator).status_code == 200
    now = utcnow()
    assert alerts.check(now + timedelta(hours=47))["approval_wait"] == 0
    assert alerts.check(now + timedelta(hours=49))["approval_wait"] == 1
    assert alerts.check(now + timedelta(hours=60))["approval_wait"] == 0          # the same wait: once
    items = _alerts(client, pay.reviewer)["items"]
    assert [i["kind"] for i in items] == ["approval_wait"] and "已提交待审核" in items[0]["body"]
    assert _alerts(client, pay.finance)["unread"] == 1
    assert post(client, f"/batches/{batch_id}/review", pay.reviewer).status_code == 200
    assert alerts.check(utcnow() + timedelta(hours=49))["approval_wait"] == 1      # now waiting for finance
    assert "已审核待审批" in _alerts(client, pay.finance)["items"][0]["body"]
    assert post(client, f"/batches/{batch_id}/approve", pay.finance).status_code == 200
    assert alerts.check(utcnow() + timedelta(days=30))["approval_wait"] == 0


def test_a_stalled_outbox_tells_the_administrators_once_but_quiet_hours_do_not(client, db, admin, make_staff,
                                                                               county, pay):
    _register_mobile(client, admin, admin, ADMIN_MOBILE)
    other_admin = make_staff("admin")
    now = utcnow()
    notice_service.enqueue_direct("staff", "alert:test-1", mobile="13905379999", staff_id=pay.operator.id,
                                  body="测试", now=now)
    db.session.commit()
    assert alerts.check(now + timedelta(minutes=30))["outbox_stale"] == 0
    assert alerts.check(now + timedelta(minutes=61))["outbox_stale"] == 1
    assert alerts.check(now + timedelta(minutes=90))["outbox_stale"] == 0          # the same stuck notice
    for staff in (admin, other_admin):
        item = _alerts(client, staff)["items"][0]
        assert item["kind"] == "outbox_stale" and "已等待61分钟" in item["body"]
    assert _alerts(client, pay.operator)["items"] == []
    # A notice held for the night is not stalled.
    db.session.execute(sa.update(Notice).values(state="held", next_attempt_at=now + timedelta(hours=10)))
    db.session.commit()
    assert alerts.check(now + timedelta(hours=3))["outbox_stale"] == 0


def test_a_job_that_missed_its_run_tells_the_administrators(client, db, admin):
    now = utcnow()
    db.session.add_all([
        JobHeartbeat(job_id="oversight.risk_checks", host="h", started_at=now - timedelta(days=2),
                     finished_at=now - timedelta(hours=1), outcome="failed",
                     last_success_at=now - timedelta(days=2)),
        JobHeartbeat(job_id="notices", host="h", outcome="done", last_success_at=now - timedelta(seconds=3)),
    ])
    db.session.commit()
    jobs = {"notices": 5.0, "oversight.risk_checks": 86400.0, "files.purge": 86400.0}
    started = now - timedelta(hours=2)
    assert alerts.check(now, jobs=jobs, started=started)["job_missed"] == 1
    body = _alerts(client, admin)["items"][0]["body"]
    assert "oversight.risk_checks" in body and "运行失败" in body
    # files.purge never ran: late only once the scheduler has been up longer than a day and the grace
    assert alerts.check(now, jobs=jobs, started=now - timedelta(hours=25))["job_missed"] == 1
    assert "从未成功运行" in _alerts(client, admin)["items"][0]["body"]
    assert alerts.check(now, jobs=jobs, started=now - timedelta(hours=26))["job_missed"] == 0


def test_the_scheduler_checks_alerts_and_knows_every_job_it_runs(app):
    periods = scheduled_job_periods(app.config)
    scheduler = build(app, blocking=False)
    assert {job.id for job in scheduler.get_jobs()} == set(periods)
    assert periods["alerts.check"] == 60 and periods["oversight.risk_checks"] == 86400


def test_the_registered_mobile_is_validated_encrypted_masked_and_audited(client, db, admin, make_staff):
    clerk = make_staff("finance")
    r = client.patch(f"{API}/accounts/{clerk.id}", headers=admin.auth, json={"mobile": "0537-4221234"})
    assert r.status_code == 422 and r.json["error"]["field"] == "mobile"
    r = client.post(f"{API}/accounts", headers=admin.auth, json={
        "username": "cz_new", "display_name": "财政新", "role": "finance", "password": "Initial2026pw",
        "mobile": "139 0537 0404"})
    assert r.status_code == 201 and r.json["mobile"].endswith("0404") and "0537" not in r.json["mobile"]
    raw = db.session.execute(sa.text("select mobile from staff_accounts where username = 'cz_new'")).scalar()
    assert raw and "13905370404" not in raw
    assert _register_mobile(client, admin, clerk, "")["mobile"] is None
    audits = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "staff.created",
                                                            AuditEntry.entity_id == str(r.json["id"]))).scalars().all()
    assert audits and "13905370404" not in str(audits[0].after)
    assert client.patch(f"{API}/accounts/{clerk.id}", headers=clerk.auth, json={"mobile": "13905370505"}
                        ).status_code == 403
    assert db.session.get(StaffAccount, clerk.id).mobile is None


def test_the_console_shows_unread_alerts_and_marks_them_read(client, db, pay, pension_list):
    batch, details = _sent_batch(client, pay)
    assert _upload(client, pay, batch, result_file(bankformats.RCB, batch["number"], details, {})).status_code == 200
    console = client.application.test_client()
    login(console, pay.operator.username)
    home = console.get("/console/").get_data(as_text=True)
    assert re.search(r'id="alerts-link"[^>]*>工作提醒<span class="badge badge-alert"[^>]*>1</span>', home)
    page = console.get("/console/alerts")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "银行回盘已到" in text and batch["number"] in text
    assert f"/console/batches/{batch['id']}" in text
    r = console.post("/console/alerts/read-all", data=hidden(page))
    assert r.status_code == 302
    after = console.get("/console/alerts").get_data(as_text=True)
    assert "已将 1 条提醒标为已读" in after and 'id="alerts-unread">0<' in after
    assert "badge-alert" not in after


def test_the_administrator_registers_a_staff_mobile_in_the_console(client, db, make_staff, admin):
    clerk = make_staff("finance", "cz_mobile")
    console = client.application.test_client()
    login(console, admin.username)
    page = console.get(f"/console/accounts/{clerk.id}")
    assert "未登记（工作提醒只在工作台显示）" in page.get_data(as_text=True)
    r = console.post(f"/console/accounts/{clerk.id}/mobile", data={**hidden(page), "mobile": "1390537"})
    assert r.status_code == 302
    shown = console.get(f"/console/accounts/{clerk.id}")
    assert "手机号格式不正确" in shown.get_data(as_text=True)
    assert db.session.get(StaffAccount, clerk.id).mobile is None
    console.post(f"/console/accounts/{clerk.id}/mobile", data={**hidden(shown), "mobile": "13905370606"})
    listing = console.get("/console/accounts").get_data(as_text=True)
    db.session.expire_all()
    account = db.session.get(StaffAccount, clerk.id)
    assert account.mobile == "13905370606" and account.mobile_masked in listing
    assert "13905370606" not in listing


def test_a_payment_the_bank_returns_later_tells_the_department_and_finance(client, db, pay, pension_list):
    from tests.onecard.payments.test_returns import give_back
    batch, details = _sent_batch(client, pay)
    assert _upload(client, pay, batch, result_file(bankformats.RCB, batch["number"], details, {})).status_code == 200
    line_id = int(details[0][1])
    assert give_back(client, pay.rcb, line_id).status_code == 201
    for staff in (pay.operator, pay.reviewer, pay.finance):
        kinds = [i["kind"] for i in _alerts(client, staff)["items"]]
        assert kinds == ["payment_returned", "batch_results"]
    body = _alerts(client, pay.operator)["items"][0]["body"]
    assert "1笔已入账的款项被银行退回，共183.00元" in body and "补发" in body
    assert give_back(client, pay.rcb, line_id).status_code == 409      # refused twice: nobody told again
    assert len(_alerts(client, pay.operator)["items"]) == 2
    assert _alerts(client, pay.agri_operator)["items"] == []
