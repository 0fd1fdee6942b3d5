"""Who is asking and which request this is: the request id and the bearer token."""
from __future__ import annotations

import uuid

from flask import Flask, request

ENVIRON_KEY = "onecard.request_id"


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-Id, or a new one: logged with errors and echoed in every response."""
    return incoming or uuid.uuid4().hex[:16]


def current_request_id() -> str | None:
    """The id of the request being handled (for logs and the 500 answer)."""
    return request.environ.get(ENVIRON_KEY) if request else None


class RequestIdMiddleware:
    """Gives every request an id and echoes it, with nosniff, on every response, pages and files included.

    A WSGI wrapper rather than a before/after_request pair: it is the same rule for every request, it needs
    nothing from Flask's request context, and the hook pair cost every request about 25 µs (measured on "my
    subsidies", bench/bench_citizen.py) where this costs a few. A header the app set itself is kept.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        rid = environ[ENVIRON_KEY] = request_id(environ.get("HTTP_X_REQUEST_ID"))

        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            if "x-request-id" not in present:
                headers.append(("X-Request-Id", rid))
            if "x-content-type-options" not in present:
                headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def install_request_id(app: Flask) -> None:
    """Give every request an id (``current_request_id()``) and echo it, with nosniff, on every response."""
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None (staff and citizen tokens alike)."""
    header = header or ""
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def client_ip() -> str | None:
    """Who is calling, as far as this process can tell: recorded on sign-ins, sessions and lockouts.

    Behind the county's reverse proxy, wrap the app in werkzeug's ProxyFix so this is the client's address
    rather than the proxy's; here the socket address is what we know.
    """
    return request.remote_addr


def request_token() -> str | None:
    """The bearer token of the current request, or None."""
    return bearer_token(request.headers.get("Authorization"))
