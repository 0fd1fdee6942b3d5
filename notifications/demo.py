"""Demo step: turn the demo's arrival events (if the payments step made any) into notices, so that
`onecard scheduler` with the console provider prints one SMS per successful payment."""
from __future__ import annotations


def run(ctx) -> None:
    from notifications import service
    service.enqueue_arrivals()
