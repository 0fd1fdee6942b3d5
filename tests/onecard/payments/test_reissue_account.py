"""Re-issue takes the account as it is now: a line refused for an account reason does not go back to the same,
unchanged account (账户未变更) until the account changes or staff record why it may go again (audited)."""
from __future__ import annotations

import io
import json
import uuid

import pytest
import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.cards.models import Card
from onecard.payments import bankformats
from onecard.payments.models import Batch, BatchLine
from tests.factories import make_card
from tests.fixtures_payments import PERIOD, parse_bank_file

API = "/api/staff/v1"


def post(client, url, staff, **body):
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    return client.post(API + url, headers=staff.auth, json=body)


@pytest.fixture
def frozen(client, pay, pension_list):
    """The pension batch paid, 张桂兰's line refused by the bank: 账户冻结. Returns the failed line id."""
    b = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD).json
    for url, who in (("submit", pay.operator), ("review", pay.reviewer), ("approve", pay.finance)):
        assert post(client, f"/batches/{b['id']}/{url}", who).status_code == 200
    data = post(client, f"/batches/{b['id']}/bank-file", pay.rcb).data
    _, details, _ = parse_bank_file(data, "gb18030", "|")
    lines = {x["name"]: x["id"] for x in client.get(f"{API}/batches/{b['id']}/lines", headers=pay.operator.auth).json}
    failed = lines["张桂兰"]
    money = lambda s: bankformats.RCB.parse_money(s, "")  # noqa: E731
    answer = bankformats.write_result_file(bankformats.RCB, b["number"], [
        (int(d[1]), money(d[4]), "F" if int(d[1]) == failed else "S", "frozen" if int(d[1]) == failed else "", "")
        for d in details])
    r = client.post(f"{API}/batches/{b['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "r1"},
                    data={"file": (io.BytesIO(answer), "r.txt")})
    assert r.status_code == 200, r.json
    return failed


def _reissue(client, pay):
    return post(client, "/reissues", pay.operator, project_id=pay.pension.id, period=PERIOD)


def test_a_frozen_account_is_not_paid_again_while_unchanged(client, db, pay, frozen):
    [item] = client.get(f"{API}/payment-failures", headers=pay.operator.auth).json
    assert item["id"] == frozen and item["account_unchanged"] is True
    assert item["blocked_reason"].startswith("账户未变更") and "账户冻结" in item["blocked_reason"]
    r = _reissue(client, pay)
    assert r.status_code == 409 and r.json["error"]["code"] == "nothing_to_reissue"
    assert "账户未变更" in r.json["error"]["message"]
    assert r.json["error"]["details"]["blocked"][0]["code"] == "account_unchanged"
    assert db.session.get(BatchLine, frozen).status == "failed"
    assert db.session.execute(sa.select(sa.func.count()).where(Batch.kind == "reissue")).scalar() == 0


def test_after_a_new_card_the_line_goes_to_the_new_account(client, db, pay, frozen):
    person = pay.people["张桂兰"]
    old = db.session.execute(sa.select(Card).where(Card.resident_id == person.id)).scalar_one()
    old.status = "cancelled"
    db.session.commit()
    new = make_card(person, pay.county["banks"]["RCB"])
    assert client.get(f"{API}/payment-failures", headers=pay.operator.auth).json[0]["account_unchanged"] is False
    r = _reissue(client, pay)
    assert r.status_code == 201, r.json
    [line] = client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.operator.auth).json
    assert line["reissue_of_line_id"] == frozen
    assert db.session.get(BatchLine, line["id"]).account_last4 == new.account_last4 != old.account_last4


def test_a_card_change_recorded_after_the_failure_lets_it_go(client, db, pay, frozen):
    """The registry reports the same account's card changed since the failure (e.g. re-activated by the bank)."""
    from datetime import timedelta
    card = db.session.execute(sa.select(Card).where(Card.resident_id == pay.people["张桂兰"].id)).scalar_one()
    card.status_changed_at = db.session.get(BatchLine, frozen).result_at + timedelta(minutes=5)
    db.session.commit()
    assert _reissue(client, pay).status_code == 201


def test_a_recorded_reason_lets_it_go_to_the_same_account_and_is_audited(client, db, pay, frozen, make_staff):
    url = f"{API}/payment-failures/{frozen}/allow-resend"
    assert client.post(url, headers=pay.operator.auth, json={"reason": "  "}).status_code == 422
    short = client.post(url, headers=pay.operator.auth, json={"reason": "好了"})
    assert short.status_code == 422 and short.json["error"]["field"] == "reason"
    other = make_staff("dept_operator", "ny_other", department_id=pay.agri_operator.department_id)
    assert client.post(url, headers=other.auth, json={"reason": "银行已确认解除冻结"}).status_code == 404
    assert client.post(url, headers=pay.finance.auth, json={"reason": "银行已确认解除冻结"}).status_code == 403
    r = client.post(url, headers=pay.operator.auth, json={"reason": "银行已确认解除冻结"})
    assert r.status_code == 200, r.json
    assert r.json["resend_reason"] == "银行已确认解除冻结" and r.json["account_unchanged"] is False
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "line.resend_allowed")).scalar_one()
    assert entry.entity_id == str(frozen) and json.loads(entry.after)["resend_reason"] == "银行已确认解除冻结"
    before = db.session.get(BatchLine, frozen).account_last4
    r = _reissue(client, pay)
    assert r.status_code == 201, r.json
    [line] = client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.operator.auth).json
    assert db.session.get(BatchLine, line["id"]).account_last4 == before
    created = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "batch.reissue_created")).scalar_one()
    assert json.loads(created.after)["resend_reasons"] == {str(frozen): "银行已确认解除冻结"}
    # Once re-issued, the failed line is superseded: no more reason can be recorded on it.
    assert client.post(url, headers=pay.operator.auth, json={"reason": "银行已确认解除冻结"}).status_code == 409
