"""``FakeWeChat``: the api.weixin.qq.com endpoints a mini-program backend uses, over real HTTP.

Pointing the **real** wechatpy (1.8.18) client at it
----------------------------------------------------
wechatpy hard-codes the host: ``WeChatClient.API_BASE_URL`` / ``WeChatWxa.API_BASE_URL`` are class
attributes and ``fetch_access_token`` uses a literal ``https://api.weixin.qq.com/cgi-bin/token``.
Every request however goes through the client's own ``requests.Session`` (``client._http``), so we
mount a transport adapter on it that rewrites ``https://api.weixin.qq.com/...`` to the fake::

    from wechatpy import WeChatClient
    from tests.fakes.wechat import route_to_fake

    client = WeChatClient(fake.appid, fake.secret)
    route_to_fake(client, fake)                    # or: fake.client()
    code = fake.login("o_openid_1")                # what wx.login() would hand the mini-program
    client.wxa.code_to_session(code)               # -> {"openid": "o_openid_1", "session_key": ...}
    client.wxa.send_subscribe_message("o_openid_1", "TEMPLATE_ID", {"thing1": {"value": "..."}}, page="pages/index")

``route_to_fake`` also accepts a bare ``requests.Session`` (for code that calls WeChat with its own
session, e.g. for ``/cgi-bin/stable_token``, which wechatpy 1.8.18 has no method for).  Production
code that needs an endpoint wechatpy lacks can call ``client.post("https://api.weixin.qq.com/wxa/
business/getuserphonenumber", data={"code": code})`` -- that also goes through ``client._http``.

Note: wechatpy's ``code_to_session`` adds ``access_token`` to the query like every client call, so
it fetches a token first (``fake.token_issued_count`` becomes 1).  wechatpy also retries a call
once after refetching the token when it gets 40001/40014/42001 (``auto_retry=True``).

What is emulated (checked against the WeChat server API docs)
-------------------------------------------------------------
Errors are HTTP 200 with ``{"errcode": N, "errmsg": "... rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}``
(compare ``errcode``, not the errmsg text).

* ``GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`` ->
  ``{"session_key", "openid"[, "unionid"]}``.  Codes are single-use and live 5 minutes:
  unknown/expired -> 40029 "invalid code", reused -> 40163 "code been used", wrong appid -> 40013,
  wrong secret -> 40125.  Register codes with ``fake.add_code(code, openid, unionid=None)`` or
  ``code = fake.login(openid)``.
* ``GET /cgi-bin/token?grant_type=client_credential&appid&secret`` -> ``{"access_token",
  "expires_in": 7200}``.  Each call mints a new token and **invalidates the previous one** from this
  endpoint (the real platform keeps the old one usable for up to 5 minutes; set
  ``token_grace_seconds=300`` for that, default 0 = strict).
* ``POST /cgi-bin/stable_token`` JSON ``{grant_type, appid, secret, force_refresh}`` -> returns the
  same still-valid token (a new one only when < 5 minutes remain, the old staying valid) unless
  ``force_refresh`` is true, which mints a new one and invalidates the previous stable token.
  Stable tokens and /cgi-bin/token tokens are isolated from each other, as documented.
* Token checks on the business endpoints: missing -> 41001, unknown or superseded -> 40001
  "invalid credential, access_token is invalid or not latest", past expiry -> 42001
  "access_token expired".  ``fake.advance(seconds)`` moves the fake's clock (tokens, codes);
  ``fake.expire_tokens()`` expires every token now.
* ``POST /cgi-bin/message/subscribe/send?access_token=`` JSON ``{touser, template_id, page, data,
  miniprogram_state, lang}`` -> ``{"errcode": 0, "errmsg": "ok", "msgid": <int>}``.  Empty touser ->
  40003, empty template_id (or unknown one, if templates were registered with ``add_template``) ->
  40037, data values checked per key kind (thing<=20 chars, number<=32 digits, letter<=32,
  symbol<=5, character_string<=32 ASCII, phrase<=5 Chinese chars, name<=10 Chinese / 20 letters,
  phone_number<=17, car_number<=8, amount, empty) -> 47003 "argument invalid! data.thing1.value
  invalid", ``fake.refuse_openid(openid)`` -> 43101 "user refuse to accept the msg".  With
  ``fake.one_time_subscriptions = True`` each send consumes one grant from
  ``fake.grant_subscription(openid, template_id, times=1)`` (one accept = one message), else 43101.
  Accepted messages are in ``fake.subscribe_messages``.
* ``POST /wxa/business/getuserphonenumber?access_token=`` JSON ``{code}`` -> ``{"errcode": 0,
  "errmsg": "ok", "phone_info": {"phoneNumber", "purePhoneNumber", "countryCode", "watermark":
  {"timestamp", "appid"}}}``; register with ``code = fake.add_phone_code(phone="13800138000")``;
  unknown or reused code -> 40029.
* Failure injection: ``fake.fail_next(n=1, errcode=-1, errmsg="system error", path=None,
  http_status=200, delay=0)`` (``path`` e.g. "/cgi-bin/message/subscribe/send"; ``errcode=45009``
  makes wechatpy raise ``APILimitedException``; ``http_status=502`` makes it raise
  ``WeChatClientException`` with ``errcode None``); ``fake.set_delay(seconds, path=None)``.
"""

from __future__ import annotations

import base64
import random
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from .http import FakeHTTPServer, RecordedRequest, Reply

__all__ = ["FakeWeChat", "RewriteAdapter", "route_to_fake", "WECHAT_API_HOST"]

WECHAT_API_HOST = "api.weixin.qq.com"

_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41030: "invalid page",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _rid() -> str:
    return "-".join(f"{random.getrandbits(32):08x}" for _ in range(3))


def _check_value(kind: str, value: str) -> bool:
    """Loose version of WeChat's per-kind subscribe-message value rules."""
    n = len(value)
    if kind == "thing":
        return n <= 20
    if kind == "number":
        return n <= 32 and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    if kind == "letter":
        return n <= 32 and re.fullmatch(r"[A-Za-z]+", value) is not None
    if kind == "symbol":
        return n <= 5 and re.search(r"[0-9A-Za-z]", value) is None and not _CJK.search(value)
    if kind == "character_string":
        return n <= 32 and re.fullmatch(r"[\x21-\x7e]+", value) is not None
    if kind == "phrase":
        return n <= 5 and all(_CJK.match(ch) for ch in value)
    if kind == "name":
        return n <= 10 if _CJK.search(value) else n <= 20
    if kind == "phone_number":
        return n <= 17 and re.fullmatch(r"[0-9+\-() ]+", value) is not None
    if kind == "car_number":
        return n <= 8
    if kind == "amount":
        return re.fullmatch(r"[^\d\s.]?\d{1,10}(\.\d{1,2})?元?", value) is not None
    return True  # time, date, enum, ... : only non-empty is checked


@dataclass
class _Token:
    value: str
    channel: str  # "token" | "stable"
    issued_at: float
    expires_at: float
    superseded_at: float | None = None


class FakeWeChat(FakeHTTPServer):
    """api.weixin.qq.com for one mini-program (see module docstring)."""

    def __init__(
        self,
        appid: str | None = None,
        secret: str | None = None,
        *,
        token_ttl: int = 7200,
        token_grace_seconds: float = 0.0,
        code_ttl: float = 300.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.appid = appid or "wx" + secrets.token_hex(8)
        self.secret = secret or secrets.token_hex(16)
        self.token_ttl = token_ttl
        self.token_grace_seconds = token_grace_seconds
        self.code_ttl = code_ttl
        self.one_time_subscriptions = False
        self._clock_offset = 0.0
        self._codes: dict[str, dict[str, Any]] = {}
        self._phone_codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, str | None] = {"token": None, "stable": None}
        self._issued: list[_Token] = []
        self._refused: dict[str, int] = {}
        self._templates: set[str] = set()
        self._grants: dict[tuple[str, str], int] = {}
        self._subscribe_messages: list[dict[str, Any]] = []
        self._phone_lookups: list[dict[str, Any]] = []
        self._failures: deque[dict[str, Any]] = deque()
        self._delays: dict[str | None, float] = {}

    # -- clock -----------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (expires tokens and login codes; wechatpy's own clock is real)."""
        with self._lock:
            self._clock_offset += seconds

    # -- configuration ---------------------------------------------------------------------------
    def add_code(self, code: str, openid: str, *, unionid: str | None = None, session_key: str | None = None) -> str:
        """Register a wx.login() code (single use, valid ``code_ttl`` seconds)."""
        with self._lock:
            self._codes[code] = {
                "openid": openid,
                "unionid": unionid,
                "session_key": session_key or base64_key(),
                "issued_at": self.now(),
                "used": False,
            }
        return code

    def login(self, openid: str, *, unionid: str | None = None) -> str:
        """Mint a fresh js_code for ``openid``, as wx.login() would; returns the code."""
        return self.add_code(secrets.token_hex(16), openid, unionid=unionid)

    def add_phone_code(self, code: str | None = None, *, phone: str = "13800138000", country_code: str = "86") -> str:
        """Register a getPhoneNumber code (single use); returns the code."""
        code = code or secrets.token_hex(32)
        with self._lock:
            self._phone_codes[code] = {"phone": phone, "country_code": country_code,
                                       "issued_at": self.now(), "used": False}
        return code

    def refuse_openid(self, openid: str, errcode: int = 43101) -> None:
        """Subscribe messages to ``openid`` fail with ``errcode`` (43101: user refused / unsubscribed)."""
        with self._lock:
            self._refused[openid] = errcode

    def accept_openid(self, openid: str) -> None:
        with self._lock:
            self._refused.pop(openid, None)

    def add_template(self, template_id: str) -> None:
        """Once any template is registered, unknown template_ids get 40037."""
        with self._lock:
            self._templates.add(template_id)

    def grant_subscription(self, openid: str, template_id: str, times: int = 1) -> None:
        """The user accepted ``times`` one-time subscriptions (used when ``one_time_subscriptions``)."""
        with self._lock:
            key = (openid, template_id)
            self._grants[key] = self._grants.get(key, 0) + times

    def fail_next(
        self,
        n: int = 1,
        errcode: int = -1,
        errmsg: str | None = None,
        *,
        path: str | None = None,
        http_status: int = 200,
        delay: float = 0.0,
    ) -> None:
        """The next ``n`` requests (to ``path``, or any path) answer ``errcode`` instead of working."""
        with self._lock:
            for _ in range(n):
                self._failures.append({"errcode": errcode, "errmsg": errmsg, "path": path,
                                       "http_status": http_status, "delay": delay})

    def set_delay(self, seconds: float, *, path: str | None = None) -> None:
        """Persistent artificial latency for ``path`` (or every path when None); 0 clears."""
        with self._lock:
            self._delays[path] = seconds

    def expire_tokens(self) -> None:
        """Every token issued so far is now past its expiry (-> 42001)."""
        with self._lock:
            now = self.now()
            for tok in self._tokens.values():
                tok.expires_at = min(tok.expires_at, now)

    # -- inspection ------------------------------------------------------------------------------
    @property
    def token_issued_count(self) -> int:
        """How many distinct access tokens were minted (both /cgi-bin/token and stable_token)."""
        with self._lock:
            return len(self._issued)

    @property
    def issued_tokens(self) -> list[tuple[str, str]]:
        """``(channel, token)`` for every minted token, channel "token" or "stable"."""
        with self._lock:
            return [(t.channel, t.value) for t in self._issued]

    @property
    def current_token(self) -> str | None:
        """The latest token from /cgi-bin/token."""
        with self._lock:
            return self._current["token"]

    @property
    def current_stable_token(self) -> str | None:
        with self._lock:
            return self._current["stable"]

    @property
    def subscribe_messages(self) -> list[dict[str, Any]]:
        """Accepted subscribe messages: the JSON body plus ``msgid`` and ``access_token``."""
        with self._lock:
            return list(self._subscribe_messages)

    @property
    def phone_lookups(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._phone_lookups)

    # -- the real client, pointed here -----------------------------------------------------------
    def client(self, **kwargs: Any):
        """A real ``wechatpy.WeChatClient`` for this fake's appid/secret, routed here."""
        from wechatpy import WeChatClient

        client = WeChatClient(kwargs.pop("appid", self.appid), kwargs.pop("secret", self.secret), **kwargs)
        route_to_fake(client, self)
        return client

    def session(self) -> requests.Session:
        """A plain ``requests.Session`` whose https://api.weixin.qq.com/ traffic comes here."""
        session = requests.Session()
        route_to_fake(session, self)
        return session

    # -- request handling ------------------------------------------------------------------------
    def _err(self, errcode: int, errmsg: str | None = None) -> Reply:
        msg = errmsg if errmsg is not None else _ERRMSG.get(errcode, "error")
        return self._json({"errcode": errcode, "errmsg": f"{msg} rid: {_rid()}"})

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Reply:
        # api.weixin.qq.com really labels its JSON this way.
        return Reply(status, body, {"Content-Type": "application/json; encoding=utf-8"})

    def handle(self, req: RecordedRequest) -> Reply:
        with self._lock:
            failure = None
            for i, item in enumerate(self._failures):
                if item["path"] in (None, req.path):
                    failure = item
                    del self._failures[i]
                    break
            delay = self._delays.get(req.path, 0.0) + self._delays.get(None, 0.0)
        if failure is not None:
            if failure["http_status"] != 200:
                reply = Reply(failure["http_status"], "<html><body>Bad Gateway</body></html>",
                              {"Content-Type": "text/html"})
            else:
                reply = self._err(failure["errcode"], failure["errmsg"])
            reply.delay = delay + failure["delay"]
            return reply

        routes = {
            ("GET", "/sns/jscode2session"): self._jscode2session,
            ("GET", "/cgi-bin/token"): self._token,
            ("POST", "/cgi-bin/stable_token"): self._stable_token,
            ("POST", "/cgi-bin/message/subscribe/send"): self._subscribe_send,
            ("POST", "/wxa/business/getuserphonenumber"): self._phone_number,
        }
        handler = routes.get((req.method, req.path))
        if handler is None:
            return Reply(404, {"errcode": 404, "errmsg": f"fake: no endpoint {req.method} {req.path}"})
        reply = handler(req)
        reply.delay += delay
        return reply

    def _check_app(self, appid: str | None, secret: str | None) -> Reply | None:
        if appid != self.appid:
            return self._err(40013)
        if secret != self.secret:
            return self._err(40125)
        return None

    def _jscode2session(self, req: RecordedRequest) -> Reply:
        q = req.query
        bad = self._check_app(q.get("appid"), q.get("secret"))
        if bad:
            return bad
        if q.get("grant_type") != "authorization_code":
            return self._err(40002)
        code = q.get("js_code") or ""
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or self.now() - entry["issued_at"] > self.code_ttl:
                return self._err(40029)
            if entry["used"]:
                return self._err(40163)
            entry["used"] = True
            body = {"session_key": entry["session_key"], "openid": entry["openid"]}
            if entry["unionid"]:
                body["unionid"] = entry["unionid"]
        return self._json(body)

    def _mint(self, channel: str) -> _Token:
        now = self.now()
        tok = _Token(secrets.token_urlsafe(96)[:136], channel, now, now + self.token_ttl)
        previous = self._current[channel]
        if previous is not None:
            prev = self._tokens[previous]
            if prev.superseded_at is None:
                prev.superseded_at = now
        self._tokens[tok.value] = tok
        self._current[channel] = tok.value
        self._issued.append(tok)
        return tok

    def _token_reply(self, tok: _Token) -> Reply:
        return self._json({"access_token": tok.value, "expires_in": max(0, round(tok.expires_at - self.now()))})

    def _token(self, req: RecordedRequest) -> Reply:
        q = req.query
        if q.get("grant_type") != "client_credential":
            return self._err(40002)
        bad = self._check_app(q.get("appid"), q.get("secret"))
        if bad:
            return bad
        with self._lock:
            tok = self._mint("token")
            return self._token_reply(tok)

    def _stable_token(self, req: RecordedRequest) -> Reply:
        body = req.json
        if not isinstance(body, dict):
            return self._err(47001)
        if body.get("grant_type") != "client_credential":
            return self._err(40002)
        bad = self._check_app(body.get("appid"), body.get("secret"))
        if bad:
            return bad
        force = body.get("force_refresh") in (True, "true", 1, "1")
        with self._lock:
            current = self._current["stable"]
            tok = self._tokens.get(current) if current else None
            now = self.now()
            if force:
                tok = self._mint("stable")
            elif tok is None or tok.expires_at - now < 300:
                # Normal mode: a new token only within 5 minutes of expiry; the old one stays valid.
                old = tok
                tok = self._mint("stable")
                if old is not None:
                    old.superseded_at = None
            return self._token_reply(tok)

    def _check_token(self, req: RecordedRequest) -> Reply | str:
        value = req.query.get("access_token")
        if not value:
            return self._err(41001)
        with self._lock:
            tok = self._tokens.get(value)
            now = self.now()
            if tok is None:
                return self._err(40001)
            if tok.superseded_at is not None and now >= tok.superseded_at + self.token_grace_seconds:
                return self._err(40001)
            if now >= tok.expires_at:
                return self._err(42001)
        return value

    def _subscribe_send(self, req: RecordedRequest) -> Reply:
        token = self._check_token(req)
        if isinstance(token, Reply):
            return token
        body = req.json
        if not isinstance(body, dict):
            return self._err(47001)
        touser = body.get("touser") or ""
        template_id = body.get("template_id") or ""
        if not isinstance(touser, str) or not touser.strip():
            return self._err(40003)
        with self._lock:
            templates = set(self._templates)
        if not template_id or (templates and template_id not in templates):
            return self._err(40037)
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return self._err(47003, "argument invalid! data is empty")
        for key, entry in data.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if value is None or str(value).strip() == "":
                return self._err(47003, f"argument invalid! data.{key}.value is empty")
            kind = re.sub(r"\d+$", "", key)
            if not _check_value(kind, str(value)):
                return self._err(47003, f"argument invalid! data.{key}.value invalid")
        with self._lock:
            refused = self._refused.get(touser)
            if refused is not None:
                return self._err(refused)
            if self.one_time_subscriptions:
                key2 = (touser, template_id)
                if self._grants.get(key2, 0) <= 0:
                    return self._err(43101)
                self._grants[key2] -= 1
            msgid = random.getrandbits(62) | (1 << 60)
            self._subscribe_messages.append({**body, "msgid": msgid, "access_token": token})
        return self._json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _phone_number(self, req: RecordedRequest) -> Reply:
        token = self._check_token(req)
        if isinstance(token, Reply):
            return token
        body = req.json
        if not isinstance(body, dict):
            return self._err(47001)
        code = body.get("code") or ""
        with self._lock:
            entry = self._phone_codes.get(code)
            if entry is None or entry["used"] or self.now() - entry["issued_at"] > self.code_ttl:
                return self._err(40029)
            entry["used"] = True
            cc = entry["country_code"]
            phone = entry["phone"]
            info = {
                "phoneNumber": phone if cc == "86" else f"+{cc}{phone}",
                "purePhoneNumber": phone,
                "countryCode": cc,
                "watermark": {"timestamp": int(entry["issued_at"]), "appid": self.appid},
            }
            self._phone_lookups.append({"code": code, **info})
        return self._json({"errcode": 0, "errmsg": "ok", "phone_info": info})


def base64_key() -> str:
    """A session_key-looking value (base64 of 16 random bytes)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


class RewriteAdapter(HTTPAdapter):
    """A ``requests`` transport adapter that sends ``https://api.weixin.qq.com/...`` to ``target_base_url``.

    Mount it on the session (``route_to_fake`` does) -- the rest of the request (method, path,
    query, headers, body) is untouched, so the fake sees exactly what the library sends.  Loopback
    traffic never goes through an environment proxy.
    """

    def __init__(self, target_base_url: str, source_host: str = WECHAT_API_HOST, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target = urlsplit(target_base_url)
        self.target_scheme = target.scheme
        self.target_netloc = target.netloc
        self.target_prefix = target.path.rstrip("/")
        self.source_host = source_host.lower()
        self.rewritten = 0

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if (parts.hostname or "").lower() != self.source_host:
            return url
        self.rewritten += 1
        return urlunsplit((self.target_scheme, self.target_netloc, self.target_prefix + parts.path,
                           parts.query, parts.fragment))

    def send(self, request, **kwargs):  # type: ignore[override]
        request.url = self.rewrite(request.url)
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)


def route_to_fake(session_or_client: Any, fake: FakeHTTPServer | str) -> RewriteAdapter:
    """Mount a :class:`RewriteAdapter` so ``https://api.weixin.qq.com/`` traffic goes to ``fake``.

    Accepts a wechatpy client (anything with a ``_http`` ``requests.Session``) or a session, and a
    started fake or a base URL.  Returns the adapter (``adapter.rewritten`` counts requests).
    """
    session = getattr(session_or_client, "_http", session_or_client)
    if not isinstance(session, requests.Session):
        raise TypeError(f"need a requests.Session or a wechatpy client, got {type(session_or_client)!r}")
    base_url = fake if isinstance(fake, str) else fake.base_url
    adapter = RewriteAdapter(base_url)
    session.mount(f"https://{WECHAT_API_HOST}/", adapter)
    session.mount(f"http://{WECHAT_API_HOST}/", adapter)
    return adapter

