"""onecard: the domain core of 泗水县's social security card “一卡通” subsidy platform.

``create_app()`` builds the Flask app: configuration, extensions, the staff
API, the citizen service, the notification webhooks, error handlers and CLI.
"""
from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import uuid

import sqlalchemy as sa
from flask import Flask, g, jsonify, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from onecard import config as config_module
from onecard import passwords, privacy
from onecard.errors import DomainError, http_message
from onecard.extensions import db as _db  # not `db`: that name is the submodule onecard.db
from onecard.extensions import limiter, migrate

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
    from onecard.http import BoundedIntConverter, CleanStringConverter, CookieSessionInterface
    app.session_interface = CookieSessionInterface()
    app.url_map.converters["int"] = BoundedIntConverter    # before any route is registered
    app.url_map.converters["string"] = CleanStringConverter
    app.url_map.converters["default"] = CleanStringConverter
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
        RATELIMIT_HEADERS_ENABLED=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=values["ENV"] == "production",
    )
    app.json.ensure_ascii = False
    privacy.configure(values["FIELD_KEY"], values["BLIND_INDEX_KEY"])
    passwords.configure(values["PASSWORD_HASH_PROFILE"])

    from onecard import models  # noqa: F401  (the whole schema for migrations)

    _db.init_app(app)
    migrate.init_app(app, _db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    limiter.init_app(app)
    _install_logging(app)

    for door in DOORS:
        importlib.import_module(door).init_app(app)

    _register_health(app)
    _register_error_handlers(app)   # last: overrides flask-smorest's generic handlers

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

    @app.before_request
    def _request_id():
        g.request_id = request_id(request.headers.get("X-Request-Id"))

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Request-Id", getattr(g, "request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-Id, or a new one: logged with errors and echoed in every response."""
    return incoming or uuid.uuid4().hex[:16]


def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        try:
            _db.session.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
            _db.session.rollback()
            log.warning("health check: database unreachable: %s", exc.__class__.__name__)
            return jsonify(status="degraded", db="unreachable", reason="数据库无法连接"), 503
        return jsonify(status="ok", db="ok")


def _first_field_error(messages) -> tuple[str | None, str]:
    """Walk webargs' nested messages to the first field and its message, for one clear answer."""
    path: list[str] = []
    node = messages
    while isinstance(node, dict) and node:
        key = next(iter(node))
        if key not in ("json", "form", "query", "files", "headers", "view_args"):
            path.append(str(key))
        node = node[key]
    text = node[0] if isinstance(node, list) and node else str(node)
    return (".".join(path) or None), text


_MARSHMALLOW_ZH = {
    "Missing data for required field.": "必填项缺失",
    "Not a valid integer.": "应为整数",
    "Not a valid string.": "应为文本",
    "Not a valid boolean.": "应为是/否",
    "Not a valid date.": "日期格式不正确（示例：2026-11-05）",
    "Unknown field.": "不认识的字段",
    "Field may not be null.": "不能为空",
    "Invalid input type.": "输入类型不正确",
    "Not a valid email address.": "邮箱格式不正确",
}


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        _db.session.rollback()   # a refusal never leaves half a record
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        _db.session.rollback()
        # Page areas (H5, console) answer in HTML even for URLs no route of theirs matched.
        for prefix, render in app.extensions.get("onecard.error_pages", {}).items():
            if request.path.startswith(prefix):
                return render(exc)
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            field, text = _first_field_error(messages)
            text = _MARSHMALLOW_ZH.get(text, text)
            body = {"code": "invalid", "message": f"{field}：{text}" if field else text, "field": field,
                    "details": messages}
            return jsonify(error=body), 422 if exc.code in (400, 422) else exc.code
        code, message = http_message(exc.code, exc.description)
        response = jsonify(error={"code": code, "message": message, "field": None})
        response.status_code = exc.code or 500
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        _db.session.rollback()
        rid = getattr(g, "request_id", None) or uuid.uuid4().hex[:16]
        app.logger.exception("unhandled error request_id=%s", rid)
        return jsonify(error={"code": "internal_error", "field": None, "request_id": rid,
                              "message": f"系统内部错误，请联系管理员（编号 {rid}）"}), 500
