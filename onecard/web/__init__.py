"""The web plumbing the doors share (staff API, console, citizen app, notification webhooks).

Imported by the doors and by ``create_app``, never by the domain: services raise ``onecard.errors``
kinds and know nothing of requests; this package turns them into answers.

* ``http``      reading requests: bounded URL converters, the API blueprint and its argument parser,
                form integers, refusal of unreadable (NUL) text;
* ``requests``  the request id hooks, the caller's address and bearer-token parsing;
* ``errors``    the one JSON error shape for DomainError, HTTP errors, marshmallow messages and the 500;
* ``files``     file downloads (``send_xlsx``, ``send_download``);
* ``ratelimit`` the rate limits of the few endpoints that have one (``limiter.limit``);
* ``observe``   /readyz, /metrics and per-request timing for the access log and Prometheus.
"""
from __future__ import annotations

from flask import Flask

from onecard.web.errors import install_error_handlers
from onecard.web.files import XLSX, send_download, send_xlsx
from onecard.web.requests import bearer_token, client_ip, request_id, request_token

__all__ = ["XLSX", "bearer_token", "client_ip", "install", "install_error_handlers", "request_id", "request_token",
           "send_download", "send_xlsx"]


def install(app: Flask) -> None:
    """What must be in place before any door registers a route: the URL converters, the request id, the
    cookie session that costs nothing to a request without a cookie, and the rate limiter's storage."""
    from onecard.web.http import BoundedIntConverter, CleanStringConverter, CookieSessionInterface
    app.session_interface = CookieSessionInterface()
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_map.converters["string"] = CleanStringConverter
    app.url_map.converters["default"] = CleanStringConverter
    from onecard.web.requests import install_request_id
    install_request_id(app)
    from onecard.web.ratelimit import limiter
    limiter.init_app(app)


def install_observability(app: Flask) -> None:
    """/readyz, /metrics and the request timing: after the doors, since it wraps the whole app."""
    from onecard.web.observe import install as install_observe
    install_observe(app)
