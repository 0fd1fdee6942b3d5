"""Fixtures for the citizen service tests: a clean limiter and photo folder, sign-in helpers, ledger rows."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from onecard.extensions import db as _db
from onecard.payments.models import LedgerEntry
from onecard.projects.models import Project
from onecard.web.ratelimit import limiter

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def citizen_env(app, db, tmp_path, monkeypatch):
    """Each test starts with empty rate-limit counters, its own photo folder and an empty SMS outbox."""
    from onecard.citizens import sms
    limiter.reset()
    sms.console_outbox.clear()
    monkeypatch.setitem(app.config, "PHOTO_DIR", str(tmp_path / "photos"))
    yield
    limiter.reset()


def branch_id(bank_id: int) -> int:
    """The first collection branch (网点) of a bank (the county fixture gives each bank two)."""
    from onecard.reference.models import BankBranch
    return _db.session.execute(sa.select(BankBranch.id).where(BankBranch.bank_id == bank_id)
                               .order_by(BankBranch.id)).scalars().first()


def last_code(mobile: str | None = None) -> str:
    from onecard.citizens import sms
    for message in reversed(sms.console_outbox):
        if mobile is None or message["mobile"] == mobile:
            return re.search(r"验证码(\d{6})", message["text"]).group(1)
    raise AssertionError("no code SMS was sent")


@pytest.fixture
def citizen_login(client):
    """citizen_login(resident=None) -> auth headers of a dev-login session (bound to the resident if given)."""
    def login(resident=None) -> dict:
        body = {"resident_id": resident.id} if resident is not None else {}
        r = client.post("/api/citizen/v1/auth/dev-login", json=body)
        assert r.status_code == 200, r.json
        return {"Authorization": f"Bearer {r.json['token']}"}
    return login


_line = [0]


def make_project(department_id: int, name: str = "高龄津贴", *, code: str | None = None,
                 standard_fen: int | None = 10000) -> Project:
    _line[0] += 1
    p = Project(department_id=department_id, category="老龄福利", name=name, cycle="monthly",
                standard_fen=standard_fen, status="coded", code=code or f"P{_line[0]:08d}",
                eligibility="年满80周岁的本县户籍老年人")
    _db.session.add(p)
    _db.session.commit()
    return p


def add_ledger(resident, project, bank_id: int, *, period: str = "2026-01", amount_fen: int = 10000,
               outcome: str = "paid", occurred_at: datetime | None = None, failure_reason: str | None = None,
               failure_code: str | None = None) -> int:
    _line[0] += 1
    row = dict(line_id=_line[0] + 10_000_000, batch_id=1, project_id=project.id,
               department_id=project.department_id, period=period, resident_id=resident.id, route="own_card",
               bank_id=bank_id, account_last4="4321", town_id=resident.town_id, village_id=resident.village_id,
               amount_fen=amount_fen, outcome=outcome, failure_code=failure_code,
               failure_reason=failure_reason or ("账户已销户" if outcome == "failed" else None),
               occurred_at=occurred_at or datetime(2026, 1, 15, 2, 0), recorded_at=datetime(2026, 1, 15, 2, 0))
    result = _db.session.execute(sa.insert(LedgerEntry).values(**row))
    _db.session.commit()
    return result.inserted_primary_key[0]
