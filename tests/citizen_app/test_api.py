"""The citizen API (/api/citizen/v1) and the staff endpoints that serve it, through HTTP."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from onecard.cards.models import Card, CardApplication
from onecard.citizens.models import VerificationCode
from onecard.extensions import db
from onecard.people.models import Resident
from tests.factories import make_card, make_resident
from tests.fixtures_citizen import JPEG, PNG, add_ledger, last_code, make_project

API = "/api/citizen/v1"
pytestmark = pytest.mark.usefixtures("citizen_env")


@pytest.fixture
def resident(county):
    return make_resident(county["towns"][0], county["villages"][0], name="王秀英")


def _age_codes(minutes: int = 2):
    """Move every code's clock back (instead of sleeping): the resend spacing and expiry are time-based."""
    for row in db.session.execute(sa.select(VerificationCode)).scalars():
        row.created_at -= timedelta(minutes=minutes)
        row.expires_at -= timedelta(minutes=minutes)
    db.session.commit()


# ---------------------------------------------------------------- WeChat login


@pytest.fixture
def wechat_app(app, fake_wechat, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_APPID", fake_wechat.appid)
    monkeypatch.setitem(app.config, "WECHAT_SECRET", fake_wechat.secret)
    monkeypatch.setitem(app.config, "WECHAT_API_BASE_URL", fake_wechat.base_url)
    return fake_wechat


def test_wechat_login_returns_own_token_never_session_key(client, wechat_app, resident):
    r = client.post(f"{API}/auth/wechat-login", json={"code": wechat_app.login("o_wang")})
    assert r.status_code == 200
    assert set(r.json) == {"token", "expires_at", "bound"}
    assert r.json["bound"] is False
    assert "session_key" not in r.get_data(as_text=True)
    auth = {"Authorization": f"Bearer {r.json['token']}"}
    # Unbound: the card needs real-name binding first.
    assert client.get(f"{API}/card", headers=auth).json["error"]["code"] == "binding_required"
    # Bind, then a new login with the same openid is bound at once.
    client.post(f"{API}/binding/code", headers=auth, json={"name": "王秀英", "id_number": resident.id_number})
    r = client.post(f"{API}/binding", headers=auth, json={"name": "王秀英", "id_number": resident.id_number,
                                                          "code": last_code(resident.mobile)})
    assert r.status_code == 200 and r.json["bound"] is True
    assert db.session.get(Resident, resident.id).wechat_openid == "o_wang"
    r = client.post(f"{API}/auth/wechat-login", json={"code": wechat_app.login("o_wang")})
    assert r.json["bound"] is True


def test_wechat_bad_or_reused_code_is_a_clear_422(client, wechat_app):
    r = client.post(f"{API}/auth/wechat-login", json={"code": "not-a-real-code"})
    assert r.status_code == 422
    assert r.json["error"]["code"] == "wechat_code_invalid"
    assert "重新进入小程序" in r.json["error"]["message"]
    code = wechat_app.login("o_once")
    assert client.post(f"{API}/auth/wechat-login", json={"code": code}).status_code == 200
    assert client.post(f"{API}/auth/wechat-login", json={"code": code}).status_code == 422


def test_dev_login_is_refused_in_production_and_when_off(client, app, monkeypatch, resident):
    monkeypatch.setitem(app.config, "DEV_LOGIN", False)
    assert client.post(f"{API}/auth/dev-login", json={"resident_id": resident.id}).status_code == 404
    monkeypatch.setitem(app.config, "DEV_LOGIN", True)
    monkeypatch.setitem(app.config, "ENV", "production")
    assert client.post(f"{API}/auth/dev-login", json={"resident_id": resident.id}).status_code == 404


def test_dev_residents_list_the_demo_pick_masked_and_only_where_dev_login_is_on(client, app, monkeypatch, county,
                                                                               make_staff):
    from onecard.citizens import demo as citizen_demo
    make_staff("village_staff", "village", village_id=county["villages"][0])
    main = make_resident(county["towns"][0], county["villages"][0], name="颜建国")
    make_card(main, county["banks"]["RCB"], status="active")
    citizen_demo.run(None)
    r = client.get(f"{API}/auth/dev-residents")
    assert r.status_code == 200
    assert r.json == [{"id": main.id, "name": "颜*国", "id_masked": main.id_masked, "card": "正常"}]
    assert main.id_number not in r.get_data(as_text=True)
    monkeypatch.setitem(app.config, "ENV", "production")
    assert client.get(f"{API}/auth/dev-residents").status_code == 404
    monkeypatch.setitem(app.config, "ENV", "development")
    monkeypatch.setitem(app.config, "DEV_LOGIN", False)
    assert client.get(f"{API}/auth/dev-residents").status_code == 404


def test_requests_without_token_are_401(client):
    r = client.get(f"{API}/card")
    assert r.status_code == 401 and r.json["error"]["message"] == "请先登录"
    assert client.get(f"{API}/card", headers={"Authorization": "Bearer nope"}).status_code == 401


# ---------------------------------------------------------------- binding


def test_wrong_name_id_pair_answers_exactly_like_a_right_one(client, citizen_login, resident, county):
    from onecard.citizens import sms
    auth = citizen_login()
    right = client.post(f"{API}/binding/code", headers=auth, json={"name": "王秀英", "id_number": resident.id_number})
    wrong_name = client.post(f"{API}/binding/code", headers=auth,
                             json={"name": "李四", "id_number": resident.id_number})
    stranger = make_resident(county["towns"][0], None, commit=False).id_number
    db.session.rollback()   # an ID number that is valid but not registered
    unknown = client.post(f"{API}/binding/code", headers=auth, json={"name": "李四", "id_number": stranger})
    assert right.status_code == wrong_name.status_code == unknown.status_code == 200
    assert right.json == wrong_name.json == unknown.json
    assert len(sms.console_outbox) == 1    # only the real owner's phone got a code
    # A code for a wrong pair can never bind.
    r = client.post(f"{API}/binding", headers=auth, json={"name": "李四", "id_number": stranger, "code": "000000"})
    assert r.status_code == 422 and r.json["error"]["field"] == "code"


def test_binding_code_is_single_use_and_expires(client, citizen_login, resident):
    auth = citizen_login()
    body = {"name": "王秀英", "id_number": resident.id_number}
    client.post(f"{API}/binding/code", headers=auth, json=body)
    code = last_code()
    _age_codes(6)
    r = client.post(f"{API}/binding", headers=auth, json={**body, "code": code})
    assert r.status_code == 422 and r.json["error"]["code"] == "code_expired"
    client.post(f"{API}/binding/code", headers=auth, json=body)
    code = last_code()
    assert client.post(f"{API}/binding", headers=auth, json={**body, "code": code}).status_code == 200
    r = client.post(f"{API}/binding", headers=auth, json={**body, "code": code})
    assert r.status_code == 422 and r.json["error"]["code"] == "code_expired"


def test_wrong_codes_are_counted_and_then_refused(client, citizen_login, resident):
    auth = citizen_login()
    body = {"name": "王秀英", "id_number": resident.id_number}
    client.post(f"{API}/binding/code", headers=auth, json=body)
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for i in range(5):
        r = client.post(f"{API}/binding", headers=auth, json={**body, "code": wrong})
        assert r.status_code == 422, i
    assert "还可以再试" not in r.json["error"]["message"]
    r = client.post(f"{API}/binding", headers=auth, json={**body, "code": code})
    assert r.status_code == 429 and r.json["error"]["code"] == "code_attempts_exceeded"


def test_codes_are_rate_limited_per_number_in_the_database(client, citizen_login, resident):
    from onecard.citizens import sms
    body = {"name": "王秀英", "id_number": resident.id_number}
    auth = citizen_login()
    client.post(f"{API}/binding/code", headers=auth, json=body)
    client.post(f"{API}/binding/code", headers=citizen_login(), json=body)   # another phone, within a minute
    assert len(sms.console_outbox) == 1     # silently not re-sent: the answer must not reveal the pair
    from onecard.web.ratelimit import limiter
    for _ in range(6):
        _age_codes(1)
        limiter.reset()     # the address limit is another test's business
        client.post(f"{API}/binding/code", headers=citizen_login(), json=body)
    assert len(sms.console_outbox) == 5     # at most 5 an hour to one number
    # Activation codes say so plainly (the resident is signed in; nothing to hide).
    make_card(resident, 1, status="issued")
    r = client.post(f"{API}/card/activate/code", headers=citizen_login(resident))
    assert r.status_code == 429 and r.json["error"]["code"] == "code_rate_limited"


def test_codes_are_rate_limited_per_session_and_per_address(client, citizen_login, resident, app):
    auth = citizen_login()
    body = {"name": "王秀英", "id_number": resident.id_number}
    codes = [client.post(f"{API}/binding/code", headers=auth, json=body).status_code for _ in range(5)]
    assert codes == [200] * 5
    # The address limit: at most 5 a minute from one address.
    r = client.post(f"{API}/binding/code", headers=citizen_login(), json=body)
    assert r.status_code == 429 and r.json["error"]["code"] == "rate_limited"
    # The database limit per signed-in phone holds across processes (here: after the limiter is reset).
    from onecard.web.ratelimit import limiter
    limiter.reset()
    for _ in range(5):
        client.post(f"{API}/binding/code", headers=auth, json=body)
        limiter.reset()
    r = client.post(f"{API}/binding/code", headers=auth, json=body)
    assert r.status_code == 429 and r.json["error"]["code"] == "code_rate_limited"


def test_invalid_id_number_is_a_plain_422(client, citizen_login):
    r = client.post(f"{API}/binding/code", headers=citizen_login(), json={"name": "王秀英", "id_number": "12345"})
    assert r.status_code == 422 and r.json["error"]["field"] == "id_number"


# ---------------------------------------------------------------- card


@pytest.mark.parametrize("status,label,action", [
    ("active", "正常", None), ("issued", "已发放未激活", "can_activate"), ("lost", "挂失", "can_replace"),
    ("ready", "待领取", None), ("applied", "已申领（制卡中）", None)])
def test_card_view_in_plain_words_with_masked_numbers(client, citizen_login, resident, county, status, label,
                                                      action):
    card = make_card(resident, county["banks"]["RCB"], status=status)
    r = client.get(f"{API}/card", headers=citizen_login(resident))
    assert r.status_code == 200
    assert r.json["label"] == label and r.json["next_step"]
    assert r.json["bank_name"] == "农商银行"
    if card.account:
        assert r.json["account_masked"].endswith(card.account[-4:])
        assert card.account not in r.get_data(as_text=True)
    assert resident.id_number not in r.get_data(as_text=True)
    if action:
        assert r.json[action] is True


def test_card_view_without_a_card_offers_to_apply(client, citizen_login, resident):
    r = client.get(f"{API}/card", headers=citizen_login(resident))
    assert r.json["status"] == "not_applied" and r.json["can_apply"] is True


def _apply(client, auth, county, photo=JPEG, **extra):
    data = {"bank_id": str(county["banks"]["PSBC"]), "delivery": "branch", "branch": "邮储银行泗水县支行营业部",
            **extra}
    if photo is not None:
        data["photo"] = (io.BytesIO(photo), "me.jpg")
    return client.post(f"{API}/card/applications", headers=auth, data=data, content_type="multipart/form-data")


def test_apply_checks_photo_type_and_size(client, citizen_login, resident, county):
    auth = citizen_login(resident)
    r = _apply(client, auth, county, photo=b"GIF89a" + b"\x00" * 100)
    assert r.status_code == 422 and r.json["error"]["code"] == "photo_type"
    r = _apply(client, auth, county, photo=JPEG + b"\x00" * (2 * 1024 * 1024))
    assert r.status_code == 422 and r.json["error"]["code"] == "photo_too_large"
    r = _apply(client, auth, county, photo=None)
    assert r.status_code == 422 and r.json["error"]["code"] == "photo_required"
    r = _apply(client, auth, county, photo=PNG, delivery="post", branch="")
    assert r.status_code == 422 and r.json["error"]["field"] == "postal_address"
    assert db.session.execute(sa.select(sa.func.count(Card.id))).scalar() == 0   # nothing half-made


def test_apply_then_bank_moves_it_to_collected(client, citizen_login, resident, county, make_staff, tmp_path):
    auth = citizen_login(resident)
    r = _apply(client, auth, county, photo=PNG)
    assert r.status_code == 201 and r.json["status_label"] == "已提交"
    app_id = r.json["id"]
    photo = db.session.get(CardApplication, app_id).photo_path
    assert photo.endswith(".png") and (tmp_path / "photos" / photo).exists()
    assert client.get(f"{API}/card", headers=auth).json["status"] == "applied"
    # A second application while the card is live is refused.
    assert _apply(client, auth, county).status_code == 409
    other_bank = make_staff("bank_operator", bank_id=county["banks"]["ICBC"])
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=other_bank.auth,
                    json={"action": "accept"})
    assert r.status_code == 404
    bank = make_staff("bank_operator", bank_id=county["banks"]["PSBC"])
    assert [a["id"] for a in client.get("/api/staff/v1/card-applications", headers=bank.auth).json] == [app_id]
    for action in ("accept", "in_production"):
        r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=bank.auth, json={"action": action})
        assert r.status_code == 200, r.json
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=bank.auth, json={"action": "ready"})
    assert r.status_code == 422 and r.json["error"]["field"] == "account"
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=bank.auth,
                    json={"action": "ready", "account": "6217995860000123453"})
    assert r.status_code == 200
    card = client.get(f"{API}/card", headers=auth).json
    assert card["status"] == "ready" and card["account_masked"].endswith("3453")
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=bank.auth,
                    json={"action": "collected"})
    assert r.json["status_label"] == "已领取"
    assert client.get(f"{API}/card", headers=auth).json["status"] == "issued"
    assert client.get(f"{API}/card/applications", headers=auth).json[0]["status"] == "collected"
    # Going back is refused by the lifecycle.
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=bank.auth, json={"action": "accept"})
    assert r.status_code == 409


def test_rejecting_an_application_cancels_its_card(client, citizen_login, resident, county, admin):
    auth = citizen_login(resident)
    app_id = _apply(client, auth, county).json["id"]
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=admin.auth, json={"action": "reject"})
    assert r.status_code == 422 and r.json["error"]["field"] == "note"
    r = client.post(f"/api/staff/v1/card-applications/{app_id}/moves", headers=admin.auth,
                    json={"action": "reject", "note": "照片不清晰，请重新申领"})
    assert r.status_code == 200
    card = client.get(f"{API}/card", headers=auth).json
    assert card["can_apply"] is True and card["application"]["status_note"] == "照片不清晰，请重新申领"


def test_activate_and_report_loss_need_the_sms_code(client, citizen_login, resident, county):
    make_card(resident, county["banks"]["RCB"], status="issued")
    auth = citizen_login(resident)
    r = client.post(f"{API}/card/activate", headers=auth, json={"code": "123456"})
    assert r.status_code == 422 and r.json["error"]["code"] == "code_expired"
    r = client.post(f"{API}/card/activate/code", headers=auth)
    assert r.status_code == 200 and r.json["mobile_masked"].endswith(resident.mobile[-4:])
    r = client.post(f"{API}/card/activate", headers=auth, json={"code": last_code()})
    assert r.status_code == 200 and r.json["status"] == "active"
    # Already active: no code is sent for activation.
    assert client.post(f"{API}/card/activate/code", headers=auth).status_code == 409
    _age_codes(2)
    client.post(f"{API}/card/loss/code", headers=auth)
    # The activation code purpose cannot be used to report a loss.
    r = client.post(f"{API}/card/loss", headers=auth, json={"code": last_code()})
    assert r.status_code == 200 and r.json["status"] == "lost" and r.json["can_replace"] is True
    r = client.post(f"{API}/card/replacement", headers=auth, data={"delivery": "branch", "branch": "农商银行营业部"},
                    content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["kind"] == "replacement"
    assert client.get(f"{API}/card", headers=auth).json["status"] == "applied"
    statuses = db.session.execute(sa.select(Card.status).where(Card.resident_id == resident.id)
                                  .order_by(Card.id)).scalars().all()
    assert statuses == ["cancelled", "applied"]


def test_codes_for_one_purpose_do_not_work_for_another(client, citizen_login, resident, county):
    make_card(resident, county["banks"]["RCB"], status="issued")
    auth = citizen_login(resident)
    client.post(f"{API}/card/activate/code", headers=auth)
    r = client.post(f"{API}/card/loss", headers=auth, json={"code": last_code()})
    assert r.status_code == 422


# ---------------------------------------------------------------- subsidies and policies


def test_my_subsidies_newest_first_paged_with_yearly_total(client, citizen_login, resident, county):
    dept = county["departments"]["县民政局"]
    bank = county["banks"]["RCB"]
    project = make_project(dept, "高龄津贴")
    year = datetime.now().year
    for month in range(1, 8):
        add_ledger(resident, project, bank, period=f"{year}-{month:02d}", amount_fen=10000,
                   occurred_at=datetime(year, month, 10, 2, 0))
    add_ledger(resident, project, bank, period=f"{year}-08", outcome="failed", failure_code="account_closed",
               occurred_at=datetime(year, 8, 10, 2, 0))
    add_ledger(resident, project, bank, period=f"{year - 1}-12", amount_fen=5000,
               occurred_at=datetime(year - 1, 12, 10, 2, 0))
    other = make_resident(county["towns"][0], county["villages"][0])
    add_ledger(other, project, bank, amount_fen=99900)
    auth = citizen_login(resident)
    r = client.get(f"{API}/subsidies?per_page=3", headers=auth)
    assert r.status_code == 200
    page = r.json
    assert page["year_total_fen"] == 70000 and page["year_total"] == "700.00元"
    assert page["has_next"] is True
    first = page["items"][0]
    assert first["outcome"] == "failed" and "销户" in first["what_to_do"]
    assert [i["period"] for i in page["items"]] == [f"{year}-08", f"{year}-07", f"{year}-06"]
    assert page["items"][1]["amount"] == "100.00元" and page["items"][1]["bank_name"] == "农商银行"
    assert page["items"][1]["account_last4"] == "4321" and page["items"][1]["project_name"] == "高龄津贴"
    last = client.get(f"{API}/subsidies?per_page=3&page=3", headers=auth).json
    assert [i["period"] for i in last["items"]] == [f"{year}-02", f"{year}-01", f"{year - 1}-12"]
    assert last["has_next"] is False
    assert client.get(f"{API}/subsidies?year={year - 1}", headers=auth).json["year_total_fen"] == 5000
    assert client.get(f"{API}/subsidies?per_page=0", headers=auth).status_code == 422


def test_policies_are_public(client, county):
    make_project(county["departments"]["县民政局"], "高龄津贴", standard_fen=10000)
    r = client.get(f"{API}/policies")
    assert r.status_code == 200
    [policy] = r.json
    assert policy["department"] == "县民政局" and policy["standard"] == "100.00元/人"
    assert policy["cycle_label"] == "按月" and "80周岁" in policy["eligibility"]


# ---------------------------------------------------------------- complaints and settings


def test_complaint_round_trip_routed_to_the_department(client, citizen_login, resident, county, make_staff):
    dept = county["departments"]["县民政局"]
    project = make_project(dept)
    entry = add_ledger(resident, project, county["banks"]["RCB"], outcome="failed")
    auth = citizen_login(resident)
    r = client.post(f"{API}/complaints", headers=auth, json={"text": "这个月的钱没到账", "ledger_entry_id": entry})
    assert r.status_code == 201 and r.json["department"] == "县民政局" and r.json["status_label"] == "待答复"
    cid = r.json["id"]
    other = make_staff("dept_operator", department_id=county["departments"]["县农业农村局"])
    assert client.get("/api/staff/v1/complaints", headers=other.auth).json == []
    assert client.post(f"/api/staff/v1/complaints/{cid}/reply", headers=other.auth,
                       json={"reply": "x"}).status_code == 404
    mz = make_staff("dept_operator", department_id=dept)
    assert [c["id"] for c in client.get("/api/staff/v1/complaints", headers=mz.auth).json] == [cid]
    r = client.post(f"/api/staff/v1/complaints/{cid}/reply", headers=mz.auth,
                    json={"reply": "账户已销户，请到农商银行补卡后重新发放"})
    assert r.status_code == 200
    mine = client.get(f"{API}/complaints", headers=auth).json
    assert mine[0]["reply"].startswith("账户已销户") and mine[0]["status_label"] == "已答复，待确认"
    # Someone else's payment cannot be complained about through my session.
    stranger = make_resident(county["towns"][0], county["villages"][0])
    their = add_ledger(stranger, project, county["banks"]["RCB"])
    r = client.post(f"{API}/complaints", headers=auth, json={"text": "?", "ledger_entry_id": their})
    assert r.status_code == 404


def test_sms_notices_switch(client, citizen_login, resident):
    auth = citizen_login(resident)
    r = client.put(f"{API}/settings/sms", headers=auth, json={"enabled": False})
    assert r.status_code == 200 and r.json["sms_opt_out"] is True
    db.session.expire_all()
    assert db.session.get(Resident, resident.id).sms_opt_out is True
    client.put(f"{API}/settings/sms", headers=auth, json={"enabled": True})
    db.session.expire_all()
    assert db.session.get(Resident, resident.id).sms_opt_out is False


def test_arrival_subscription_counts_each_accept_for_the_configured_template_only(client, citizen_login, resident,
                                                                                  app, monkeypatch):
    from onecard.notices.models import WechatSubscription
    auth = citizen_login(resident)
    monkeypatch.setitem(app.config, "WECHAT_ARRIVAL_TEMPLATE_ID", "")
    assert client.get(f"{API}/settings/wechat-subscription", headers=auth).json == {"template_id": None,
                                                                                    "remaining": 0}
    r = client.post(f"{API}/settings/wechat-subscription", headers=auth, json={"template_id": "TPL_ARRIVAL"})
    assert r.status_code == 422 and r.json["error"]["code"] == "wechat_messages_off"
    monkeypatch.setitem(app.config, "WECHAT_ARRIVAL_TEMPLATE_ID", "TPL_ARRIVAL")
    r = client.post(f"{API}/settings/wechat-subscription", headers=auth, json={"template_id": "TPL_OTHER"})
    assert r.status_code == 422 and r.json["error"]["field"] == "template_id"
    for remaining in (1, 2):
        r = client.post(f"{API}/settings/wechat-subscription", headers=auth, json={"template_id": "TPL_ARRIVAL"})
        assert r.status_code == 200 and r.json == {"template_id": "TPL_ARRIVAL", "remaining": remaining}
    assert client.get(f"{API}/settings/wechat-subscription", headers=auth).json["remaining"] == 2
    rows = db.session.execute(sa.select(WechatSubscription.template_id, WechatSubscription.remaining)).all()
    assert [tuple(r) for r in rows] == [("TPL_ARRIVAL", 2)]
    # An unbound phone has nobody to notify.
    r = client.post(f"{API}/settings/wechat-subscription", headers=citizen_login(), json={"template_id": "TPL_ARRIVAL"})
    assert r.status_code == 403 and r.json["error"]["code"] == "binding_required"


def test_openapi_document(client):
    r = client.get(f"{API}/openapi.json")
    assert r.status_code == 200
    assert f"{API}/subsidies" in r.json["paths"]


def test_one_code_confirms_one_activation_under_a_race(app, client, citizen_login, resident, county):
    import threading

    from onecard.actors import Actor
    from onecard.cards import applications
    from onecard.errors import DomainError
    card = make_card(resident, county["banks"]["RCB"], status="issued")
    client.post(f"{API}/card/activate/code", headers=citizen_login(resident))
    code, rid, card_id = last_code(), resident.id, card.id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                applications.activate_card(Actor(kind="citizen", id=rid, label="居民本人"), rid, code)
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("ok") == 1, outcomes
    assert db.session.get(Card, card_id).status == "active"
    from onecard.audit import AuditEntry
    assert db.session.execute(sa.select(sa.func.count(AuditEntry.id))
                              .where(AuditEntry.action == "card.active")).scalar() == 1
