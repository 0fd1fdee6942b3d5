"""The WeChat wrapper drives the real wechatpy client against the fake api.weixin.qq.com."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from onecard import wechat
from onecard.errors import Invalid


@pytest.fixture
def wx(app, db, fake_wechat):
    saved = {k: app.config[k] for k in ("WECHAT_APPID", "WECHAT_SECRET", "WECHAT_API_BASE_URL")}
    app.config.update(WECHAT_APPID=fake_wechat.appid, WECHAT_SECRET=fake_wechat.secret,
                      WECHAT_API_BASE_URL=fake_wechat.base_url)
    yield fake_wechat
    app.config.update(saved)


def test_code_to_session_returns_openid_without_fetching_a_token(wx):
    code = wx.login("o_resident_1")
    data = wechat.code_to_session(code)
    assert data["openid"] == "o_resident_1"
    assert wx.token_issued_count == 0


def test_a_used_code_is_refused_with_a_clear_error(wx):
    code = wx.login("o_resident_1")
    wechat.code_to_session(code)
    with pytest.raises(Invalid) as e:
        wechat.code_to_session(code)
    assert e.value.code == "wechat_code_invalid" and e.value.field == "code"


def test_access_token_is_shared_through_the_database(wx):
    wechat.send_subscribe_message("o1", "TPL", {"thing1": {"value": "城乡居民基础养老金"}})
    wechat.send_subscribe_message("o2", "TPL", {"thing1": {"value": "高龄津贴"}})
    # Two separate client objects (as two processes would have) needed one token between them.
    assert wx.token_issued_count == 1
    assert len(wx.subscribe_messages) == 2


def test_refused_subscription_surfaces_errcode_43101(wx):
    wx.refuse_openid("o_refuser")
    with pytest.raises(WeChatClientException) as e:
        wechat.send_subscribe_message("o_refuser", "TPL", {"thing1": {"value": "x"}})
    assert e.value.errcode == 43101
