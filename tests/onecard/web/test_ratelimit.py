"""Rate limits: only the decorated views pay for them, a breach is a 429 with Retry-After, and with Redis the
count is shared by every process that serves (the in-memory store counts per process)."""
from __future__ import annotations

import uuid

import pytest
from flask import Flask

from onecard.web.ratelimit import RateLimiter

REDIS = "redis://127.0.0.1:6379"


def _app(storage_uri: str, spec: str = "2/minute", *, methods=None) -> Flask:
    app = Flask(f"limited_{uuid.uuid4().hex[:6]}")
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri
    limiter = RateLimiter()
    limiter.init_app(app)

    @app.route("/act", methods=["GET", "POST"])
    @limiter.limit(spec, key_func=lambda: app.config["CALLER"], methods=methods)
    def act():
        return "ok"

    app.config["CALLER"] = uuid.uuid4().hex    # a fresh caller per test, so runs never share a count
    return app


def test_a_breach_is_a_429_with_retry_after_and_other_callers_go_on():
    app = _app("memory://")
    client = app.test_client()
    assert [client.post("/act").status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post("/act")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    app.config["CALLER"] = "someone else"
    assert client.post("/act").status_code == 200


def test_the_tightest_of_several_limits_holds():
    app = _app("memory://", "5/minute;2/hour")
    client = app.test_client()
    assert [client.post("/act").status_code for _ in range(3)] == [200, 200, 429]


def test_only_the_named_methods_count():
    app = _app("memory://", methods=["POST"])
    client = app.test_client()
    assert [client.get("/act").status_code for _ in range(5)] == [200] * 5
    assert [client.post("/act").status_code for _ in range(3)] == [200, 200, 429]


def _redis_up() -> bool:
    import redis
    try:
        return redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379 (the machine's service)")
def test_with_redis_two_processes_share_one_count():
    first = _app(REDIS)
    second = _app(REDIS)
    second.config["CALLER"] = first.config["CALLER"]      # the same caller reaching two web processes
    # The two apps stand for two processes: two limiters, two connections, one store.
    assert first.test_client().post("/act").status_code == 200
    assert second.test_client().post("/act").status_code == 200
    assert first.test_client().post("/act").status_code == 429
    assert second.test_client().post("/act").status_code == 429
