"""Protocol-faithful fake upstream servers (Twilio REST, WeChat mini-program API) for tests.

They listen on 127.0.0.1 and are driven by the *real* ``twilio`` / ``wechatpy`` clients; see
``tests/fakes/twilio.py`` and ``tests/fakes/wechat.py`` for the emulated behaviour, and
``tests/fakes/fixtures.py`` for the ``fake_twilio`` / ``fake_wechat`` pytest fixtures.
"""

from .http import FakeHTTPServer, RecordedRequest, Reply
from .twilio import FakeMessage, FakeTwilio
from .wechat import FakeWeChat, RewriteAdapter, route_to_fake

__all__ = [
    "FakeHTTPServer",
    "FakeMessage",
    "FakeTwilio",
    "FakeWeChat",
    "RecordedRequest",
    "Reply",
    "RewriteAdapter",
    "route_to_fake",
]
