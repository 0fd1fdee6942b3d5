"""Who is asking and which request this is: the request id and the bearer token."""
from __future__ import annotations

import uuid

from flask import Flask, g, request


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-Id, or a new one: logged with errors and echoed in every response."""
    return incoming or uuid.uuid4().hex[:16]


def install_request_id(app: Flask) -> None:
    """Give every request an id (``g.request_id``) and echo it, with nosniff, on every response."""
    @app.before_request
    def _request_id():
        g.request_id = request_id(request.headers.get("X-Request-Id"))

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Request-Id", getattr(g, "request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


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
