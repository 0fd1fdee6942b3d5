"""Fixtures for the arrival-notice tests: a project, arrival events inserted directly, and the app
pointed at the fake Twilio / fake WeChat servers through configuration (nothing patched)."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import datetime

import pytest

from onecard.payments.models import ArrivalEvent
from onecard.projects.models import Project
from tests.factories import make_resident

_keys = itertools.count(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pension(db, county):
    """城乡居民基础养老金, coded, owned by the 人社局 (department code 05)."""
    p = Project(code="P0501", department_id=county["departments"]["县人力资源社会保障局"], category="社会保险待遇",
                name="城乡居民基础养老金", cycle="monthly", bank_id=county["banks"]["RCB"], status="coded",
                standard_fen=18300)
    db.session.add(p)
    db.session.commit()
    return p


@pytest.fixture
def arrive(db, county, pension):
    """arrive(resident=None, **fields) -> ArrivalEvent inserted directly (as the disbursement helper would)."""
    def make(resident=None, *, period="2026-11", amount_fen=18300, last4="1234", payment_key=None, project=None,
             **resident_kwargs):
        resident = resident or make_resident(county["towns"][0], county["villages"][0], **resident_kwargs)
        e = ArrivalEvent(payment_key=payment_key or f"line:{next(_keys)}", resident_id=resident.id,
                         project_id=(project or pension).id, period=period, amount_fen=amount_fen,
                         bank_id=county["banks"]["RCB"], account_last4=last4, paid_at=datetime(2026, 11, 5, 2, 0))
        db.session.add(e)
        db.session.commit()
        return e
    return make


def _configure(app, monkeypatch, **values):
    for key, value in values.items():
        monkeypatch.setitem(app.config, key, value)


@pytest.fixture
def twilio_app(app, db, fake_twilio, monkeypatch):
    """The app sending through the fake Twilio (rate limit off, zero retry base unless a test changes it)."""
    values = dict(SMS_PROVIDER="twilio", TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
                  TWILIO_AUTH_TOKEN=fake_twilio.auth_token, TWILIO_FROM="+15005550006",
                  TWILIO_MESSAGING_SERVICE_SID="", TWILIO_BASE_URL=fake_twilio.base_url, SMS_RATE_PER_SECOND=0.0,
                  PUBLIC_BASE_URL="http://localhost", QUIET_HOURS="", WECHAT_ARRIVAL_TEMPLATE_ID="")
    _configure(app, monkeypatch, **values)
    app.fake_twilio_env = {f"ONECARD_{k}": str(v) for k, v in values.items()}
    return app


@pytest.fixture
def wechat_app(twilio_app, fake_wechat, monkeypatch):
    fake_wechat.one_time_subscriptions = True
    _configure(twilio_app, monkeypatch, WECHAT_APPID=fake_wechat.appid, WECHAT_SECRET=fake_wechat.secret,
               WECHAT_API_BASE_URL=fake_wechat.base_url, WECHAT_ARRIVAL_TEMPLATE_ID="TPL_ARRIVAL")
    return twilio_app


@pytest.fixture
def drain_process(app, database_url):
    """drain_process(*args, env=...) -> Popen of `onecard notices-drain` against the test database."""
    procs = []

    def start(*args, env=None):
        full_env = {**os.environ, "ONECARD_DATABASE_URL": database_url, "ONECARD_ENV": "testing",
                    "ONECARD_PASSWORD_HASH_PROFILE": "test", "NO_PROXY": "127.0.0.1,localhost",
                    **(env or {})}
        full_env.pop("TWILIO_EDGE", None)
        full_env.pop("TWILIO_REGION", None)
        p = subprocess.Popen([sys.executable, "-c", "import sys; from onecard.cli import main; sys.exit(main())",
                              "notices-drain", *args], cwd=ROOT, env=full_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
