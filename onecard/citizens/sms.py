"""Sending a verification-code SMS through the configured provider.

Kept tiny on purpose: the notifications package owns the platform's SMS sender
interface; this function will be pointed at it. Codes are sent at once (never
held back by quiet hours: the resident is waiting for them).
"""
from __future__ import annotations

import logging
from collections import deque

from flask import current_app

from onecard.errors import Unavailable
from onecard.privacy import mask_mobile

log = logging.getLogger("onecard.citizens.sms")

# The last messages the console provider "sent", newest last: what a developer (and the tests) read
# instead of a phone. Never filled in production, where the provider is twilio.
console_outbox: deque[dict] = deque(maxlen=200)


def send_code_sms(mobile: str, text: str) -> None:
    """Send ``text`` to ``mobile``; Unavailable (503) when the provider refuses or cannot be reached."""
    cfg = current_app.config
    body = (cfg.get("SMS_SIGNATURE") or "") + text
    if cfg.get("SMS_PROVIDER") == "twilio":
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client
        client = Client(cfg["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"])
        if cfg.get("TWILIO_BASE_URL"):
            client.api.base_url = cfg["TWILIO_BASE_URL"].rstrip("/")
        to = mobile if mobile.startswith("+") else "+86" + mobile
        kwargs = {"to": to, "body": body}
        if cfg.get("TWILIO_MESSAGING_SERVICE_SID"):
            kwargs["messaging_service_sid"] = cfg["TWILIO_MESSAGING_SERVICE_SID"]
        else:
            kwargs["from_"] = cfg["TWILIO_FROM"]
        try:
            client.messages.create(**kwargs)
        except TwilioException as exc:
            log.warning("code sms refused: %s", exc.__class__.__name__)
            raise Unavailable("短信暂时发送失败，请稍后再试", code="sms_unavailable") from exc
        return
    console_outbox.append({"mobile": mobile, "text": body})
    # The console provider is for development: the code is printed so the developer can type it in.
    print(f"[短信 console] 发往 {mask_mobile(mobile)}：{body}", flush=True)
