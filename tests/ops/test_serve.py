"""`onecard serve`: gunicorn with the package's config, JSON access log without query strings, /readyz,
/metrics readable from loopback only, graceful reload, and refusal of development secrets."""
from __future__ import annotations

import os
import signal
import time

from tests.ops.conftest import onecard, serving, wait_until

AN_ID = "370831199001011234"


def test_serve_answers_and_logs_each_request_with_its_id_and_without_the_query(ops_db, production_env, tmp_path):
    env = production_env(ops_db)
    onecard(["init-db"], env)
    with serving(env, tmp_path) as server:
        r = server.get(f"/healthz?id_number={AN_ID}&mobile=13912345678", headers={"X-Request-Id": "rid-serve-1"})
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert r.headers["X-Request-Id"] == "rid-serve-1"
        wait_until(lambda: any(line["request_id"] == "rid-serve-1" for line in server.access_lines()),
                   timeout=10, what="the access line")
    line = next(line for line in server.access_lines() if line["request_id"] == "rid-serve-1")
    assert line["path"] == "/healthz" and line["endpoint"] == "healthz" and line["status"] == 200
    assert line["method"] == "GET" and line["duration_ms"] >= 0
    everything = server.output()
    assert AN_ID not in everything and "13912345678" not in everything
    assert "id_number" not in everything and "?" not in line["path"]


def test_readyz_checks_database_and_schema_version(ops_db, production_env, tmp_path):
    env = production_env(ops_db)
    onecard(["init-db"], env)
    with serving(env, tmp_path) as server:
        r = server.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "db": "ok", "migrations": "ok"}


def test_readyz_refuses_traffic_when_redis_for_rate_limits_is_down(ops_db, production_env, tmp_path):
    env = production_env(ops_db, ONECARD_RATELIMIT_STORAGE_URI="redis://127.0.0.1:1")
    onecard(["init-db"], env)
    with serving(env, tmp_path) as server:
        r = server.get("/readyz")
        assert r.status_code == 503
        assert r.json()["redis"] == "unreachable" and "Redis" in r.json()["reason"]


def test_metrics_are_summed_over_workers_and_closed_to_the_proxy(ops_db, production_env, tmp_path):
    env = production_env(ops_db)
    onecard(["init-db"], env)
    with serving(env, tmp_path, workers=2) as server:
        for _ in range(12):
            assert server.get("/healthz").status_code == 200
        text = server.get("/metrics").text
        count = next(line for line in text.splitlines()
                     if line.startswith('onecard_request_seconds_count{endpoint="healthz",method="GET"}'))
        # 12 here plus the readiness polls of `serving`: whichever worker answered, all are counted.
        assert float(count.rsplit(" ", 1)[1]) >= 12
        for series in ("onecard_outbox_oldest_pending_age_seconds", 'onecard_outbox_notices{state="pending"}',
                       "onecard_list_upload_rows_total"):
            assert series in text
        # Through the reverse proxy (it adds X-Forwarded-For) the page does not exist.
        assert server.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404


def test_metrics_token_opens_metrics_to_a_scraper_elsewhere(ops_db, production_env, tmp_path):
    env = production_env(ops_db, ONECARD_METRICS_ALLOW="", ONECARD_METRICS_TOKEN="scrape-token-42")
    onecard(["init-db"], env)
    with serving(env, tmp_path, workers=1) as server:
        assert server.get("/metrics").status_code == 404
        assert server.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        assert server.get("/metrics", headers={"Authorization": "Bearer scrape-token-42"}).status_code == 200


def test_hup_reloads_gracefully_with_new_workers(ops_db, production_env, tmp_path):
    env = production_env(ops_db)
    onecard(["init-db"], env)
    with serving(env, tmp_path, workers=1) as server:
        before = server.output().count("Booting worker")
        os.kill(server.proc.pid, signal.SIGHUP)
        wait_until(lambda: server.output().count("Booting worker") > before, timeout=30, what="a new worker")
        time.sleep(0.5)
        assert server.get("/healthz").status_code == 200
        assert server.proc.poll() is None


def test_serve_refuses_development_secrets_with_a_clear_message(ops_db, production_env):
    env = production_env(ops_db)
    for name in ("ONECARD_SECRET_KEY", "ONECARD_FIELD_KEY", "ONECARD_BLIND_INDEX_KEY"):
        del env[name]
    env["ONECARD_ENV"] = "development"     # `serve` is production whatever ONECARD_ENV says
    result = onecard(["serve", "--bind", "127.0.0.1:1"], env, timeout=60, check=False)
    assert result.returncode == 2
    assert "生产环境拒绝启动" in result.stderr and "ONECARD_FIELD_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_the_development_login(ops_db, production_env):
    env = production_env(ops_db, ONECARD_DEV_LOGIN="1")
    result = onecard(["serve", "--bind", "127.0.0.1:1"], env, timeout=60, check=False)
    assert result.returncode == 2 and "ONECARD_DEV_LOGIN" in result.stderr
