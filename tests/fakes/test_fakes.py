"""The fake upstreams speak the real wire protocols: drive them with the real twilio / wechatpy clients."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from wechatpy import WeChatClient
from wechatpy.exceptions import APILimitedException, WeChatClientException

from tests.fakes import FakeHTTPServer, FakeTwilio, FakeWeChat, Reply, route_to_fake
from tests.fakes import fixtures as _fake_fixtures

# The project conftest registers these via pytest_plugins; binding them here keeps this file standalone.
fake_twilio = _fake_fixtures.fake_twilio
fake_wechat = _fake_fixtures.fake_wechat

TO = "+8613800138000"
FROM = "+15005550006"


class WebhookSink(FakeHTTPServer):
    """Stands in for our own webhook endpoint: records what Twilio posted, answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        super().__init__()
        self.status = status

    def handle(self, req):
        return Reply(self.status)


@pytest.fixture
def sink():
    with WebhookSink() as server:
        yield server


# --------------------------------------------------------------------------------------------- Twilio
def test_real_twilio_client_sends_and_reads_back(fake_twilio: FakeTwilio):
    client = Client(fake_twilio.account_sid, fake_twilio.auth_token)
    client.api.base_url = fake_twilio.base_url  # the documented way to point twilio 9.x elsewhere

    msg = client.messages.create(to=TO, from_=FROM, body="您的惠民补贴已发放", status_callback="https://cb.example/s")

    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    assert (msg.to, msg.from_, msg.body) == (TO, FROM, "您的惠民补贴已发放")
    assert msg.num_segments == "1" and msg.direction == "outbound-api"
    assert msg.date_created is not None and msg.date_sent is None  # RFC 2822 parsed by twilio
    assert msg.uri == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/{msg.sid}.json"

    fetched = client.messages(msg.sid).fetch()
    assert fetched.sid == msg.sid and fetched.body == msg.body
    assert fetched.status == "sent" and fetched.date_sent is not None  # auto_send

    (stored,) = fake_twilio.messages
    assert stored.status_callback == "https://cb.example/s"
    (create,) = fake_twilio.create_requests
    assert create.form == {"To": TO, "From": FROM, "Body": "您的惠民补贴已发放", "StatusCallback": "https://cb.example/s"}
    assert create.header("Authorization").startswith("Basic ")
    assert create.header("Content-Type") == "application/x-www-form-urlencoded"


def test_fetch_unknown_sid_is_20404(fake_twilio: FakeTwilio):
    with pytest.raises(TwilioRestException) as exc:
        fake_twilio.client().messages("SM" + "0" * 32).fetch()
    assert (exc.value.status, exc.value.code) == (404, 20404)


def test_messaging_service_and_segments(fake_twilio: FakeTwilio):
    client = fake_twilio.client()
    msg = client.messages.create(to=TO, messaging_service_sid="MG" + "a" * 32, body="补" * 71)
    assert msg.status == "accepted" and msg.from_ is None and msg.num_segments == "0"
    assert fake_twilio.messages[0].num_segments == 2  # UCS-2: 70 per single SMS, 67 per part


def test_api_key_auth(fake_twilio: FakeTwilio):
    key_sid, secret = fake_twilio.add_api_key()
    client = Client(key_sid, secret, account_sid=fake_twilio.account_sid)
    client.api.base_url = fake_twilio.base_url
    assert client.messages.create(to=TO, from_=FROM, body="x").status == "queued"


def test_wrong_auth_is_20003(fake_twilio: FakeTwilio):
    client = fake_twilio.client(password="not-the-token")
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (exc.value.status, exc.value.code) == (401, 20003)
    assert "Authenticate" in exc.value.msg
    assert fake_twilio.messages == []


def test_scripted_429_then_success(fake_twilio: FakeTwilio):
    client = fake_twilio.client()
    fake_twilio.fail_next(1, status=429)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (exc.value.status, exc.value.code) == (429, 20429)
    assert client.messages.create(to=TO, from_=FROM, body="x").status == "queued"
    assert len(fake_twilio.messages) == 1


def test_script_mixed_outcomes(fake_twilio: FakeTwilio):
    client = fake_twilio.client()
    fake_twilio.script([503, {"status": 500, "code": 20500, "message": "boom"}, "ok"])
    with pytest.raises(TwilioRestException) as first:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (first.value.status, first.value.code) == (503, 20503)
    with pytest.raises(TwilioRestException) as second:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (second.value.status, second.value.code) == (500, 20500) and "boom" in second.value.msg
    client.messages.create(to=TO, from_=FROM, body="x")
    assert len(fake_twilio.messages) == 1


def test_raw_error_body_shape(fake_twilio: FakeTwilio):
    fake_twilio.reject_number(TO, code=21211)
    resp = requests.post(
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "x"},
        auth=(fake_twilio.account_sid, fake_twilio.auth_token),
    )
    assert resp.status_code == 400
    assert resp.json() == {
        "code": 21211,
        "message": f"The 'To' number {TO} is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }


@pytest.mark.parametrize("code", [21211, 21408, 21610, 21612])
def test_rejected_number(fake_twilio: FakeTwilio, code: int):
    fake_twilio.reject_number(TO, code=code)
    client = fake_twilio.client()
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (exc.value.status, exc.value.code) == (400, code)
    assert client.messages.create(to="+8613900000000", from_=FROM, body="x")  # other numbers unaffected


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"from_": FROM, "body": "x"}, 21604),
        ({"to": TO, "body": "x"}, 21603),
        ({"to": TO, "from_": FROM}, 21602),
        ({"to": "13800138000", "from_": FROM, "body": "x"}, 21211),
        ({"to": TO, "from_": FROM, "body": "x" * 1601}, 21617),
    ],
)
def test_validation_like_twilio(fake_twilio: FakeTwilio, kwargs, code):
    kwargs.setdefault("to", None)
    with pytest.raises(TwilioRestException) as exc:
        fake_twilio.client().messages.create(**kwargs)
    assert (exc.value.status, exc.value.code) == (400, code)


def test_list_filtered_by_to_and_date_sent(fake_twilio: FakeTwilio):
    client = fake_twilio.client()
    other = "+8613911112222"
    sids = [client.messages.create(to=TO, from_=FROM, body=f"m{i}").sid for i in range(5)]
    client.messages.create(to=other, from_=FROM, body="not me")

    listed = client.messages.list(to=TO, page_size=2)  # three pages, followed via next_page_uri
    assert [m.sid for m in listed] == list(reversed(sids))  # newest first
    assert {m.to for m in listed} == {TO}

    now = datetime.now(UTC)
    assert len(client.messages.list(to=TO, date_sent_after=now - timedelta(minutes=5))) == 5
    assert client.messages.list(to=TO, date_sent_after=now + timedelta(minutes=5)) == []
    # (An exact-time DateSent match is left untested: the messages may straddle a second boundary.)
    page = requests.get(  # the documented YYYY-MM-DD form matches the whole UTC day
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json",
        params={"To": other, "DateSent>": now.date().isoformat(), "PageSize": 50},
        auth=(fake_twilio.account_sid, fake_twilio.auth_token),
    ).json()
    assert [m["body"] for m in page["messages"]] == ["not me"]
    assert page["next_page_uri"] is None and page["page"] == 0 and page["page_size"] == 50
    # twilio-python really sends the `DateSent>` key, with a datetime rendered as YYYY-MM-DDTHH:MM:SSZ
    assert any(r.query.get("DateSent>", "").endswith("Z") for r in fake_twilio.requests)


def test_timeout_then_reconcile(fake_twilio: FakeTwilio):
    """Twilio accepted the message but the answer came too late: list() shows it was sent."""
    client = Client(fake_twilio.account_sid, fake_twilio.auth_token, http_client=TwilioHttpClient(timeout=0.3))
    client.api.base_url = fake_twilio.base_url
    fake_twilio.script([{"delay": 1.0}])
    before = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(requests.exceptions.Timeout):
        client.messages.create(to=TO, from_=FROM, body="once only")
    found = client.messages.list(to=TO, date_sent_after=before)
    assert [m.body for m in found] == ["once only"]


def test_connection_reset(fake_twilio: FakeTwilio):
    fake_twilio.script(["reset"])
    with pytest.raises(requests.exceptions.ConnectionError):
        fake_twilio.client().messages.create(to=TO, from_=FROM, body="x")
    assert fake_twilio.messages == []


def test_status_callback_is_signed_like_twilio(fake_twilio: FakeTwilio, sink: WebhookSink):
    url = f"{sink.base_url}/hooks/twilio/status?batch=7"
    msg = fake_twilio.client().messages.create(to=TO, from_=FROM, body="x", status_callback=url)

    assert fake_twilio.deliver(msg.sid, "delivered") == 204

    (posted,) = sink.requests
    assert posted.method == "POST" and posted.raw_path == "/hooks/twilio/status?batch=7"
    form = posted.form
    assert form["MessageSid"] == form["SmsSid"] == msg.sid
    assert form["MessageStatus"] == form["SmsStatus"] == "delivered"
    assert (form["To"], form["From"], form["AccountSid"]) == (TO, FROM, fake_twilio.account_sid)
    assert form["ApiVersion"] == "2010-04-01" and "ErrorCode" not in form
    signature = posted.header("X-Twilio-Signature")
    assert RequestValidator(fake_twilio.auth_token).validate(url, form, signature)
    assert not RequestValidator("some-other-token").validate(url, form, signature)
    assert fake_twilio.client().messages(msg.sid).fetch().status == "delivered"


def test_delivery_failure_code_from_reject_number(fake_twilio: FakeTwilio, sink: WebhookSink):
    fake_twilio.reject_number(TO, code=30006)  # landline: accepted by the API, fails on delivery
    client = fake_twilio.client()
    msg = client.messages.create(to=TO, from_=FROM, body="x", status_callback=f"{sink.base_url}/s")
    fake_twilio.deliver(msg.sid, "undelivered")
    assert sink.requests[0].form["ErrorCode"] == "30006"
    fetched = client.messages(msg.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30006)


def test_status_callback_through_flask_test_client(fake_twilio: FakeTwilio):
    app = Flask(__name__)
    seen = []

    @app.post("/hooks/twilio/status")
    def status():
        ok = RequestValidator(fake_twilio.auth_token).validate(
            request.url, request.form, request.headers.get("X-Twilio-Signature", "")
        )
        seen.append(dict(request.form))
        return ("", 204) if ok else ("bad signature", 403)

    url = "http://localhost/hooks/twilio/status"
    msg = fake_twilio.client().messages.create(to=TO, from_=FROM, body="x", status_callback=url)
    resp = fake_twilio.deliver_via(app.test_client(), msg.sid, "failed", error_code=30003)
    assert resp.status_code == 204
    assert seen[0]["MessageStatus"] == "failed" and seen[0]["ErrorCode"] == "30003"

    params = fake_twilio.callback_params(msg.sid, "delivered")
    forged = app.test_client().post("/hooks/twilio/status", data=params,
                                    headers={"X-Twilio-Signature": fake_twilio.sign(url + "?x=1", params)})
    assert forged.status_code == 403


# --------------------------------------------------------------------------------------------- WeChat
def test_wechatpy_code_to_session(fake_wechat: FakeWeChat):
    client = WeChatClient(fake_wechat.appid, fake_wechat.secret)
    route_to_fake(client, fake_wechat)
    code = fake_wechat.login("o_citizen_1", unionid="u_1")

    session = client.wxa.code_to_session(code)
    assert (session["openid"], session["unionid"]) == ("o_citizen_1", "u_1")
    assert len(base64.b64decode(session["session_key"])) == 16
    with pytest.raises(WeChatClientException) as reused:
        client.wxa.code_to_session(code)
    assert reused.value.errcode == 40163
    with pytest.raises(WeChatClientException) as unknown:
        client.wxa.code_to_session("never-issued")
    assert unknown.value.errcode == 40029

    call = next(r for r in fake_wechat.requests if r.path == "/sns/jscode2session")
    assert call.query["js_code"] == code and call.query["grant_type"] == "authorization_code"
    assert call.query["appid"] == fake_wechat.appid and call.query["secret"] == fake_wechat.secret
    assert fake_wechat.token_issued_count == 1  # wechatpy fetches a token before any call


def test_login_code_expires(fake_wechat: FakeWeChat):
    code = fake_wechat.login("o_1")
    fake_wechat.advance(301)
    with pytest.raises(WeChatClientException) as exc:
        fake_wechat.client().wxa.code_to_session(code)
    assert exc.value.errcode == 40029


def test_wrong_credentials(fake_wechat: FakeWeChat):
    with pytest.raises(WeChatClientException) as bad_secret:
        fake_wechat.client(secret="wrong").wxa.code_to_session(fake_wechat.login("o_1"))
    assert bad_secret.value.errcode == 40125
    raw = fake_wechat.session().get(
        "https://api.weixin.qq.com/sns/jscode2session",
        params={"appid": "wx0000000000000000", "secret": fake_wechat.secret, "js_code": "c",
                "grant_type": "authorization_code"},
    ).json()
    assert raw["errcode"] == 40013


def test_wechatpy_token_and_subscribe_message(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    token = client.fetch_access_token()
    assert token["expires_in"] == 7200 and token["access_token"] == fake_wechat.current_token

    data = {"thing1": {"value": "一卡通补贴到账"}, "amount2": {"value": "¥120.50"}, "date3": {"value": "2024年5月1日"}}
    result = client.wxa.send_subscribe_message("o_citizen_1", "TPL_ID", data, page="pages/index/index")

    assert result["errcode"] == 0 and result["errmsg"] == "ok" and isinstance(result["msgid"], int)
    (sent,) = fake_wechat.subscribe_messages
    assert sent["touser"] == "o_citizen_1" and sent["template_id"] == "TPL_ID" and sent["data"] == data
    assert sent["page"] == "pages/index/index" and sent["msgid"] == result["msgid"]
    assert sent["access_token"] == token["access_token"]
    assert fake_wechat.token_issued_count == 1


def test_subscribe_refused_and_invalid_data(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    fake_wechat.refuse_openid("o_refuser")
    with pytest.raises(WeChatClientException) as refused:
        client.wxa.send_subscribe_message("o_refuser", "TPL", {"thing1": {"value": "x"}})
    assert refused.value.errcode == 43101
    assert refused.value.errmsg.startswith("user refuse to accept the msg")

    with pytest.raises(WeChatClientException) as too_long:
        client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "这是一段超过二十个字符的很长的事物描述文本"}})
    assert too_long.value.errcode == 47003 and "data.thing1.value invalid" in too_long.value.errmsg
    with pytest.raises(WeChatClientException) as bad_phrase:
        client.wxa.send_subscribe_message("o_1", "TPL", {"phrase2": {"value": "审核通过了吗呢"}})
    assert bad_phrase.value.errcode == 47003
    assert fake_wechat.subscribe_messages == []


def test_one_time_subscriptions(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    fake_wechat.one_time_subscriptions = True
    fake_wechat.grant_subscription("o_1", "TPL")
    client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "第一条"}})
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "第二条"}})
    assert exc.value.errcode == 43101


def test_new_token_invalidates_previous(fake_wechat: FakeWeChat):
    session = fake_wechat.session()
    params = {"grant_type": "client_credential", "appid": fake_wechat.appid, "secret": fake_wechat.secret}
    first = session.get("https://api.weixin.qq.com/cgi-bin/token", params=params).json()["access_token"]
    second = session.get("https://api.weixin.qq.com/cgi-bin/token", params=params).json()["access_token"]
    assert first != second and fake_wechat.token_issued_count == 2

    body = {"touser": "o_1", "template_id": "TPL", "data": {"thing1": {"value": "x"}}}
    url = "https://api.weixin.qq.com/cgi-bin/message/subscribe/send"
    stale = session.post(url, params={"access_token": first}, json=body).json()
    assert stale["errcode"] == 40001
    assert session.post(url, params={"access_token": second}, json=body).json()["errcode"] == 0


def test_wechatpy_recovers_when_another_process_refreshes_the_token(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    client.fetch_access_token()
    fake_wechat.session().get(  # e.g. a second worker without a shared token cache
        "https://api.weixin.qq.com/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": fake_wechat.appid, "secret": fake_wechat.secret},
    )
    client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "x"}})  # 40001 -> refetch -> retry
    assert fake_wechat.token_issued_count == 3
    sends = [r for r in fake_wechat.requests if r.path == "/cgi-bin/message/subscribe/send"]
    assert len(sends) == 2


def test_expired_token_is_42001(fake_wechat: FakeWeChat):
    client = fake_wechat.client(auto_retry=False)
    client.fetch_access_token()
    fake_wechat.advance(7201)
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "x"}})
    assert exc.value.errcode == 42001


def test_stable_token(fake_wechat: FakeWeChat):
    session = fake_wechat.session()
    url = "https://api.weixin.qq.com/cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": fake_wechat.appid, "secret": fake_wechat.secret}
    a = session.post(url, json=body).json()
    b = session.post(url, json=body).json()
    assert a["access_token"] == b["access_token"] and a["expires_in"] == 7200
    session.get("https://api.weixin.qq.com/cgi-bin/token", params={**body})  # isolated channel
    c = session.post(url, json={**body, "force_refresh": True}).json()
    assert c["access_token"] != a["access_token"] and fake_wechat.token_issued_count == 3

    send = "https://api.weixin.qq.com/cgi-bin/message/subscribe/send"
    msg = {"touser": "o_1", "template_id": "TPL", "data": {"thing1": {"value": "x"}}}
    assert session.post(send, params={"access_token": a["access_token"]}, json=msg).json()["errcode"] == 40001
    assert session.post(send, params={"access_token": c["access_token"]}, json=msg).json()["errcode"] == 0
    assert session.post(url, json={**body, "secret": "nope"}).json()["errcode"] == 40125


def test_get_user_phone_number(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    code = fake_wechat.add_phone_code(phone="13912345678")
    url = "https://api.weixin.qq.com/wxa/business/getuserphonenumber"
    info = client.post(url, data={"code": code})["phone_info"]
    assert info["phoneNumber"] == info["purePhoneNumber"] == "13912345678"
    assert info["countryCode"] == "86" and info["watermark"]["appid"] == fake_wechat.appid
    with pytest.raises(WeChatClientException) as exc:
        client.post(url, data={"code": code})
    assert exc.value.errcode == 40029


def test_wechat_failure_injection(fake_wechat: FakeWeChat):
    client = fake_wechat.client()
    path = "/cgi-bin/message/subscribe/send"
    fake_wechat.fail_next(1, errcode=45009, path=path)
    with pytest.raises(APILimitedException):
        client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "x"}})
    fake_wechat.fail_next(1, http_status=502, path=path)
    with pytest.raises(WeChatClientException) as exc:
        client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "x"}})
    assert exc.value.errcode is None and exc.value.response.status_code == 502
    assert client.wxa.send_subscribe_message("o_1", "TPL", {"thing1": {"value": "x"}})["errcode"] == 0


def test_rewrite_adapter_leaves_other_hosts_alone(fake_wechat: FakeWeChat):
    session = requests.Session()
    adapter = route_to_fake(session, fake_wechat)
    assert adapter.rewrite("https://api.weixin.qq.com/cgi-bin/token?a=1") == f"{fake_wechat.base_url}/cgi-bin/token?a=1"
    assert adapter.rewrite("https://example.org/x") == "https://example.org/x"
    assert session.get_adapter("https://example.org/") is not adapter
