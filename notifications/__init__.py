"""Arrival notices: the outbox, the SMS and WeChat senders, the scheduler's jobs and the status webhook."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the Twilio status webhook. The scheduler runs as its own process (`onecard scheduler`)."""
    from notifications import cli, webhook
    app.register_blueprint(webhook.bp)
    for command in cli.COMMANDS:      # scheduler, notices-drain
        app.cli.add_command(command)

