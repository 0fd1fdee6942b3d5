"""Complaints as cases, through the HTTP API: a complaint about a failed payment is routed to the owning
department (an account problem to the paying bank), due in working days on the county's calendar, escalated to
人社局 and finance when overdue, answered, reopened, and closed with the resident's confirmation."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest

from onecard.audit import AuditEntry
from onecard.complaints import cases
from onecard.complaints.models import Complaint
from onecard.dashboard import for_actor
from onecard.oversight import jobs
from onecard.payments import bankformats
from onecard.timeutil import local_today, utcnow
from tests.fixtures_payments import PERIOD, make_list, parse_bank_file
from tests.onecard.payments.test_flow import API, post, run_to_approved
from tests.onecard.payments.test_races import race

pytestmark = pytest.mark.usefixtures("citizen_env")
CITIZEN = "/api/citizen/v1"


def _household_paid_with_a_failure(client, pay):
    """The 农业农村局's household subsidy for 孔春生 (paid to the head) and for 颜庆云's household, which fails."""
    p = pay.people
    make_list(pay.household, [(p["孔春生"], 9500, "usable")])
    r = post(client, "/batches", pay.agri_operator, project_id=pay.household.id, period=PERIOD)
    batch = r.json
    run_to_approved(client, pay, batch["id"], operator=pay.agri_operator, reviewer=pay.agri_reviewer)
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.abc)
    layout = bankformats.GENERIC
    _, details, _ = parse_bank_file(r.data, layout.encoding, layout.sep)
    answer = bankformats.write_result_file(layout, batch["number"], [
        (int(d[1]), layout.parse_money(d[4], ""), "F", "closed", "账户已销户") for d in details])
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**pay.abc.auth, "Idempotency-Key": "k"},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json


def _working_days_after(start, n, holidays):
    day = start
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            n -= 1
    return day


def test_a_complaint_about_a_failed_payment_is_routed_escalated_answered_and_closed(
        app, client, db, pay, admin, citizen_login):
    _household_paid_with_a_failure(client, pay)
    # The county's calendar and the deadline: the administrator's, nobody else's.
    holiday = _working_days_after(local_today(), 1, set())
    assert client.put(f"{API}/holidays", headers=pay.operator.auth,
                      json={"day": holiday.isoformat(), "name": "县庆"}).status_code == 403
    r = client.put(f"{API}/holidays", headers=admin.auth, json={"day": holiday.isoformat(), "name": "县庆"})
    assert r.status_code == 200
    assert client.put(f"{API}/complaint-settings", headers=admin.auth, json={"working_days": 0}).status_code == 422
    assert client.put(f"{API}/complaint-settings", headers=admin.auth, json={"working_days": 3}).json == {
        "working_days": 3}
    assert [h["day"] for h in client.get(f"{API}/holidays", headers=pay.operator.auth).json] == [holiday.isoformat()]

    # 孔春生 asks about the failed payment: routed to 农业农村局 (the project's owner), due in 3 working days.
    auth = citizen_login(pay.people["孔春生"])
    entry = client.get(f"{CITIZEN}/subsidies", headers=auth).json["items"][0]
    assert entry["outcome"] == "failed"
    r = client.post(f"{CITIZEN}/complaints", headers=auth,
                    json={"text": "这笔钱为什么没到账？", "ledger_entry_id": entry["id"]})
    assert r.status_code == 201, r.json
    case = r.json
    expected = _working_days_after(local_today(), 3, {holiday})
    assert case["handler"] == "department" and case["department"] == "县农业农村局"
    assert case["due_date"] == expected.isoformat() and case["line_id"] is not None
    # An account problem goes to the bank that paid.
    r = client.post(f"{CITIZEN}/complaints", headers=auth,
                    json={"text": "我的卡销户了怎么办", "ledger_entry_id": entry["id"], "category": "account"})
    bank_case = r.json
    assert bank_case["handler"] == "bank" and bank_case["handler_bank"]

    # Only the handler answers: another department, the bank for a department's case, the department for the bank's.
    r = client.post(f"{API}/complaints/{case['id']}/reply", headers=pay.operator.auth, json={"reply": "x"})
    assert r.status_code == 404
    assert client.post(f"{API}/complaints/{case['id']}/reply", headers=pay.abc.auth,
                       json={"reply": "x"}).status_code == 404
    assert client.post(f"{API}/complaints/{bank_case['id']}/reply", headers=pay.agri_operator.auth,
                       json={"reply": "x"}).status_code == 404
    assert client.post(f"{API}/complaints/{bank_case['id']}/reply", headers=pay.rcb.auth,
                       json={"reply": "x"}).status_code == 404
    assert [c["id"] for c in client.get(f"{API}/complaints", headers=pay.abc.auth).json] == [bank_case["id"]]
    assert client.get(f"{API}/complaints", headers=pay.operator.auth).json == []     # 人社局, before escalation

    # Overdue: the daily job raises both to 人社局 and finance; they see them; the dashboard lists them.
    assert cases.escalate_overdue(utcnow()) == 0
    assert cases.escalate_overdue(utcnow() + timedelta(days=30)) == 2
    assert cases.escalate_overdue(utcnow() + timedelta(days=31)) == 0           # once
    seen = {c["id"]: c for c in client.get(f"{API}/complaints", headers=pay.operator.auth).json}
    assert set(seen) == {case["id"], bank_case["id"]} and seen[case["id"]]["escalated"]
    assert client.get(f"{API}/complaints", headers=pay.finance.auth).status_code == 200
    db.session.query(Complaint).filter(Complaint.id == case["id"]).update({"due_at": utcnow() - timedelta(hours=1)})
    db.session.commit()
    board = for_actor(pay.finance.actor)
    assert [c["id"] for c in board.overdue_complaints] == [case["id"]] and board.totals["overdue_complaints"] == 1
    stats = client.get(f"{API}/complaints/stats", headers=pay.finance.auth).json
    assert stats["total"] == 2 and stats["overdue"] == 1 and stats["escalated"] == 2
    assert {d["name"]: d["total"] for d in stats["by_department"]} == {"县农业农村局": 2}
    assert {p["name"]: p["total"] for p in stats["by_project"]} == {"耕地地力保护补贴": 2}
    assert sum(a["open"] for a in stats["by_age"]) == 2
    assert jobs.scheduled_complaint_escalation() == 0      # the scheduler's job: nothing new to raise

    # Answered (two staff at once: one answer counts), reopened, answered again, confirmed.
    results = race(app, [(f"/complaints/{case['id']}/reply", pay.agri_operator.auth, {"reply": "银行账户已销户，请补卡"}),
                         (f"/complaints/{case['id']}/reply", pay.agri_reviewer.auth, {"reply": "请到银行处理"})])
    assert sorted(s for s, _ in results) == [200, 409], results
    mine = client.get(f"{CITIZEN}/complaints", headers=auth).json
    now_case = next(c for c in mine if c["id"] == case["id"])
    assert now_case["status"] == "replied" and now_case["status_label"] == "已答复，待确认"
    r = client.post(f"{CITIZEN}/complaints/{case['id']}/reopen", headers=auth, json={"text": "补卡后还是没到账"})
    assert r.status_code == 200 and r.json["status"] == "open" and r.json["reopened_count"] == 1
    r = client.post(f"{CITIZEN}/complaints/{case['id']}/confirm", headers=auth)
    assert r.status_code == 409                       # nothing answered yet
    r = client.post(f"{API}/complaints/{case['id']}/reply", headers=pay.agri_operator.auth,
                    json={"reply": "已为您补发，请查收"})
    assert r.status_code == 200
    r = client.post(f"{CITIZEN}/complaints/{case['id']}/confirm", headers=auth)
    assert r.status_code == 200 and r.json["status"] == "closed" and r.json["status_label"] == "已办结"
    assert [m["kind"] for m in r.json["messages"]] == ["filed", "escalate", "reply", "reopen", "reply", "confirm"]
    assert client.post(f"{API}/complaints/{case['id']}/reply", headers=pay.agri_operator.auth,
                       json={"reply": "x"}).status_code == 409
    # Another resident cannot confirm or reopen it.
    other = citizen_login(pay.people["王秀英"])
    assert client.post(f"{CITIZEN}/complaints/{bank_case['id']}/confirm", headers=other).status_code == 404
    actions = {a for (a,) in db.session.query(AuditEntry.action).filter(AuditEntry.entity_type == "complaint")}
    assert {"complaint.filed", "complaint.escalated", "complaint.replied", "complaint.reopened",
            "complaint.confirmed"} <= actions


def test_a_complaint_names_only_the_residents_own_line(client, db, pay, citizen_login, pension_list):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    held = next(x for x in client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.operator.auth).json
                if x["name"] == "孙玉凤")
    auth = citizen_login(pay.people["孙玉凤"])
    r = client.post(f"{CITIZEN}/complaints", headers=auth, json={"text": "待发放的钱什么时候发", "line_id": held["id"]})
    assert r.status_code == 201 and r.json["line_id"] == held["id"] and r.json["department"] == "县人力资源社会保障局"
    other = citizen_login(pay.people["王秀英"])
    r = client.post(f"{CITIZEN}/complaints", headers=other, json={"text": "x", "line_id": held["id"]})
    assert r.status_code == 404
    r = client.post(f"{CITIZEN}/complaints", headers=auth, json={"text": "x", "category": "bogus"})
    assert r.status_code == 422
