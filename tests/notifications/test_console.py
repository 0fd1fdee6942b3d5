"""The drainer with the console provider: what a developer sees when `onecard scheduler` runs locally."""
from __future__ import annotations

import sqlalchemy as sa

from notifications.jobs import drain_once
from onecard.notices import service
from onecard.notices.models import Notice
from onecard.notices.senders import ConsoleSender


def _notices(db, channel="sms"):
    return db.session.execute(sa.select(Notice).where(Notice.channel == channel).order_by(Notice.id)).scalars().all()


def test_console_provider_prints_one_sms_per_arrival(db, arrive, capsys):
    for _ in range(3):
        arrive()
    service.enqueue_arrivals()
    stats = drain_once(sender=ConsoleSender())
    assert (stats.claimed, stats.sent) == (3, 3)
    assert capsys.readouterr().out.count("【泗水县人社局】") == 3
    assert {n.state for n in _notices(db)} == {"sent"}
    assert drain_once(sender=ConsoleSender()).claimed == 0
