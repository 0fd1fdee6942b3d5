"""``FakeTwilio``: Twilio's REST API v2010 *Messages* resource, on 127.0.0.1, over real HTTP.

Drive the **real** ``twilio`` client (9.13) against it -- never patch the library::

    from twilio.rest import Client

    client = Client(fake.account_sid, fake.auth_token)
    client.api.base_url = fake.base_url          # the Api domain's base URL (default https://api.twilio.com)
    msg = client.messages.create(to="+8613800138000", from_="+15005550006", body="...",
                                 status_callback="https://example.org/hooks/twilio/status")

``fake.client()`` does exactly that (and also clears ``edge``/``region``: with TWILIO_EDGE or
TWILIO_REGION set, twilio rewrites the host name of every URL, which would break the 127.0.0.1 URL;
the pytest fixture also removes those variables from the environment).  API-key auth works too:
``sid, secret = fake.add_api_key(); Client(sid, secret, account_sid=fake.account_sid)``.
To exercise client timeouts pass ``http_client=TwilioHttpClient(timeout=0.5)``
(``from twilio.http.http_client import TwilioHttpClient``).

What is emulated (shapes checked against Twilio's docs and twilio-python's own fixtures):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` -- HTTP Basic auth with the account SID +
  auth token, or an API key SID + secret.  Wrong/missing auth -> 401
  ``{"code": 20003, "message": "Authenticate", ...}``.  Form fields To, From or MessagingServiceSid,
  Body, StatusCallback.  Validation like Twilio: no To -> 21604, no From/MessagingServiceSid -> 21603,
  no Body (and no MediaUrl) -> 21602, To not E.164 -> 21211, body > 1600 chars -> 21617.
  Success -> 201 with the Message JSON (sid ``SM`` + 32 hex, status ``queued`` -- or ``accepted``
  when sent through a Messaging Service --, RFC 2822 dates, ``num_segments`` as a string, ``uri``...).
* ``GET .../Messages.json`` with ``To``, ``From``, ``DateSent``, ``DateSent<``, ``DateSent>`` (the
  real parameter names; ``DateSent>=2024-05-01`` on the wire parses as key ``DateSent>``; both
  inequalities are inclusive), ``PageSize`` (default 50, max 1000), ``Page``.  Newest first.  Returns
  the real page shape (``messages``, ``page``, ``page_size``, ``start``, ``end``, ``uri``,
  ``first_page_uri``, ``next_page_uri``, ``previous_page_uri``), so ``client.messages.list()`` /
  ``.stream()`` paginate.  Values may be dates (``YYYY-MM-DD``, compared by UTC day) or datetimes
  (``YYYY-MM-DDTHH:MM:SSZ``, which is what twilio-python sends for a ``datetime``; compared exactly).
  Messages whose ``date_sent`` is still null are excluded by DateSent filters.
* ``GET .../Messages/{sid}.json`` -> the message, or 404 code 20404.
* Lifecycle: the 201 says ``queued``/``accepted``; with ``auto_send=True`` (default) the stored
  message then becomes ``sent`` with ``date_sent`` set, as Twilio does within moments.  No callback
  is posted by itself: call ``fake.deliver(sid, "delivered")`` (or "sent", "undelivered", "failed").

Scripting failures (all thread-safe; ``endpoint`` is "create" (default), "list", "fetch" or "any"):

* ``fake.fail_next(n=1, status=429, code=None, message=None, delay=0)`` -- the next *n* matching
  requests fail with Twilio's error body (code defaults from the status: 429->20429, 500->20500,
  503->20503, 401->20003, 404->20404).
* ``fake.script([...])`` -- a queue consumed one item per matching request.  Items: ``None``/"ok"
  (normal), an int HTTP status (error with default code), a dict ``{"status", "code", "message",
  "delay", "retry_after", "create"}`` (error; ``retry_after`` adds a ``Retry-After`` header, as Twilio's 429
  does; ``"create": True`` on the create endpoint stores the message first -- the "Twilio created it but
  answered 500" case), ``{"delay": s}`` (message IS created, response sent s seconds late -- the
  "client timed out but Twilio accepted it" case), or ``"reset"`` (connection closed, no response).
* ``fake.reject_number(to, code=21211, message=None)`` -- synchronous 400 for that recipient
  (21211 invalid To, 21408 region not enabled, 21610 unsubscribed/STOP, 21612 cannot route, 21614 not
  mobile...).  Delivery-time codes (30xxx, e.g. 30003/30006) are *not* API errors at Twilio: the
  message is accepted (201) and ``deliver(sid)`` then defaults to ``undelivered`` with that ErrorCode.
* ``fake.set_delay(seconds, endpoint="create")`` -- persistent artificial latency.

Status callbacks:

* ``fake.deliver(sid, status="delivered", error_code=None, url_override=None)`` POSTs Twilio's form
  fields (MessageSid, SmsSid, MessageStatus, SmsStatus, To, From, AccountSid, ApiVersion, plus
  MessagingServiceSid, ErrorCode, RawDlrDoneDate where applicable) to the message's StatusCallback
  with a valid ``X-Twilio-Signature`` (``RequestValidator(auth_token).compute_signature(url, params)``)
  and returns the HTTP status your webhook answered.  ``deliver_to(url, sid, ...)`` is the same with
  an explicit URL.
* With a Flask test client: ``fake.deliver_via(app.test_client(), sid, "delivered",
  url="http://localhost/hooks/twilio/status")``, or build it yourself with
  ``params = fake.callback_params(sid, status)`` and ``fake.sign(url, params)``.

Inspection: ``fake.messages`` (accepted messages, creation order), ``fake.message(sid)``,
``fake.requests`` (everything received), ``fake.create_requests`` (POSTs to Messages.json),
``fake.callbacks`` (what deliver() posted and the answer).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from .http import FakeHTTPServer, RecordedRequest, Reply

__all__ = ["FakeTwilio", "FakeMessage", "TWILIO_ERROR_MESSAGES", "DELIVERY_ERROR_MESSAGES"]

API_VERSION = "2010-04-01"

# Synchronous REST API errors: code -> (HTTP status, message template).
TWILIO_ERROR_MESSAGES: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20004: (405, "Method not allowed"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."),
    21604: (400, "A 'To' phone number is required."),
    21606: (400, "The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code "
                 "for your account."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "Message cannot be sent with the current combination of 'To' ({to}) and/or 'From' ({from_}) "
                 "parameters"),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}

# Asynchronous delivery errors (reported as ErrorCode in status callbacks / on the Message).
DELIVERY_ERROR_MESSAGES: dict[int, str] = {
    30001: "Queue overflow",
    30002: "Account suspended",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

_DEFAULT_CODE_FOR_STATUS = {400: 21211, 401: 20003, 404: 20404, 405: 20004, 429: 20429, 500: 20500, 503: 20503}
_STATUSES = {
    "queued", "sending", "sent", "delivered", "undelivered", "failed", "receiving", "received",
    "accepted", "scheduled", "read", "partially_delivered", "canceled",
}
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_RE_LIST = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_RE_ONE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

# GSM 03.38 basic character set (+ extension table, which costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """SMS segment count as carriers bill it: GSM-7 160/153, otherwise UCS-2 70/67."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXT for ch in body):
        units = sum(2 if ch in _GSM_EXT else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)  # UTF-16 code units
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _rfc2822(dt: datetime | None) -> str | None:
    return format_datetime(dt.astimezone(UTC)) if dt else None


@dataclass
class FakeMessage:
    """One accepted message, as the fake stores it."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    status: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    num_segments: int = 1
    form: dict[str, str] = field(default_factory=dict)  # everything that was posted
    pending_delivery_error: int | None = None  # set by reject_number(..., code=30xxx)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def resource(self) -> dict[str, Any]:
        """The JSON representation Twilio returns for this message."""
        via_service_unassigned = self.messaging_service_sid is not None and self.from_ is None
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "0" if via_service_unassigned else str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}/Media.json",
            },
            "to": self.to,
            "uri": self.uri,
        }


def _parse_date_filter(value: str) -> date | datetime:
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _cmp_key(sent: datetime, bound: date | datetime) -> tuple[Any, Any]:
    if isinstance(bound, datetime):
        return sent.replace(microsecond=0), bound
    return sent.astimezone(UTC).date(), bound


class FakeTwilio(FakeHTTPServer):
    """Twilio REST API v2010 Messages, served on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        auto_send: bool = True,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.auth_token = auth_token or uuid.uuid4().hex
        self.auto_send = auto_send
        self._clock = clock or (lambda: datetime.now(UTC))
        self._api_keys: dict[str, str] = {}
        self._messages: dict[str, FakeMessage] = {}
        self._order: list[str] = []
        self._script: dict[str, deque[Any]] = {}
        self._delays: dict[str, float] = {}
        self._rejections: dict[str, tuple[int, str | None]] = {}
        self._callbacks: list[dict[str, Any]] = []
        self._cb_session = requests.Session()
        self._cb_session.trust_env = False  # callbacks go straight to the URL, never via a proxy

    # -- configuration ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    def add_api_key(self, sid: str | None = None, secret: str | None = None) -> tuple[str, str]:
        """Register an API key (``SK`` + 32 hex) usable as Basic-auth username/password."""
        sid = sid or "SK" + uuid.uuid4().hex
        secret = secret or uuid.uuid4().hex
        with self._lock:
            self._api_keys[sid] = secret
        return sid, secret

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        code: int | None = None,
        message: str | None = None,
        *,
        delay: float = 0.0,
        endpoint: str = "create",
    ) -> None:
        """Make the next ``n`` requests to ``endpoint`` fail with Twilio's JSON error body."""
        item = {"status": status, "code": code, "message": message, "delay": delay}
        self.script([dict(item) for _ in range(n)], endpoint=endpoint)

    def script(self, items: list[Any], *, endpoint: str = "create") -> None:
        """Queue scripted outcomes for the next requests to ``endpoint`` (see module docstring)."""
        self._check_endpoint(endpoint)
        with self._lock:
            self._script.setdefault(endpoint, deque()).extend(items)

    def set_delay(self, seconds: float, *, endpoint: str = "create") -> None:
        """Persistent artificial latency for every request to ``endpoint`` (0 to clear)."""
        self._check_endpoint(endpoint)
        with self._lock:
            self._delays[endpoint] = seconds

    def reject_number(self, number: str, code: int = 21211, message: str | None = None) -> None:
        """Reject messages to ``number``: 21xxx -> synchronous 400; 30xxx -> accepted, fails on delivery."""
        with self._lock:
            self._rejections[number] = (code, message)

    def clear_rules(self) -> None:
        """Forget scripted failures, delays and number rejections."""
        with self._lock:
            self._script.clear()
            self._delays.clear()
            self._rejections.clear()

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in ("create", "list", "fetch", "any"):
            raise ValueError(f"endpoint must be create/list/fetch/any, not {endpoint!r}")

    # -- inspection ------------------------------------------------------------------------------
    @property
    def messages(self) -> list[FakeMessage]:
        with self._lock:
            return [self._messages[sid] for sid in self._order]

    def message(self, sid: str) -> FakeMessage:
        with self._lock:
            return self._messages[sid]

    @property
    def create_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and _RE_LIST.match(r.path)]

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._callbacks)

    # -- the real client, pointed here -----------------------------------------------------------
    def client(self, *, username: str | None = None, password: str | None = None, **kwargs: Any):
        """A real ``twilio.rest.Client`` whose Api domain points at this fake."""
        from twilio.rest import Client

        client = Client(
            username or self.account_sid,
            password or self.auth_token,
            account_sid=kwargs.pop("account_sid", self.account_sid),
            **kwargs,
        )
        client.edge = None
        client.region = None
        client.api.base_url = self.base_url
        return client

    # -- errors ----------------------------------------------------------------------------------
    def _error(self, code: int, status: int | None = None, message: str | None = None, **fmt: Any) -> Reply:
        default_status, template = TWILIO_ERROR_MESSAGES.get(code, (status or 400, "Error {code}"))
        status = status or default_status
        if message is None:
            fmt.setdefault("to", "")
            fmt.setdefault("from_", "")
            fmt.setdefault("path", "")
            message = template.format(code=code, **fmt)
        body: dict[str, Any] = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        headers = {"Twilio-Request-Id": "RQ" + uuid.uuid4().hex}
        if code == 20003:
            body["detail"] = "Your AccountSid or AuthToken was incorrect."
            headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return Reply(status, body, headers)

    def _scripted_error(self, item: dict[str, Any]) -> Reply:
        status = int(item.get("status") or 500)
        code = item.get("code") or _DEFAULT_CODE_FOR_STATUS.get(status, status)
        reply = self._error(int(code), status, item.get("message"))
        reply.delay = float(item.get("delay") or 0.0)
        if item.get("retry_after") is not None:
            reply.headers["Retry-After"] = str(item["retry_after"])
        return reply

    # -- request handling ------------------------------------------------------------------------
    def _authenticated(self, req: RecordedRequest, account: str) -> bool:
        auth = req.header("Authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if account != self.account_sid:
            return False
        if user == self.account_sid and password == self.auth_token:
            return True
        with self._lock:
            return self._api_keys.get(user) == password and user != ""

    def _take_script(self, endpoint: str) -> tuple[bool, Any]:
        with self._lock:
            for key in (endpoint, "any"):
                queue = self._script.get(key)
                if queue:
                    return True, queue.popleft()
        return False, None

    def _delay_for(self, endpoint: str) -> float:
        with self._lock:
            return self._delays.get(endpoint, 0.0) + self._delays.get("any", 0.0)

    def handle(self, req: RecordedRequest) -> Reply:
        m_list = _RE_LIST.match(req.path)
        m_one = _RE_ONE.match(req.path)
        if not (m_list or m_one):
            return self._error(20404, path=req.path)
        account = (m_list or m_one).group("account")
        if not self._authenticated(req, account):
            return self._error(20003)
        if m_list and req.method == "POST":
            endpoint = "create"
        elif m_list and req.method == "GET":
            endpoint = "list"
        elif m_one and req.method == "GET":
            endpoint = "fetch"
        else:
            return self._error(20004)

        has_item, item = self._take_script(endpoint)
        delay = self._delay_for(endpoint)
        extra_delay = 0.0
        if has_item and item not in (None, "ok"):
            if item == "reset":
                return Reply(reset=True, delay=delay)
            if isinstance(item, int):
                item = {"status": item}
            if not isinstance(item, dict):
                raise ValueError(f"unsupported script item {item!r}")
            if "status" in item:
                if item.get("create") and endpoint == "create":
                    created = self._create(req, account)   # Twilio made the message, then answered an error
                    if created.status != 201:
                        created.delay += delay
                        return created
                reply = self._scripted_error(item)
                reply.delay += delay
                return reply
            extra_delay = float(item.get("delay") or 0.0)

        if endpoint == "create":
            reply = self._create(req, account)
        elif endpoint == "list":
            reply = self._list(req, account)
        else:
            reply = self._fetch(m_one.group("sid"), req)
        reply.delay += delay + extra_delay
        return reply

    def _create(self, req: RecordedRequest, account: str) -> Reply:
        form = req.form or {}
        to = (form.get("To") or "").strip()
        from_ = (form.get("From") or "").strip() or None
        service = (form.get("MessagingServiceSid") or "").strip() or None
        body = form.get("Body") or ""
        media = form.get("MediaUrl") or form.get("ContentSid")
        if not to:
            return self._error(21604)
        if not from_ and not service:
            return self._error(21603)
        if not body and not media:
            return self._error(21602)
        if not _E164.match(to):
            return self._error(21211, to=to)
        if len(body) > 1600:
            return self._error(21617)
        with self._lock:
            rule = self._rejections.get(to)
        pending = None
        if rule is not None:
            code, message = rule
            if code // 1000 == 30:
                pending = code
            else:
                return self._error(code, 400 if code not in TWILIO_ERROR_MESSAGES else None, message,
                                   to=to, from_=from_ or service or "")
        now = self.now()
        msg = FakeMessage(
            sid="SM" + uuid.uuid4().hex,
            account_sid=account,
            to=to,
            from_=from_,
            body=body,
            messaging_service_sid=service,
            status_callback=form.get("StatusCallback") or None,
            status="accepted" if service else "queued",
            date_created=now,
            date_updated=now,
            num_segments=num_segments(body),
            form=dict(form),
            pending_delivery_error=pending,
        )
        created = msg.resource()
        with self._lock:
            self._messages[msg.sid] = msg
            self._order.append(msg.sid)
            if self.auto_send:
                msg.status = "sent"
                msg.date_sent = now
                msg.date_updated = now
        return Reply(201, created, {"Twilio-Request-Id": "RQ" + uuid.uuid4().hex})

    def _fetch(self, sid: str, req: RecordedRequest) -> Reply:
        with self._lock:
            msg = self._messages.get(sid)
            resource = msg.resource() if msg else None
        if resource is None:
            return self._error(20404, path=req.path)
        return Reply(200, resource)

    def _list(self, req: RecordedRequest, account: str) -> Reply:
        q = req.query
        try:
            page_size = max(1, min(1000, int(q.get("PageSize") or 50)))
            page = max(0, int(q.get("Page") or 0))
            on = _parse_date_filter(q["DateSent"]) if q.get("DateSent") else None
            after = _parse_date_filter(q["DateSent>"]) if q.get("DateSent>") else None
            before = _parse_date_filter(q["DateSent<"]) if q.get("DateSent<") else None
        except ValueError:
            return self._error(20001, 400, "Invalid query parameter")

        def keep(m: FakeMessage) -> bool:
            if m.account_sid != account:
                return False
            if q.get("To") and m.to != q["To"]:
                return False
            if q.get("From") and m.from_ != q["From"]:
                return False
            if on is not None or after is not None or before is not None:
                if m.date_sent is None:
                    return False
                if on is not None:
                    a, b = _cmp_key(m.date_sent, on)
                    if a != b:
                        return False
                if after is not None:
                    a, b = _cmp_key(m.date_sent, after)
                    if a < b:
                        return False
                if before is not None:
                    a, b = _cmp_key(m.date_sent, before)
                    if a > b:
                        return False
            return True

        with self._lock:
            ordered = [self._messages[sid] for sid in reversed(self._order)]  # newest first
            ordered.sort(key=lambda m: m.date_created, reverse=True)
            matching = [m.resource() for m in ordered if keep(m)]

        start = page * page_size
        chunk = matching[start:start + page_size]
        filters = [(k, q[k]) for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if q.get(k)]
        base = f"/{API_VERSION}/Accounts/{account}/Messages.json"

        def page_uri(n: int) -> str:
            params = filters + [("PageSize", str(page_size)), ("Page", str(n))]
            if n > 0:
                params.append(("PageToken", f"PASM{n * page_size}"))
            return f"{base}?{urlencode(params)}"

        has_next = start + page_size < len(matching)
        payload = {
            "end": start + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "messages": chunk,
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": page_uri(page),
        }
        return Reply(200, payload)

    # -- status callbacks ------------------------------------------------------------------------
    def _apply_status(self, sid: str, status: str, error_code: int | None) -> FakeMessage:
        if status not in _STATUSES:
            raise ValueError(f"unknown Twilio message status {status!r}")
        with self._lock:
            msg = self._messages[sid]
            if error_code is None and status in ("undelivered", "failed"):
                error_code = msg.pending_delivery_error or 30008
            now = self.now()
            msg.status = status
            msg.date_updated = now
            if status in ("sent", "delivered", "undelivered", "read") and msg.date_sent is None:
                msg.date_sent = now
            if error_code is not None:
                msg.error_code = int(error_code)
                msg.error_message = DELIVERY_ERROR_MESSAGES.get(int(error_code))
            return msg

    def callback_params(self, sid: str, status: str = "delivered", error_code: int | None = None) -> dict[str, str]:
        """The form fields Twilio POSTs to a StatusCallback for ``status`` (does not change state)."""
        with self._lock:
            msg = self._messages[sid]
            if error_code is None and status in ("undelivered", "failed"):
                error_code = msg.pending_delivery_error or 30008
            params = {
                "ApiVersion": API_VERSION,
                "AccountSid": msg.account_sid,
                "SmsSid": msg.sid,
                "SmsStatus": status,
                "MessageStatus": status,
                "To": msg.to,
                "MessageSid": msg.sid,
                "From": msg.from_ or "",
            }
            if msg.messaging_service_sid:
                params["MessagingServiceSid"] = msg.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(int(error_code))
        if status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = self.now().strftime("%y%m%d%H%M")
        return params

    def sign(self, url: str, params: dict[str, str]) -> str:
        """``X-Twilio-Signature`` for a POST of ``params`` to ``url`` (the full URL Twilio called)."""
        from twilio.request_validator import RequestValidator

        return RequestValidator(self.auth_token).compute_signature(url, params)

    def _callback_headers(self, signature: str) -> dict[str, str]:
        return {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def deliver(
        self,
        sid: str,
        status: str = "delivered",
        error_code: int | None = None,
        *,
        url_override: str | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Advance ``sid`` to ``status`` and POST the signed status callback; return the HTTP status.

        For "undelivered"/"failed" without ``error_code`` the ErrorCode is the 30xxx code given to
        ``reject_number`` for that recipient, else 30008.
        """
        params = self.callback_params(sid, status, error_code)
        with self._lock:
            url = url_override or self._messages[sid].status_callback
        if not url:
            raise ValueError(f"message {sid} has no StatusCallback; pass url_override=")
        self._apply_status(sid, status, int(params["ErrorCode"]) if "ErrorCode" in params else None)
        signature = self.sign(url, params)
        resp = self._cb_session.post(url, data=params, headers=self._callback_headers(signature), timeout=timeout)
        with self._lock:
            self._callbacks.append({"url": url, "params": params, "signature": signature,
                                    "status_code": resp.status_code, "response_text": resp.text})
        return resp.status_code

    def deliver_to(self, url: str, sid: str, status: str = "delivered", error_code: int | None = None) -> int:
        """``deliver`` to an explicit URL instead of the message's StatusCallback."""
        return self.deliver(sid, status, error_code, url_override=url)

    def deliver_via(
        self,
        test_client: Any,
        sid: str,
        status: str = "delivered",
        error_code: int | None = None,
        *,
        url: str | None = None,
    ):
        """Post the signed callback through a Flask/Werkzeug test client; returns its response.

        ``url`` (default: the message's StatusCallback) must be the full URL your app will see as
        ``request.url`` -- e.g. ``http://localhost/hooks/twilio/status`` for a default test client.
        """
        params = self.callback_params(sid, status, error_code)
        with self._lock:
            url = url or self._messages[sid].status_callback
        if not url:
            raise ValueError(f"message {sid} has no StatusCallback; pass url=")
        self._apply_status(sid, status, int(params["ErrorCode"]) if "ErrorCode" in params else None)
        signature = self.sign(url, params)
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        resp = test_client.post(
            path,
            base_url=f"{parts.scheme}://{parts.netloc}",
            data=params,
            headers={k: v for k, v in self._callback_headers(signature).items() if k != "Content-Type"},
        )
        with self._lock:
            self._callbacks.append({"url": url, "params": params, "signature": signature,
                                    "status_code": resp.status_code, "response_text": resp.get_data(as_text=True)})
        return resp

    def stop(self) -> None:
        super().stop()
        self._cb_session.close()

