"""Staff views of arrival notices: per batch, per resident, masked, scoped; retrying a failed notice."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.audit import AuditEntry
from onecard.notices import service
from onecard.notices.models import Notice
from onecard.payments.models import LedgerEntry
from onecard.people.models import Resident


def _ledger(db, event, batch_id, county):
    r = db.session.get(Resident, event.resident_id)
    db.session.add(LedgerEntry(line_id=int(event.payment_key.split(":")[1]), batch_id=batch_id,
                               project_id=event.project_id, department_id=county["departments"]["县人力资源社会保障局"],
                               period=event.period, resident_id=r.id, route="own_card", bank_id=event.bank_id,
                               account_last4=event.account_last4, town_id=r.town_id, amount_fen=event.amount_fen,
                               outcome="paid", occurred_at=datetime(2026, 11, 5)))
    db.session.commit()


def _failed_setup(db, arrive, fake_twilio):
    ok, bad = arrive(), arrive()
    fake_twilio.reject_number("+86" + db.session.get(Resident, bad.resident_id).mobile, code=21211)
    service.enqueue_arrivals()
    drain_once()
    return ok, bad


def test_per_batch_and_per_resident_views_show_outcome_and_reason_masked(twilio_app, client, db, arrive,
                                                                         fake_twilio, admin, county):
    ok, bad = _failed_setup(db, arrive, fake_twilio)
    other = arrive()
    service.enqueue_arrivals()
    _ledger(db, ok, 7, county)
    _ledger(db, bad, 7, county)
    _ledger(db, other, 8, county)
    r = client.get("/api/staff/v1/notices?batch_id=7", headers=admin.auth)
    assert r.status_code == 200
    assert sorted(n["state"] for n in r.json) == ["failed", "sent"]
    failed = next(n for n in r.json if n["state"] == "failed")
    assert failed["error_code"] == "21211" and failed["state_label"] == "发送失败"
    mobile = db.session.get(Resident, bad.resident_id).mobile
    assert mobile not in r.get_data(as_text=True)
    assert failed["recipient"] == "*******" + mobile[-4:]
    r = client.get(f"/api/staff/v1/notices?resident_id={bad.resident_id}", headers=admin.auth)
    assert [n["id"] for n in r.json] == [failed["id"]]
    r = client.get(f"/api/staff/v1/notices/{failed['id']}", headers=admin.auth)
    assert r.json["history"][0]["outcome"] == "failed" and r.json["history"][0]["provider_code"] == "21211"


def test_a_filter_is_required(client, db, admin):
    r = client.get("/api/staff/v1/notices", headers=admin.auth)
    assert r.status_code == 422 and r.json["error"]["code"] == "notice_filter_required"


def test_department_operator_retries_a_failed_notice_in_scope_only(twilio_app, client, db, arrive, fake_twilio,
                                                                   make_staff, county):
    _, bad = _failed_setup(db, arrive, fake_twilio)
    notice_id = db.session.execute(sa.select(Notice.id).where(Notice.event_id == bad.id)).scalar()
    outsider = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    village = make_staff("village_staff", village_id=county["villages"][0])
    owner = make_staff("dept_operator", department_id=county["departments"]["县人力资源社会保障局"])
    r = client.get(f"/api/staff/v1/notices?resident_id={bad.resident_id}", headers=outsider.auth)
    assert r.status_code == 200 and r.json == []
    assert client.post(f"/api/staff/v1/notices/{notice_id}/retry", headers=outsider.auth).status_code == 403
    r = client.post(f"/api/staff/v1/notices/{notice_id}/retry", headers=village.auth)
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden_role"
    fake_twilio.clear_rules()
    r = client.post(f"/api/staff/v1/notices/{notice_id}/retry", headers=owner.auth)
    assert r.status_code == 200 and r.json["state"] == "pending"
    assert db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "notice.retry")).scalar()
    # a second retry of a notice already pending is a conflict, not a second send
    r = client.post(f"/api/staff/v1/notices/{notice_id}/retry", headers=owner.auth)
    assert r.status_code == 409
    drain_once()
    db.session.expire_all()
    assert db.session.get(Notice, notice_id).state == "sent"


def test_retry_refused_for_a_resident_who_switched_sms_off(twilio_app, client, db, arrive, fake_twilio, admin):
    _, bad = _failed_setup(db, arrive, fake_twilio)
    service.set_sms_opt_out(admin.actor, bad.resident_id, True)
    notice_id = db.session.execute(sa.select(Notice.id).where(Notice.event_id == bad.id)).scalar()
    r = client.post(f"/api/staff/v1/notices/{notice_id}/retry", headers=admin.auth)
    assert r.status_code == 422 and r.json["error"]["code"] == "notice_opted_out"


def _sms_bodies(db):
    return [n.body for n in db.session.execute(sa.select(Notice).where(Notice.channel == "sms")
                                               .order_by(Notice.id)).scalars()]


def test_bureau_edits_the_sms_texts_through_the_api_and_notices_use_them(client, db, arrive, admin, pension,
                                                                         make_staff, county):
    api = "/api/staff/v1/notice-templates"
    listed = client.get(api, headers=admin.auth).json
    assert listed[0]["project_code"] == "default" and listed[0]["built_in"] is True
    assert listed[0]["preview"].startswith("【泗水县人社局】您的2026年11月城乡居民基础养老金183.00元")
    r = client.put(f"{api}/default", headers=admin.auth, json={"body": "{period}{project}{amount}元已到账，尾号{last4}。"})
    assert r.status_code == 200 and r.json["built_in"] is False, r.json
    r = client.put(f"{api}/{pension.code}", headers=admin.auth, json={"body": "养老金{amount}元已发放。"})
    assert r.status_code == 200 and r.json["project_name"] == pension.name
    assert r.json["preview"] == "【泗水县人社局】养老金183.00元已发放。"
    arrive()
    service.enqueue_arrivals()
    assert _sms_bodies(db) == ["【泗水县人社局】养老金183.00元已发放。"]
    assert client.delete(f"{api}/{pension.code}", headers=admin.auth).status_code == 204
    arrive(period="2026-12")
    service.enqueue_arrivals()
    assert _sms_bodies(db)[-1] == "【泗水县人社局】2026年12月城乡居民基础养老金183.00元已到账，尾号1234。"
    changes = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "notice.template")).scalars().all()
    assert len(changes) == 3


def test_template_edits_are_refused_with_the_field_and_only_the_bureau_may_edit(client, db, admin, pension,
                                                                                make_staff, county):
    api = "/api/staff/v1/notice-templates"
    for body in ("您的身份证号{id_number}", "{amount", "", "字" * 301):
        r = client.put(f"{api}/default", headers=admin.auth, json={"body": body})
        assert r.status_code == 422 and r.json["error"]["field"] == "body", body
    r = client.put(f"{api}/NO-SUCH", headers=admin.auth, json={"body": "到账{amount}元"})
    assert r.status_code == 404 and r.json["error"]["field"] == "project_code"
    assert client.put(f"{api}/default", headers=admin.auth, json={}).status_code == 422
    assert client.delete(f"{api}/{pension.code}", headers=admin.auth).status_code == 404
    op = make_staff("dept_operator", department_id=county["departments"]["县人力资源社会保障局"])
    assert client.get(api, headers=op.auth).status_code == 200
    assert client.put(f"{api}/default", headers=op.auth, json={"body": "到账{amount}元"}).status_code == 403
    bank = make_staff("bank_operator", bank_id=county["banks"]["RCB"])
    assert client.get(api, headers=bank.auth).status_code == 403
