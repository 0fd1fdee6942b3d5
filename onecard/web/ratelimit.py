"""Rate limits on the few citizen endpoints that need them (sign-in, verification codes, complaints).

A decorator on the view, on the `limits` library (the engine Flask-Limiter itself runs on), with its storage
from ``RATELIMIT_STORAGE_URI``: ``memory://`` limits per process, ``redis://…`` shares the counts between
processes. Only a decorated view pays for a limit. Flask-Limiter, used until the fourth session, ran three
hooks on every request of the app even where no limit applied — about 60 µs, a sixth of "my subsidies" (see
bench/bench_citizen.py) — and version 4 has no public way to leave them out.

A breach answers 429 through the app's error handlers (JSON for the API, a page for /m/), with Retry-After.
The limits are fixed windows, as Flask-Limiter's default strategy was.
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, request
from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from onecard.web.requests import client_ip


class RateLimiter:
    def __init__(self) -> None:
        self._storage = None
        self._strategy: FixedWindowRateLimiter | None = None

    def init_app(self, app: Flask) -> None:
        self._storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
        self._strategy = FixedWindowRateLimiter(self._storage)

    def storage_ok(self) -> bool:
        """Whether the storage answers (always for memory://; a PING for Redis): /readyz asks."""
        return self._storage is not None and self._storage.check()

    def reset(self) -> None:
        """Forget every count (tests; an operator after a false alarm)."""
        if self._storage is not None:
            self._storage.reset()

    def limit(self, spec: str, *, key_func: Callable[[], str | None] | None = None,
              methods: list[str] | None = None):
        """Limit a view to ``spec`` (e.g. "5/minute;60/hour") per caller: the client address, or ``key_func``'s
        key. With ``methods``, only those methods count (a page's GET is free, its POST is limited)."""
        items = parse_many(spec)
        key_of = key_func or client_ip

        def decorate(view):
            scope = f"{view.__module__}.{view.__qualname__}"

            @functools.wraps(view)
            def limited(*args, **kwargs):
                if methods is None or request.method in methods:
                    self._hit(items, scope, key_of() or "")
                return view(*args, **kwargs)
            return limited
        return decorate

    def limit_setting(self, setting: str, *, scope: str, methods: list[str] | None = None):
        """Like ``limit``, with the spec read from the configuration ``setting`` on each call, and one ``scope``
        shared by every view so decorated (the staff API's and the console's sign-in count together)."""
        def decorate(view):
            @functools.wraps(view)
            def limited(*args, **kwargs):
                if methods is None or request.method in methods:
                    self._hit(_parsed(current_app.config[setting]), scope, client_ip() or "")
                return view(*args, **kwargs)
            return limited
        return decorate

    def _hit(self, items, scope: str, key: str) -> None:
        for item in items:
            if not self._strategy.hit(item, scope, key):
                reset_at, _ = self._strategy.get_window_stats(item, scope, key)
                raise TooManyRequests(description=str(item),
                                      retry_after=max(1, math.ceil(reset_at - time.time())))


@functools.lru_cache(maxsize=16)
def _parsed(spec: str):
    return parse_many(spec)


limiter = RateLimiter()
