"""/metrics and /readyz through the test client, the job heartbeat, and the JSON log lines."""
from __future__ import annotations

import json
import logging

import sqlalchemy as sa

from onecard.serving.logs import JsonFormatter, line
from onecard.serving.models import JobHeartbeat


def _metric(text: str, prefix: str) -> float:
    found = [ln for ln in text.splitlines() if ln.startswith(prefix + " ") or ln.startswith(prefix + "{")]
    assert found, f"{prefix} missing"
    return float(found[0].rsplit(" ", 1)[1])


def test_metrics_report_outbox_depth_and_oldest_pending_notice(app, client, arrive):
    from notifications import jobs  # noqa: F401  (the drainer's enqueue is what fills the outbox)
    from onecard.notices import service
    arrive(mobile="13912345678")
    arrive(mobile="13912345679")
    service.enqueue_arrivals()
    text = client.get("/metrics").get_data(as_text=True)
    assert _metric(text, 'onecard_outbox_notices{state="pending"}') >= 2
    assert _metric(text, "onecard_outbox_oldest_pending_age_seconds") >= 0
    assert "13912345678" not in text


def test_metrics_report_batches_by_status_and_latency_by_endpoint_name(client, pay, pension_list):
    from tests.onecard.payments.test_flow import post, run_to_approved
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    assert r.status_code in (200, 201), r.json
    run_to_approved(client, pay, r.json["id"])
    text = client.get("/metrics").get_data(as_text=True)
    assert _metric(text, 'onecard_batches{status="approved"}') == 1
    # Latency is labelled by the Flask endpoint, never by the path with its ids.
    assert f"/batches/{r.json['id']}" not in text
    assert any('onecard_request_seconds_count{endpoint="' in ln and "batch" in ln.lower() for ln in text.splitlines())


def test_metrics_are_hidden_from_callers_behind_the_proxy(client, db):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.0.0.9"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404


def test_readyz_says_missing_schema_version_on_a_database_built_without_migrations(client, db):
    r = client.get("/readyz")       # the test database is built by create_all: no alembic_version row
    assert r.status_code == 503
    assert r.json["db"] == "ok" and r.json["migrations"] == "missing" and "init-db" in r.json["reason"]


def test_each_scheduler_run_leaves_a_heartbeat_and_a_json_line(app, db, caplog):
    from notifications import scheduler
    caplog.set_level(logging.INFO, logger="onecard.jobs")
    scheduler._job(app, None)()
    beat = db.session.get(JobHeartbeat, "notices")
    assert beat.outcome == "done" and beat.last_success_at is not None
    record = next(r for r in caplog.records if r.name == "onecard.jobs")
    out = json.loads(JsonFormatter().format(record))
    assert out["kind"] == "job" and out["job"] == "notices" and out["outcome"] == "done"
    assert out["duration_ms"] >= 0 and out["host"]


def test_a_failed_daily_job_is_recorded_as_failed_and_its_last_success_kept(app, db):
    from notifications import scheduler

    def broken():
        raise RuntimeError("boom")
    scheduler._in_app(app, lambda: None, "test.daily")()
    first_success = db.session.get(JobHeartbeat, "test.daily").last_success_at
    db.session.execute(sa.delete(sa.table("scheduled_runs")))
    db.session.commit()
    scheduler._in_app(app, broken, "test.daily")()
    db.session.expire_all()
    beat = db.session.get(JobHeartbeat, "test.daily")
    assert beat.outcome == "failed" and beat.last_success_at == first_success


def test_json_log_lines_never_carry_a_plain_id_account_or_mobile():
    text = line(message="resident 370831199001011234 account 6228480012345678901 mobile 13912345678")
    assert "370831199001011234" not in text and "6228480012345678901" not in text and "13912345678" not in text
    record = logging.LogRecord("onecard", logging.ERROR, __file__, 1, "lookup %s failed", ("13912345678",), None)
    assert "13912345678" not in JsonFormatter().format(record)
