"""My subsidies, the mini-program's hot read, answered in front of Flask's request machinery.

GET /api/citizen/v1/subsidies runs every time a resident opens the mini-program. Under load,
Flask's per-request work (request context, session, Flask-Limiter's hook, routing, response
object) cost more than the one indexed query. This WSGI wrapper answers only the request it
can answer exactly as the Flask view would: a plain query string (in-range digits), a bearer
token, and a page the one query (token check joined to the ledger read) finds rows for. It
sends the same body, Content-Type and headers (X-Request-Id by the app's rule, nosniff).
Everything else (refused or missing tokens, unbound phones, empty pages, odd or invalid
arguments, HEAD, errors) goes to the Flask view unchanged, which answers and logs as before.

It is installed only while no rate limit applies to the endpoint (none does: it is a read of
one's own data); give it a limit and the Flask view, with Flask-Limiter, serves every request.
"""
from __future__ import annotations

import logging
import re

from flask import Flask
from flask_limiter.util import get_qualified_name

from citizen_app import api
from onecard import request_id
from onecard.citizens import service
from onecard.extensions import db, limiter

log = logging.getLogger("onecard")
PATH = api.bp.url_prefix + "/subsidies"
_PLAIN_QUERY = re.compile(r"[a-z_]+=[0-9]{1,9}(?:&[a-z_]+=[0-9]{1,9})*")


def _plain_query(query_string: str) -> dict | None:
    """name=digits pairs joined by & (decoded the same by every parser); None for anything else."""
    if not query_string:
        return {}
    if not _PLAIN_QUERY.fullmatch(query_string):
        return None
    pairs = [pair.split("=") for pair in query_string.split("&")]
    query = dict(pairs)
    return query if len(query) == len(pairs) else None    # a repeated name: werkzeug's first-value rule


def _limits_apply(app: Flask) -> bool:
    manager = limiter.limit_manager
    with app.test_request_context(PATH):
        return bool(manager.default_limits or manager.application_limits
                    or manager.decorated_limits(get_qualified_name(api.subsidies))
                    or manager.blueprint_limits(app, api.bp.name) or getattr(limiter, "_meta_limits", None))


class SubsidiesHotRead:
    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        with app.app_context():
            self.engine = db.engine

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            answer = self._answer(environ)
            if answer is not None:
                headers, body = answer
                start_response("200 OK", headers)
                return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ) -> tuple[list, bytes] | None:
        query = _plain_query(environ.get("QUERY_STRING", ""))
        args = api.plain_subsidy_args(query) if query is not None else None
        token = api.bearer_token(environ.get("HTTP_AUTHORIZATION"))
        json = self.app.json
        if args is None or token is None or json.compact is False or (json.compact is None and self.app.debug):
            return None
        try:
            page = service.subsidies_in_one_read(self.engine, token, **args)
        except Exception:  # noqa: BLE001 - the Flask view runs it again and answers (and logs) the error
            return None
        if page is None:
            return None
        body = f"{json.dumps(page, separators=(',', ':'))}\n".encode()     # as Flask's jsonify
        return [("Content-Type", json.mimetype), ("Content-Length", str(len(body))),
                ("X-Request-Id", request_id(environ.get("HTTP_X_REQUEST_ID"))),
                ("X-Content-Type-Options", "nosniff")], body


def install(app: Flask) -> None:
    if _limits_apply(app):
        log.info("my subsidies has a rate limit: served by the Flask view only")
        return
    app.wsgi_app = SubsidiesHotRead(app, app.wsgi_app)
