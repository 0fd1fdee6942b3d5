"""Demo step: turn the demo's arrival events (if the payments step made any) into notices, so that
`onecard scheduler` with the console provider prints one SMS per successful payment."""
from __future__ import annotations

import sqlalchemy as sa


def run(ctx) -> None:
    from onecard.extensions import db
    from onecard.notices import service
    # Until the single initial migration is regenerated with the notice tables, a database built
    # by `onecard init-db` lacks them: leave the events for the scheduler rather than fail the demo.
    if not sa.inspect(db.engine).has_table("notices"):
        return
    service.enqueue_arrivals()
