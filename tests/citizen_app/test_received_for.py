"""Money paid into a resident's card for someone else shows on that resident's "my subsidies", saying for whom:
a household's 到户 subsidy paid to its head's card, a ward's payment to the legal proxy's account."""
from __future__ import annotations

import io
import re

import pytest

from onecard.payments import bankformats
from tests.fixtures_payments import PERIOD, make_list, parse_bank_file
from tests.onecard.payments.test_flow import API, post, run_to_approved

pytestmark = pytest.mark.usefixtures("citizen_env")


def _pay_all(client, pay, project, operator, reviewer, bank_staff, layout):
    """Create, approve, export and answer a batch of ``project`` with every line paid."""
    r = post(client, "/batches", operator, project_id=project.id, period=PERIOD)
    assert r.status_code == 201, r.json
    batch = r.json
    run_to_approved(client, pay, batch["id"], operator=operator, reviewer=reviewer)
    r = post(client, f"/batches/{batch['id']}/bank-file", bank_staff)
    assert r.status_code == 200, r.data[:200]
    _, details, ok = parse_bank_file(r.data, layout.encoding, layout.sep)
    assert ok
    money = lambda s: layout.parse_money(s, "")  # noqa: E731
    answer = bankformats.write_result_file(layout, batch["number"],
                                         [(int(d[1]), money(d[4]), "S", "", "") for d in details])
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**bank_staff.auth, "Idempotency-Key": "k"},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json


def _subsidies(client, citizen_login, resident) -> dict:
    r = client.get("/api/citizen/v1/subsidies", headers=citizen_login(resident))
    assert r.status_code == 200, r.json
    return r.json


def test_the_household_head_sees_the_members_household_subsidy_on_his_card(client, pay, citizen_login):
    p = pay.people
    make_list(pay.household, [(p["孔春生"], 9500, "usable")])
    _pay_all(client, pay, pay.household, pay.agri_operator, pay.agri_reviewer, pay.abc, bankformats.GENERIC)
    head = _subsidies(client, citizen_login, p["孔德福"])
    assert [(x["project_name"], x["amount"]) for x in head["items"]] == [("耕地地力保护补贴", "95.00元")]
    assert head["items"][0]["received_for"] == "孔*生名下的到户补贴，发放到户主社保卡"
    assert head["year_total_fen"] == 0          # the year's total is what is listed under one's own name
    member = _subsidies(client, citizen_login, p["孔春生"])
    assert [x["received_for"] for x in member["items"]] == [None] and member["items"][0]["amount"] == "95.00元"
    # The head's H5 page says the same.
    phone = client.application.test_client()
    login_page = phone.get("/m/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    phone.post("/m/login", data={"csrf_token": token, "resident_id": str(p["孔德福"].id)})
    assert "孔*生名下的到户补贴，发放到户主社保卡" in phone.get("/m/subsidies").get_data(as_text=True)


def test_the_legal_proxy_sees_the_wards_payment_and_may_ask_about_it(client, pay, pension_list, citizen_login):
    p = pay.people
    _pay_all(client, pay, pay.pension, pay.operator, pay.reviewer, pay.rcb, bankformats.RCB)
    guardian = _subsidies(client, citizen_login, p["周海燕"])
    assert [(x["amount"], x["received_for"]) for x in guardian["items"]] == [
        ("183.00元", "代周*华领取（您是其法定代管代持人）")]
    ward = _subsidies(client, citizen_login, p["周明华"])
    assert [x["received_for"] for x in ward["items"]] == [None]
    # Someone whose card it did not touch neither sees it nor may file a complaint about it.
    entry = guardian["items"][0]["id"]
    stranger = citizen_login(p["王秀英"])
    assert entry not in [x["id"] for x in client.get("/api/citizen/v1/subsidies", headers=stranger).json["items"]]
    r = client.post("/api/citizen/v1/complaints", headers=stranger, json={"text": "这笔钱是谁的？", "ledger_entry_id": entry})
    assert r.status_code == 404
    r = client.post("/api/citizen/v1/complaints", headers=citizen_login(p["周海燕"]),
                    json={"text": "代领的钱什么时候到？", "ledger_entry_id": entry})
    assert r.status_code == 201, r.json


def test_a_household_subsidy_paid_to_the_heads_passbook_says_so(client, db, pay, citizen_login):
    from onecard.people.models import Household
    from tests.factories import make_resident
    head = pay.people["颜庆云"]          # no usable card: the household is paid through his 一本通 account
    member = make_resident(head.town_id, head.village_id, name="颜秀梅",
                           household=db.session.get(Household, head.household_id))
    make_list(pay.household, [(member, 9500, "not_applied")])
    _pay_all(client, pay, pay.household, pay.agri_operator, pay.agri_reviewer, pay.abc, bankformats.GENERIC)
    items = _subsidies(client, citizen_login, head)["items"]
    assert [x["received_for"] for x in items] == ["颜*梅名下的到户补贴，发放到户主一本通账户"]
