"""Arrival notices tell the truth, sent through the fake Twilio by the drainer: the amount, project, period, the
bank's value date and the account in words a resident understands; the household head is told the money is the
household's, the legal proxy is told of each ward's payment, the ward who received it; opt-outs hold."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.notices import service
from onecard.payments.models import Batch
from onecard.timeutil import to_local, utcnow
from tests.fixtures_payments import PERIOD, make_list

API = "/api/staff/v1"


def _post(client, url, staff, **body):
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    r = client.post(API + url, headers=staff.auth, json=body)
    assert r.status_code in (200, 201), r.json
    return r.json


def _pay(client, db, project, operator, reviewer, finance, bank):
    """Create, approve and export the project's batch (sent three days ago); the bank answers through its API with
    the next day as every line's value date. Returns that date."""
    batch = _post(client, "/batches", operator, project_id=project.id, period=PERIOD)
    for step, who in (("submit", operator), ("review", reviewer), ("approve", finance)):
        _post(client, f"/batches/{batch['id']}/{step}", who)
    assert client.post(f"{API}/batches/{batch['id']}/bank-file", headers=bank.auth,
                       json={"idempotency_key": uuid.uuid4().hex}).status_code == 200
    row = db.session.get(Batch, batch["id"])
    row.sent_at = utcnow() - timedelta(days=3)
    db.session.commit()
    value_date = to_local(row.sent_at).date() + timedelta(days=1)
    lines = [x for x in client.get(f"{API}/batches/{batch['id']}/lines", headers=operator.auth).json
             if x["status"] == "sent"]
    _post(client, f"/batches/{batch['id']}/results", bank, batch_number=batch["number"], count=len(lines),
          total_fen=sum(x["amount_fen"] for x in lines),
          results=[{"line_id": x["id"], "amount_fen": x["amount_fen"], "outcome": "paid",
                    "value_date": value_date.isoformat()} for x in lines])
    return value_date


def test_every_arrival_sms_names_the_account_and_the_banks_date_and_payees_are_told(twilio_app, client, db, pay,
                                                                                    pension_list, fake_twilio):
    p = pay.people
    # 到户: a member listed is paid into the head's card; a head with only a passbook into his 一本通.
    make_list(pay.household, [(p["孔春生"], 12050, "usable"), (p["颜庆云"], 8800, "not_activated")])
    p["周明华"].sms_opt_out = True          # the ward switched SMS off: the proxy is still told
    db.session.commit()
    day = _pay(client, db, pay.pension, pay.operator, pay.reviewer, pay.finance, pay.rcb)
    _pay(client, db, pay.household, pay.agri_operator, pay.agri_reviewer, pay.finance, pay.abc)

    counts = service.enqueue_arrivals()
    assert counts["sms"] == 6 and counts["sms_skipped"] == 1 and counts["payee"] == 2
    while drain_once().sent:
        pass
    by_phone = {m.to: m.body for m in fake_twilio.messages}
    assert len(by_phone) == len(fake_twilio.messages) == 8

    def sms(name):
        return by_phone.get("+86" + p[name].mobile)

    when = f"已于{day:%Y年%m月%d日}"
    assert f"您的2026年10月城乡居民基础养老金183.00元{when}发放至您本人的社保卡（尾号" in sms("王秀英")
    # The proxy is told of the ward's money; the ward (switched off) is not texted.
    assert sms("周明华") is None
    assert f"您代管的周明华的2026年10月城乡居民基础养老金183.00元{when}发放至您的账户（尾号" in sms("周海燕")
    # The member is told it went to the head's card, and that it is the household's money; so is the head.
    assert f"您家的2026年10月耕地地力保护补贴120.50元（到户资金，归全户所有）{when}发放至户主孔德福的社保卡" \
        in sms("孔春生")
    assert f"您家孔春生名下的2026年10月耕地地力保护补贴120.50元（到户资金，归全户所有）{when}发放至您（户主）本人的社保卡" \
        in sms("孔德福")
    assert f"您家的2026年10月耕地地力保护补贴88.00元（到户资金，归全户所有）{when}发放至您的“一本通”账户" in sms("颜庆云")
    assert all("身份证" not in body for body in by_phone.values())


def test_an_old_project_template_is_kept_for_own_card_payments_and_never_names_the_wrong_card(
        twilio_app, client, db, pay, pension_list, admin, fake_twilio):
    service.set_template(admin.actor, pay.pension.code, "{project}{period}{amount}元已到您尾号{last4}的社保卡。")
    _pay(client, db, pay.pension, pay.operator, pay.reviewer, pay.finance, pay.rcb)
    service.enqueue_arrivals()
    while drain_once().sent:
        pass
    by_phone = {m.to: m.body for m in fake_twilio.messages}
    own = by_phone["+86" + pay.people["王秀英"].mobile]
    assert re.fullmatch(r"【泗水县人社局】城乡居民基础养老金2026年10月183\.00元已到您尾号\d{4}的社保卡。", own)
    ward = by_phone["+86" + pay.people["周明华"].mobile]
    assert "代管人周海燕的账户" in ward and "已到您尾号" not in ward
    assert db.session.execute(sa.text("select count(*) from notices where channel = 'payee'")).scalar() == 1
