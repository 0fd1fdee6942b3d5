"""Sending a verification-code SMS through the configured provider.

The notices package owns the platform's SMS sender interface; codes go
through it at once (never held back by quiet hours or the arrival outbox: the
resident is waiting for them).
"""
from __future__ import annotations

import logging
from collections import deque

from flask import current_app

from onecard.errors import Unavailable
from onecard.notices.senders import ConsoleSender, sender_from_config

log = logging.getLogger("onecard.citizens.sms")

# The last messages the console provider "sent", newest last: what a developer (and the tests) read
# instead of a phone. Never filled in production, where the provider is twilio.
console_outbox: deque[dict] = deque(maxlen=200)


def send_code_sms(mobile: str, text: str) -> None:
    """Send ``text`` to ``mobile`` through the platform's one SMS sender (onecard.notices.senders).

    Unavailable (503) when the provider refuses or its outcome is unknown: a code the resident may
    not have received is simply requested again, so no reconciliation is needed here.
    """
    cfg = current_app.config
    body = (cfg.get("SMS_SIGNATURE") or "") + text
    sender = sender_from_config(cfg)
    if isinstance(sender, ConsoleSender):
        # Development: keep what was "sent" so the developer (and the tests) can read the code.
        console_outbox.append({"mobile": mobile, "text": body})
    result = sender.send(mobile, body, None)
    if result.outcome != "sent":
        log.warning("code sms not sent: outcome=%s code=%s", result.outcome, result.code)
        raise Unavailable("短信暂时发送失败，请稍后再试", code="sms_unavailable")

