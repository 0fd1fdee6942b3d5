"""pytest fixtures for the fake upstreams; enable with ``pytest_plugins = ["tests.fakes.fixtures"]``.

* ``fake_twilio`` -- a started :class:`~tests.fakes.twilio.FakeTwilio` (function scope).
  ``fake_twilio.client()`` is a real ``twilio.rest.Client`` pointed at it.
* ``fake_wechat`` -- a started :class:`~tests.fakes.wechat.FakeWeChat` (function scope).
  ``fake_wechat.client()`` is a real ``wechatpy.WeChatClient`` routed to it.

Both make loopback traffic bypass any HTTP(S)_PROXY from the environment (NO_PROXY), remove
TWILIO_EDGE / TWILIO_REGION (which would make twilio rewrite the host name), stop the server at
teardown and fail the test if the fake itself raised (``fake.errors``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .twilio import FakeTwilio
from .wechat import FakeWeChat

__all__ = ["fake_twilio", "fake_wechat"]


def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(var, "")
        extra = "127.0.0.1,localhost"
        monkeypatch.setenv(var, f"{current},{extra}" if current else extra)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


def _assert_clean(fake) -> None:
    errors = fake.errors
    assert not errors, "the fake server itself raised:\n" + "\n".join(errors)


@pytest.fixture
def fake_twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    _isolate_env(monkeypatch)
    fake = FakeTwilio()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    _assert_clean(fake)


@pytest.fixture
def fake_wechat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeChat]:
    _isolate_env(monkeypatch)
    fake = FakeWeChat()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    _assert_clean(fake)
