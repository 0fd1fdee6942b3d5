"""The production topology, run for real: nginx with the deployment's site config (when nginx is installed)
in front of two `onecard serve` over PostgreSQL with the rate limits in Redis, two `onecard scheduler` sending
through the fake Twilio. A month's payment walks through the HTTP API (list
upload, matching, batch, three approvals, bank file, result file), one web process and one scheduler are
SIGKILLed in the middle, and afterwards: every payment is in the ledger once, every arrival SMS was sent
once, the audit chain is intact, and the rate limits were shared by the two web processes."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
import requests
import sqlalchemy as sa
import urllib3

from onecard import create_app, privacy
from tests import conftest as shared
from tests.fakes.twilio import FakeTwilio
from tests.fixtures_lists import xlsx_bytes
from tests.fixtures_payments import parse_bank_file
from tests.onecard.payments.test_flow import result_file
from tests.ops.conftest import (
    PG_URL,
    ROOT,
    _worker,
    nginx_in_front,
    onecard,
    pg_schema_url,
    serving,
    wait_until,
)

pytestmark = pytest.mark.slow

TOPOLOGY_PG = PG_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/11"
PASSWORD = "Demo2026pass"
PERIOD = "2026-11"
HTTP = requests.Session()
HTTP.verify = False          # nginx's certificate here is self-signed
HTTP.trust_env = False       # (else REQUESTS_CA_BUNDLE would override verify; and no proxy for loopback)


def _reachable() -> str | None:
    try:
        engine = sa.create_engine(TOPOLOGY_PG)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL unreachable: {exc.__class__.__name__}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable: {exc.__class__.__name__}"
    return None


@pytest.fixture
def topology_db():
    reason = _reachable()
    if reason:
        pytest.skip(reason)
    schema = f"onecard_topology_{_worker()}"
    engine = sa.create_engine(TOPOLOGY_PG)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        yield pg_schema_url(TOPOLOGY_PG, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
        redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def twilio(monkeypatch):
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    fake = FakeTwilio()
    fake.start()
    yield fake
    fake.stop()


@contextlib.contextmanager
def scheduler(env: dict, tmp_path, name: str):
    out = open(tmp_path / f"{name}.log", "w")   # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "onecard.cli_entry", "scheduler", "--interval", "1"], env=env,
                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()


def _list_rows(database_url: str, keys: tuple[str, str]) -> tuple[int, int, list[list]]:
    """The pension project and a list of its residents with an active card at its bank (plaintext for the
    upload file, decrypted with the platform's keys in this test process)."""
    saved = privacy._state.get("settings")
    app = create_app(shared.testing_config(database_url, FIELD_KEY=keys[0], BLIND_INDEX_KEY=keys[1]))
    try:
        with app.app_context():
            from onecard.cards.models import Card
            from onecard.extensions import db
            from onecard.people.models import Resident
            from onecard.projects.models import Project
            from onecard.reference.models import Bank, Town, Village
            project = db.session.execute(sa.select(Project).where(Project.name == "城乡居民基础养老金")).scalar_one()
            bank = db.session.get(Bank, project.bank_id)
            people = db.session.execute(
                sa.select(Resident, Card, Town.name, Village.name)
                .join(Card, Card.resident_id == Resident.id).join(Town, Town.id == Resident.town_id)
                .outerjoin(Village, Village.id == Resident.village_id)
                .where(Card.status == "active", Card.bank_id == bank.id, Resident.deceased_on.is_(None),
                       Resident.mobile.is_not(None))
                .order_by(Resident.id).limit(12)).all()
            rows = [[r.name, r.id_number, "汉族", r.mobile, town, village or "", bank.name, card.account,
                     f"{project.standard_fen / 100:.2f}", ""] for r, card, town, village in people]
            result = project.id, len(rows), rows
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        if saved is not None:
            privacy.configure(*saved)


def _login(base: str, username: str) -> dict:
    r = HTTP.post(f"{base}/api/staff/v1/auth/login", json={"username": username, "password": PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _post(base: str, path: str, auth: dict, **body) -> requests.Response:
    """An unsafe call as a client behind the proxy makes it: nginx does not retry a POST on another upstream,
    so a request caught on the connection of a web process that has just died answers 502; the client sends it
    again with the same idempotency key, which makes the retry safe (the ledger checks below prove it)."""
    body.setdefault("idempotency_key", uuid.uuid4().hex)
    for _ in range(3):
        r = HTTP.post(f"{base}/api/staff/v1{path}", headers=auth, json=body, timeout=120)
        if r.status_code not in (502, 503, 504):
            return r
        time.sleep(1)
    return r


def _scalar(url: str, sql: str, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def test_two_web_and_two_scheduler_processes_pay_a_month_exactly_once(topology_db, production_env, twilio, tmp_path):
    env = production_env(
        topology_db, ONECARD_RATELIMIT_STORAGE_URI=REDIS_URL, ONECARD_SMS_PROVIDER="twilio",
        ONECARD_TWILIO_ACCOUNT_SID=twilio.account_sid, ONECARD_TWILIO_AUTH_TOKEN=twilio.auth_token,
        ONECARD_TWILIO_FROM="+15005550006", ONECARD_TWILIO_BASE_URL=twilio.base_url,
        ONECARD_SMS_RATE_PER_SECOND="0", ONECARD_NOTICE_RETRY_BASE_SECONDS="0.5", ONECARD_WORKERS="2",
        # A notice claimed by the killed scheduler is taken over when its lease ends: short here.
        ONECARD_NOTICE_LEASE_SECONDS="10",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    onecard(["demo", "--residents", "300"], env, timeout=600)
    project_id, count, rows = _list_rows(topology_db, (env["ONECARD_FIELD_KEY"], env["ONECARD_BLIND_INDEX_KEY"]))
    assert count >= 5

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(serving(env, tmp_path, name="web-a"))
        b = stack.enter_context(serving(env, tmp_path, name="web-b"))
        s1 = stack.enter_context(scheduler(env, tmp_path, "sched-1"))
        stack.enter_context(scheduler(env, tmp_path, "sched-2"))
        front = a.base
        if shutil.which("nginx") and shutil.which("openssl"):
            (tmp_path / "nginx").mkdir()
            front = stack.enter_context(nginx_in_front(tmp_path / "nginx", [a.port, b.port]))
            # The caller's request id reaches the app's access log through the proxy.
            assert HTTP.get(f"{front}/healthz", headers={"X-Request-Id": "rid-through-nginx"}).status_code == 200
            wait_until(lambda: any(line["request_id"] == "rid-through-nginx"
                                   for line in a.access_lines() + b.access_lines()), timeout=10, what="the line")
            assert HTTP.get(f"{front}/metrics").status_code == 404
        operator, reviewer = _login(front, "rs_jb"), _login(b.base, "rs_sh")
        finance, bank = _login(front, "finance"), _login(front, "bank_rcb")

        # Rate limits live in Redis: the two processes count together (30/minute on the WeChat sign-in).
        codes = [requests.post(f"{(a, b)[i % 2].base}/api/citizen/v1/auth/wechat-login", json={"code": "x"},
                               timeout=30).status_code for i in range(32)]
        assert 429 not in codes[:30] and codes[30:] == [429, 429], codes

        # 1. The list, through web A; matched through web B.
        r = HTTP.post(f"{front}/api/staff/v1/lists", headers=operator,
                          data={"project_id": str(project_id), "period": PERIOD},
                          files={"file": ("养老金名单.xlsx", io.BytesIO(xlsx_bytes(rows)))}, timeout=120)
        assert r.status_code == 201, r.text
        list_id = r.json()["id"]
        assert requests.post(f"{b.base}/api/staff/v1/lists/{list_id}/match", headers=operator,
                             timeout=120).status_code == 200
        # 2. The batch and its approvals, alternating between the processes.
        r = _post(a.base, "/batches", operator, project_id=project_id, period=PERIOD)
        assert r.status_code == 201, r.text
        batch = r.json()
        for (server, who, step) in ((b, operator, "submit"), (a, reviewer, "review")):
            assert _post(server.base, f"/batches/{batch['id']}/{step}", who).status_code == 200
        # Web B dies without warning; web A carries on alone.
        os.killpg(b.proc.pid, signal.SIGKILL)
        b.proc.wait()
        assert _post(front, f"/batches/{batch['id']}/approve", finance).status_code == 200
        # 3. The bank's file and its answer: everyone paid.
        r = _post(front, f"/batches/{batch['id']}/bank-file", bank)
        assert r.status_code == 200, r.text[:300]
        from onecard.payments import bankformats
        _, details, ok = parse_bank_file(r.content, "gb18030", "|")
        assert ok and len(details) == batch["line_count"]
        answer = result_file(bankformats.RCB, batch["number"], details, {})
        # One scheduler dies while the arrival notices of this batch are being sent.
        r = HTTP.post(f"{front}/api/staff/v1/batches/{batch['id']}/result-file",
                          headers={**bank, "Idempotency-Key": uuid.uuid4().hex},
                          files={"file": ("result.txt", io.BytesIO(answer))}, timeout=120)
        assert r.status_code == 200, r.text
        wait_until(lambda: len(twilio.messages) > 0, timeout=60, what="the first SMS")
        os.killpg(s1.pid, signal.SIGKILL)
        s1.wait()
        # 4. The surviving scheduler sends the rest (a notice claimed by the dead one waits out its lease): the
        # arrival SMS and the alert SMS to the demo's clerks and finance, who have registered mobiles.
        wait_until(lambda: _scalar(topology_db, "SELECT count(*) FROM notices WHERE state IN "
                                                "('pending','claimed','retry_wait','held')") == 0,
                   timeout=240, interval=1, what="every notice sent")

    paid = _scalar(topology_db, "SELECT count(*) FROM ledger_entries WHERE batch_id = :b AND outcome = 'paid'",
                   b=batch["id"])
    assert paid == batch["line_count"]
    assert _scalar(topology_db, "SELECT count(*) FROM (SELECT resident_id, project_id, period FROM ledger_entries "
                                "WHERE outcome = 'paid' GROUP BY 1, 2, 3 HAVING count(*) > 1) d") == 0
    assert _scalar(topology_db, "SELECT count(*) FROM (SELECT line_id FROM ledger_entries GROUP BY line_id "
                                "HAVING count(*) > 1) d") == 0
    sent = _scalar(topology_db, "SELECT count(*) FROM notices WHERE channel = 'sms' AND state IN "
                                "('sent','delivered','undelivered')")
    events = _scalar(topology_db, "SELECT count(*) FROM arrival_events")
    assert sent >= paid and events >= paid
    # Every accepted message is one notice's: none twice (fake Twilio's own record). Besides the arrival SMS, the
    # demo's clerks and finance (registered mobiles) were told by SMS that the bank's results arrived.
    told = _scalar(topology_db, "SELECT count(*) FROM notices WHERE channel = 'staff' AND state IN "
                                "('sent','delivered','undelivered')")
    assert told >= 3
    bodies = [(m.to, m.body) for m in twilio.messages]
    assert len(bodies) == len(set(bodies)) == sent + told
    verified = json.loads(onecard(["audit-verify"], env).stdout)
    assert verified["ok"], verified
