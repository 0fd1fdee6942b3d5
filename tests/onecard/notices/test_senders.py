"""SMS senders are a registry chosen by ONECARD_SMS_PROVIDER."""
from __future__ import annotations

import pytest

from onecard.notices import senders
from onecard.notices.senders import (
    SENDERS,
    ConsoleSender,
    SendResult,
    SmsSender,
    TwilioSender,
    sender_from_config,
)


def test_the_configured_provider_is_taken_from_the_registry(monkeypatch):
    assert isinstance(sender_from_config({}), ConsoleSender)
    twilio = sender_from_config({"SMS_PROVIDER": "Twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t",
                                 "TWILIO_FROM": "+15005550006"})
    assert isinstance(twilio, TwilioSender) and twilio.from_ == "+15005550006"
    with pytest.raises(RuntimeError, match="可选 console 或 twilio"):
        sender_from_config({"SMS_PROVIDER": "aliyun"})

    class Recorder(SmsSender):
        name = "recorder"

        def send(self, to, body, status_callback):
            return SendResult("sent", sid="R1")

    monkeypatch.setitem(SENDERS, Recorder.name, Recorder)        # a new provider: one class, one entry
    assert isinstance(senders.sender_from_config({"SMS_PROVIDER": "recorder"}), Recorder)
