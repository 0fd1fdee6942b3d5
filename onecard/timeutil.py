"""Times are UTC in the database and Asia/Shanghai on screen."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Naive UTC, the form stored in every DateTime column (portable across SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def local_str(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else ""


def local_today() -> date:
    return datetime.now(SHANGHAI).date()


def local_day_start(day: date) -> datetime:
    """The first moment of a local calendar day, in the stored form (naive UTC)."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC).replace(tzinfo=None)
