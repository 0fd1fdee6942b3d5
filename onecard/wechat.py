"""The one WeChat client wrapper (wechatpy 1.8.18) for the mini-program.

- ``code_to_session``: login. A direct GET of ``sns/jscode2session`` (wechatpy's own method
  fetches an access token it does not need).
- ``client()``: a ``WeChatClient`` whose access token lives in our database, shared by every
  process, obtained through ``cgi-bin/stable_token`` (each ``cgi-bin/token`` call would
  invalidate the token the other workers hold).
- ``ONECARD_WECHAT_API_BASE_URL`` points the real library at another host (the fake server in
  tests) by mounting a transport adapter on its ``requests`` session; nothing is patched.
"""
from __future__ import annotations

import json
import time
from urllib.parse import urlsplit, urlunsplit

import requests
import sqlalchemy as sa
from flask import current_app
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from onecard.errors import Invalid, Unavailable
from onecard.extensions import db
from onecard.settings_store import SiteSetting

WECHAT_HOST = "api.weixin.qq.com"
TIMEOUT = 10


class _RewriteHost(HTTPAdapter):
    """Send https://api.weixin.qq.com/... to the configured base URL instead."""

    def __init__(self, base_url: str):
        super().__init__()
        parts = urlsplit(base_url)
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path.rstrip("/")

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if (parts.hostname or "").lower() == WECHAT_HOST:
            request.url = urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))
        return super().send(request, **kwargs)


def _http() -> requests.Session:
    session = requests.Session()
    base = current_app.config.get("WECHAT_API_BASE_URL")
    if base:
        session.mount("https://", _RewriteHost(base))
    return session


class DatabaseTokenStorage(SessionStorage):
    """wechatpy's session storage in our database, committed on its own connection, expiry enforced here."""

    def __init__(self, engine):
        self.engine = engine

    def _key(self, key: str) -> str:
        return f"wechat:{key}"[:60]

    def get(self, key, default=None):
        with self.engine.connect() as conn:
            raw = conn.execute(sa.select(SiteSetting.value).where(SiteSetting.key == self._key(key))).scalar()
        if not raw:
            return default
        data = json.loads(raw)
        if data.get("exp") and data["exp"] <= time.time():
            return default
        return data["v"]

    def set(self, key, value, ttl=None):
        payload = json.dumps({"v": value, "exp": time.time() + ttl if ttl else None})
        with self.engine.begin() as conn:
            updated = conn.execute(sa.update(SiteSetting).where(SiteSetting.key == self._key(key))
                                   .values(value=payload)).rowcount
            if not updated:
                conn.execute(sa.insert(SiteSetting).values(key=self._key(key), value=payload))

    def delete(self, key):
        with self.engine.begin() as conn:
            conn.execute(sa.delete(SiteSetting).where(SiteSetting.key == self._key(key)))


class StableTokenClient(WeChatClient):
    """Fetches the access token from cgi-bin/stable_token, which does not invalidate other holders' tokens."""

    def fetch_access_token(self):
        res = self._http.post("https://api.weixin.qq.com/cgi-bin/stable_token", timeout=TIMEOUT,
                              json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        res.raise_for_status()
        result = res.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self, request=res.request,
                                        response=res)
        expires_in = result.get("expires_in", 7200)
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result


def client() -> StableTokenClient:
    cfg = current_app.config
    c = StableTokenClient(cfg["WECHAT_APPID"], cfg["WECHAT_SECRET"], session=DatabaseTokenStorage(db.engine),
                          timeout=TIMEOUT)
    base = cfg.get("WECHAT_API_BASE_URL")
    if base:
        c._http.mount("https://", _RewriteHost(base))
    return c


def code_to_session(code: str) -> dict:
    """Exchange a wx.login code for {openid, unionid?, session_key}. Refuses bad codes with 401-style errors."""
    cfg = current_app.config
    if not code or len(code) > 128:
        raise Invalid("登录凭证无效，请重新进入小程序", code="wechat_code_invalid", field="code")
    try:
        res = _http().get("https://api.weixin.qq.com/sns/jscode2session", timeout=TIMEOUT, params={
            "appid": cfg["WECHAT_APPID"], "secret": cfg["WECHAT_SECRET"], "js_code": code,
            "grant_type": "authorization_code"})
        res.raise_for_status()
        data = res.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable("微信服务暂时无法访问，请稍后再试", code="wechat_unavailable") from exc
    if data.get("errcode"):
        raise Invalid("登录凭证无效或已过期，请重新进入小程序", code="wechat_code_invalid", field="code")
    return data


def send_subscribe_message(openid: str, template_id: str, data: dict, page: str | None = None) -> dict:
    """Send one subscribe message; WeChatClientException (with .errcode, e.g. 43101) propagates to the caller."""
    return client().wxa.send_subscribe_message(openid, template_id, data, page=page)
