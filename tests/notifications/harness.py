"""What the outbox race tests share: fill the outbox, start workers together, count what the fake received."""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from onecard.extensions import db
from onecard.notices import service


def fill(arrive, n: int) -> None:
    """``n`` arrivals, enqueued as notices."""
    for _ in range(n):
        arrive()
    service.enqueue_arrivals()


def sent_per_notice(fake_twilio) -> collections.Counter:
    """How many messages the fake Twilio made for each notice id (read from the status callback URL)."""
    return collections.Counter(int(parse_qs(urlsplit(m.status_callback).query)["notice"][0])
                               for m in fake_twilio.messages)


def run_together(app, *calls: Callable[[], object], join_seconds: float = 120) -> tuple[list, list]:
    """Each call in its own thread with its own app context (so its own connection), released together by a
    barrier; answers (results, errors) for the caller to assert on. A drainer is such a call."""
    barrier = threading.Barrier(len(calls))
    results, errors = [], []

    def worker(call):
        try:
            with app.app_context():
                barrier.wait()
                results.append(call())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - surfaced by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_seconds)
    return results, errors
