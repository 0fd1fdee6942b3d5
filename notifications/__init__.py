"""The notice drainer process (a door): the outbox machinery that claims, sends and writes back notices
(``jobs``), the scheduler, the Twilio status webhook and the CLI. What a notice is, who receives it and
how each channel sends it live in ``onecard.notices``."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the Twilio status webhook. The scheduler runs as its own process (`onecard scheduler`)."""
    from notifications import cli, webhook
    app.register_blueprint(webhook.bp)
    for command in cli.COMMANDS:      # scheduler, notices-drain
        app.cli.add_command(command)

