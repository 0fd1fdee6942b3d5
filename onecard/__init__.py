"""onecard: the domain core of 泗水县's social security card “一卡通” subsidy platform.

``create_app()`` builds the Flask app: configuration, extensions, the staff
API, the citizen service, the notification webhooks, the shared web plumbing (onecard.web) and CLI.
"""
from __future__ import annotations

import importlib
import logging
import os
import sqlite3

import sqlalchemy as sa
from flask import Flask, jsonify
from sqlalchemy import event
from sqlalchemy.engine import Engine

from onecard import audit, passwords, privacy
from onecard import config as config_module
from onecard.extensions import db as _db  # not `db`: that name is the submodule onecard.db
from onecard.extensions import migrate

log = logging.getLogger("onecard")

# The doors into the core, composed here and nowhere else: the domain never imports a door. Each
# door module has init_app(app), which registers its routes, error pages and CLI commands.
DOORS = ("staff_api", "console", "citizen_app", "notifications")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # WAL lets readers run beside the single writer; foreign keys are off by default in SQLite.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True,
                template_folder=os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates"),
                static_folder=os.path.join(os.path.dirname(os.path.dirname(__file__)), "static"))
    from onecard import web
    values = config_module.load()
    values.update(config or {})
    config_module.check_production(values)
    os.makedirs(app.instance_path, exist_ok=True)
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "onecard.db")
    app.config.update(values)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=values["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(values["DATABASE_URL"]),
        MAX_CONTENT_LENGTH=values["UPLOAD_MAX_BYTES"] + 1024 * 1024,
        JSON_AS_ASCII=False,
        TESTING=values["ENV"] == "testing",
        RATELIMIT_STORAGE_URI=values["RATELIMIT_STORAGE_URI"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=values["ENV"] == "production",
    )
    app.json.ensure_ascii = False
    privacy.configure(values["FIELD_KEY"], values["BLIND_INDEX_KEY"])
    audit.configure(values["AUDIT_KEY"])
    passwords.configure(values["PASSWORD_HASH_PROFILE"], concurrency=values["PASSWORD_VERIFY_CONCURRENCY"],
                        wait_seconds=values["PASSWORD_VERIFY_WAIT_SECONDS"])

    from onecard import models  # noqa: F401  (the whole schema for migrations)
    from onecard.payments import owed  # noqa: F401  (subscribes to head/proxy registrations: releases owed lines)

    _db.init_app(app)
    migrate.init_app(app, _db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    _install_logging(app)
    web.install(app)                # converters and request id: before any route is registered

    for door in DOORS:
        importlib.import_module(door).init_app(app)

    _register_health(app)
    web.install_observability(app)    # /readyz, /metrics, request timing
    web.install_error_handlers(app)   # last: overrides flask-smorest's generic handlers

    from onecard.cli import register_commands
    register_commands(app)
    return app


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def _install_logging(app: Flask) -> None:
    masking = privacy.MaskingFilter()
    for handler in [*logging.getLogger().handlers, *app.logger.handlers]:
        handler.addFilter(masking)
    app.logger.addFilter(masking)
    log.addFilter(masking)



def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        try:
            _db.session.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:   # any database failure means unhealthy; a bug still raises
            _db.session.rollback()
            log.warning("health check: database unreachable: %s", exc.__class__.__name__)
            return jsonify(status="degraded", db="unreachable", reason="数据库无法连接"), 503
        return jsonify(status="ok", db="ok")
