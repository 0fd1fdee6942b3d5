"""One small SMS sender interface, two providers: Twilio (the real ``twilio`` client) and the console.

``send`` never raises for a provider problem: it sorts the outcome into
* ``sent``    -- the provider accepted the message (its sid is kept);
* ``retry``   -- certainly not sent, try again later (429, auth/config trouble);
* ``unknown`` -- maybe sent (timeout, connection reset, 5xx): reconcile before re-sending;
* ``failed``  -- permanent (invalid number 21211, unsubscribed 21610, cannot route 21612, region 21408...).

``find_sent`` is the reconciliation: Twilio has no idempotency key, so before re-sending a
notice whose earlier attempt has an unknown outcome we list the messages to that number since
the first attempt and look for our text.
"""
from __future__ import annotations

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from onecard.privacy import mask_mobile

log = logging.getLogger("onecard.notices")

# Twilio REST errors that no retry can fix (the number or the recipient's choice).
PERMANENT_CODES = frozenset({21211, 21408, 21602, 21604, 21606, 21610, 21612, 21614, 21617, 21635, 30004})
# Statuses of a listed message that mean "this is the one we sent" (not a failed create).
_LISTED_OK = {"accepted", "queued", "sending", "sent", "delivered", "undelivered", "read", "scheduled"}


@dataclass
class SendResult:
    outcome: str                    # sent, retry, unknown, failed
    sid: str | None = None
    http_status: int | None = None
    code: str | None = None
    error: str | None = None
    status: str | None = None       # provider's message status (queued, accepted...)
    retry_after: float | None = None  # seconds the provider asked us to wait (429 Retry-After)


def e164(mobile: str) -> str:
    """Mainland mobile numbers are stored as 11 digits; Twilio wants +86..."""
    mobile = mobile.strip()
    return mobile if mobile.startswith("+") else "+86" + mobile


class SmsSender:
    """The interface: send one SMS, and (where the provider allows) find one already sent."""
    name = "abstract"
    # The longest a send call can be in flight: a notice's lease is renewed to at least this (plus a margin)
    # just before sending, so no other drainer can take it while the provider may still be creating it.
    timeout: float = 0.0

    @classmethod
    def from_config(cls, cfg) -> SmsSender:
        """The sender configured by ``cfg`` (the app's config)."""
        return cls()

    def send(self, to: str, body: str, status_callback: str | None) -> SendResult:  # pragma: no cover
        raise NotImplementedError

    def find_sent(self, to: str, body: str, since: datetime, exclude_sids: set[str] = frozenset()) -> str | None:
        return None


class ConsoleSender(SmsSender):
    """Writes what would be sent to stdout (masked number), for local runs and the demo."""
    name = "console"

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, to, body, status_callback):
        sid = "CONSOLE" + uuid.uuid4().hex[:24]
        print(f"[短信] 发往 {mask_mobile(to)}：{body}", file=self.stream or sys.stdout, flush=True)
        return SendResult("sent", sid=sid, status="sent")


class TwilioSender(SmsSender):
    """Twilio's Messages API through the real client; sender number or Messaging Service from config."""
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, from_: str = "", messaging_service_sid: str = "",
                 base_url: str = "", timeout: float | None = 15.0):
        # Twilio's exceptions do not carry the answer's headers; a response hook keeps the 429's Retry-After
        # (per thread: one sender may serve several drainer threads).
        self._answer = threading.local()
        self.timeout = float(timeout or 0.0)
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(
            timeout=timeout, request_hooks={"response": [self._remember_answer]}))
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")
        self.from_ = from_
        self.messaging_service_sid = messaging_service_sid

    @classmethod
    def from_config(cls, cfg) -> TwilioSender:
        return cls(cfg.get("TWILIO_ACCOUNT_SID", ""), cfg.get("TWILIO_AUTH_TOKEN", ""),
                   from_=cfg.get("TWILIO_FROM", ""), messaging_service_sid=cfg.get("TWILIO_MESSAGING_SERVICE_SID", ""),
                   base_url=cfg.get("TWILIO_BASE_URL", ""), timeout=cfg.get("TWILIO_TIMEOUT_SECONDS") or 15.0)

    def send(self, to, body, status_callback):
        kwargs = {"to": e164(to), "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_
        try:
            msg = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            result = classify_rest_error(exc)
            if result.http_status == 429:
                result.retry_after = retry_after_seconds(getattr(self._answer, "retry_after", None))
            return result
        except TwilioException as exc:
            # e.g. TwilioServiceException: no usable answer, the message may or may not exist
            return SendResult("unknown", error=f"{exc.__class__.__name__}: {str(exc)[:200]}")
        except requests.RequestException as exc:
            # timeouts and resets: the request may have reached Twilio
            return SendResult("unknown", error=f"{exc.__class__.__name__}")
        return SendResult("sent", sid=msg.sid, http_status=201, status=msg.status)

    def _remember_answer(self, response, *args, **kwargs):
        self._answer.retry_after = response.headers.get("Retry-After")
        return response

    def find_sent(self, to, body, since, exclude_sids=frozenset()):
        """The sid of a message with exactly ``body`` sent to ``to`` since ``since`` (minus a margin
        for clock skew), that no other notice already owns; None if there is none. Raises on
        provider trouble (the caller keeps the notice uncertain and tries later)."""
        after = (since - timedelta(minutes=5)).replace(tzinfo=UTC)
        for m in self.client.messages.stream(to=e164(to), date_sent_after=after, page_size=100):
            if m.body == body and m.sid not in exclude_sids and (m.status or "") in _LISTED_OK:
                return m.sid
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (its delta-seconds form; an HTTP date or garbage counts as absent)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(0.0, min(seconds, 3600.0)) if seconds is not None else None


def classify_rest_error(exc: TwilioRestException) -> SendResult:
    status, code = exc.status, exc.code
    msg = (exc.msg or str(exc))[:300]
    code_s = str(code) if code is not None else None
    if status == 429 or code == 20429:
        return SendResult("retry", http_status=status, code=code_s, error=msg)
    if status is not None and status >= 500:
        return SendResult("unknown", http_status=status, code=code_s, error=msg)
    if code in PERMANENT_CODES:
        return SendResult("failed", http_status=status, code=code_s, error=msg)
    if status in (401, 403, 404):
        # our configuration (credentials, account), not the recipient: keep the notice and retry later
        return SendResult("retry", http_status=status, code=code_s, error=msg)
    if status is not None and 400 <= status < 500:
        return SendResult("failed", http_status=status, code=code_s, error=msg)
    return SendResult("unknown", http_status=status, code=code_s, error=msg)


# The SMS providers by their ONECARD_SMS_PROVIDER name: a new provider is one SmsSender subclass and one entry.
SENDERS: dict[str, type[SmsSender]] = {
    ConsoleSender.name: ConsoleSender,
    TwilioSender.name: TwilioSender,
}


def sender_from_config(cfg) -> SmsSender:
    """The SMS sender ONECARD_SMS_PROVIDER names (console by default), built from the configuration."""
    provider = (cfg.get("SMS_PROVIDER") or "console").lower()
    sender = SENDERS.get(provider)
    if sender is None:
        raise RuntimeError(f"未知的短信通道 ONECARD_SMS_PROVIDER={provider!r}（可选 {' 或 '.join(SENDERS)}）")
    return sender.from_config(cfg)


def utc_aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
