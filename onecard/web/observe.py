"""Observability over HTTP: /readyz, /metrics, and what the access log and latency metric need per request.

* ``/healthz`` (onecard/__init__.py) says the process answers and reaches its database: the load balancer's
  liveness check. ``/readyz`` says it should be sent traffic: the database answers, its schema is at the
  migrations' head (a worker of a new release must not serve an old schema, nor the reverse), and Redis
  answers when the rate limits are kept there. 503 with the failing part named otherwise.
* ``/metrics`` is Prometheus text (onecard.serving.metrics). Who may read it: callers from
  ``ONECARD_METRICS_ALLOW`` (addresses or networks; default loopback only) that did not come through the
  reverse proxy (a request carrying X-Forwarded-For is never local), or anyone presenting
  ``Authorization: Bearer <ONECARD_METRICS_TOKEN>`` when that setting is not empty. Everyone else gets 404,
  as for a page that does not exist. Prometheus scrapes each web process's own port, not the proxy.
* ``RequestMetrics`` wraps the WSGI app: it times every request into the latency histogram by Flask
  endpoint and leaves the endpoint and the signed-in user (staff:<id>, resident:<id>, citizen-session:<id>)
  in the environ for gunicorn's JSON access line. Never a number a person typed: ids are our row ids.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import NotFound

from onecard.extensions import db
from onecard.serving import metrics
from onecard.serving.logs import ENDPOINT_KEY, USER_KEY

log = logging.getLogger("onecard")

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "migrations")
_heads: dict[str, frozenset] = {}


def migration_heads() -> frozenset:
    """The revision(s) the code expects (read once from migrations/)."""
    if "heads" not in _heads:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        cfg = Config()
        cfg.set_main_option("script_location", MIGRATIONS_DIR)
        _heads["heads"] = frozenset(ScriptDirectory.from_config(cfg).get_heads())
    return _heads["heads"]


def readiness() -> tuple[bool, dict]:
    """Each part's state ("ok" or why not) and whether all are fine."""
    from alembic.runtime.migration import MigrationContext
    parts: dict[str, str] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            current = frozenset(MigrationContext.configure(conn).get_current_heads())
        parts["db"] = "ok"
        parts["migrations"] = "ok" if current == migration_heads() else "behind" if current else "missing"
    except sa.exc.SQLAlchemyError as exc:
        log.warning("readiness: database unreachable: %s", exc.__class__.__name__)
        parts["db"] = "unreachable"
    uri = current_app.config.get("RATELIMIT_STORAGE_URI") or ""
    if uri.startswith(("redis://", "rediss://", "redis+")):
        from onecard.web.ratelimit import limiter
        try:
            parts["redis"] = "ok" if limiter.storage_ok() else "unreachable"
        except (RedisError, OSError) as exc:     # limits' check() answers False itself; these are what escape it
            log.warning("readiness: redis unreachable: %s", exc.__class__.__name__)
            parts["redis"] = "unreachable"
    return all(v == "ok" for v in parts.values()), parts


REASONS = {"db": "数据库无法连接", "migrations": "数据库结构不是当前版本（请运行 onecard init-db）",
           "redis": "Redis（限流存储）无法连接"}


def _metrics_allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        given = request.headers.get("Authorization", "")
        if given.lower().startswith("bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return True
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    for allowed in (current_app.config.get("METRICS_ALLOW") or "").split(","):
        allowed = allowed.strip()
        if allowed and address in ipaddress.ip_network(allowed, strict=False):
            return True
    return False


class RequestMetrics:
    """Times each request into ``onecard_request_seconds`` and names its user and endpoint for the log."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        start = time.perf_counter()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            endpoint = environ.get(ENDPOINT_KEY) or "unmatched"
            metrics.REQUEST_SECONDS.labels(endpoint, environ.get("REQUEST_METHOD", "")).observe(
                time.perf_counter() - start)
            environ[USER_KEY] = _user(environ)


def _user(environ) -> str | None:
    actor = environ.get("onecard.staff_actor") or environ.get("onecard.console.actor")
    if actor is not None and getattr(actor, "id", None) is not None:
        return f"staff:{actor.id}"
    citizen = environ.get("onecard.citizen")
    if citizen is not None:
        if citizen.resident_id is not None:
            return f"resident:{citizen.resident_id}"
        return f"citizen-session:{citizen.session_id}"
    return None


def install(app: Flask) -> None:
    """/readyz, /metrics and the per-request timing (after the doors: it wraps the whole app)."""

    @app.before_request
    def _name_endpoint():
        request.environ[ENDPOINT_KEY] = request.endpoint

    @app.get("/readyz")
    def readyz():
        ok, parts = readiness()
        if ok:
            return jsonify(status="ok", **parts)
        reasons = "；".join(REASONS[k] for k, v in parts.items() if v != "ok")
        return jsonify(status="not_ready", reason=reasons, **parts), 503

    @app.get("/metrics")
    def prometheus_metrics():
        if not _metrics_allowed():
            raise NotFound()
        return Response(metrics.exposition(), mimetype="text/plain; version=0.0.4; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    app.wsgi_app = RequestMetrics(app.wsgi_app)
