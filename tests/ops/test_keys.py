"""`onecard rotate-keys`: the field key and the blind-index key are rotated in chunks by a separate process,
which is SIGKILLed halfway; look-ups by ID, mobile and account work in the half-rotated database, the
rotation resumes and finishes, and the old keys are then no longer needed."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from onecard import config, create_app, privacy
from tests import conftest as shared
from tests.ops.conftest import ROOT, drill_env, new_key, onecard

NEW_FIELD, NEW_BLIND = new_key(), new_key()
BOTH = {"FIELD_KEY": f"{NEW_FIELD},{config.DEV_FIELD_KEY}",
        "BLIND_INDEX_KEY": f"{NEW_BLIND},{config.DEV_BLIND_INDEX_KEY}"}
NEW_ONLY = {"FIELD_KEY": NEW_FIELD, "BLIND_INDEX_KEY": NEW_BLIND}


@pytest.fixture
def keep_process_keys():
    """These tests build apps with other keys in this process: put the suite's keys back afterwards."""
    saved = privacy._state.get("settings")
    yield
    if saved is not None:
        privacy.configure(*saved)


def _app(database_url: str, keys: dict):
    return create_app(shared.testing_config(database_url, DEV_LOGIN=True, **keys))


def _facts(app) -> dict:
    """Every resident's ID number and mobile and every card's account, decrypted through the models."""
    from onecard.cards.models import Card
    from onecard.extensions import db
    from onecard.people.models import Resident
    with app.app_context():
        people = {r.id: (r.id_number, r.mobile) for r in db.session.execute(sa.select(Resident)).scalars()}
        accounts = {c.id: c.account for c in db.session.execute(sa.select(Card)).scalars() if c.account}
        db.session.remove()
        db.engine.dispose()
    return {"people": people, "accounts": accounts}


def _lookups_work(app, facts: dict, resident_ids: list[int]) -> None:
    """Sign-in by ID number (the citizen API), and look-ups by mobile and by account, each find their row."""
    from onecard.cards.models import Card
    from onecard.extensions import db
    from onecard.people.models import Resident
    client = app.test_client()
    for rid in resident_ids:
        id_number, mobile = facts["people"][rid]
        r = client.post("/api/citizen/v1/auth/dev-login", json={"id_number": id_number})
        assert r.status_code == 200, (rid, r.json)
        with app.app_context():
            if mobile:
                found = db.session.execute(sa.select(Resident.id).where(
                    Resident.mobile_bidx.in_(privacy.blind_indexes(mobile, "mobile")))).scalars().all()
                assert rid in found
            db.session.remove()
    with app.app_context():
        for card_id, account in list(facts["accounts"].items())[:: max(1, len(facts["accounts"]) // 20)]:
            found = db.session.execute(sa.select(Card.id).where(
                Card.account_bidx.in_(privacy.blind_indexes(account, "account")))).scalars().all()
            assert card_id in found
        db.session.remove()
        db.engine.dispose()


def _step(database_url: str, name: str):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT last_id, finished_at FROM key_rotation_steps WHERE step = :s"),
                                {"s": name}).first()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _id_bidx_by_resident(database_url: str) -> dict[int, str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT id, id_bidx FROM residents")).all())
    finally:
        engine.dispose()


def test_rotation_killed_halfway_keeps_lookups_working_and_resumes_to_the_end(ops_db, keep_process_keys):
    onecard(["demo", "--residents", "300"], drill_env(ops_db))
    before_bidx = _id_bidx_by_resident(ops_db)
    facts = _facts(_app(ops_db, BOTH))
    assert len(facts["people"]) == 300 and facts["accounts"]

    env = drill_env(ops_db, ONECARD_FIELD_KEY=BOTH["FIELD_KEY"], ONECARD_BLIND_INDEX_KEY=BOTH["BLIND_INDEX_KEY"])
    proc = subprocess.Popen([sys.executable, "-m", "onecard.cli_entry", "rotate-keys", "--chunk", "10",
                             "--pause", "0.05", "--quiet"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            step = _step(ops_db, "blind:residents.id_bidx")
            if step is not None and 50 <= step.last_id and step.finished_at is None:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        else:
            raise AssertionError("the rotation never reached the residents' blind index")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Halfway: some residents carry the new blind index, others still the old one.
    halfway = _id_bidx_by_resident(ops_db)
    moved = [rid for rid in halfway if halfway[rid] != before_bidx[rid]]
    stayed = [rid for rid in halfway if halfway[rid] == before_bidx[rid]]
    assert moved and stayed
    both_app = _app(ops_db, BOTH)
    _lookups_work(both_app, facts, moved[:5] + stayed[:5])
    assert _facts(both_app) == facts

    result = onecard(["rotate-keys", "--chunk", "50"], env)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["done"] is True
    assert summary["field_key"] == privacy.key_id(privacy._decode_key(NEW_FIELD))

    # The old keys are no longer needed: with only the new ones everything decrypts and is found.
    new_app = _app(ops_db, NEW_ONLY)
    assert _facts(new_app) == facts
    _lookups_work(new_app, facts, sorted(facts["people"])[::15])
    new_env = drill_env(ops_db, ONECARD_FIELD_KEY=NEW_FIELD, ONECARD_BLIND_INDEX_KEY=NEW_BLIND)
    assert json.loads(onecard(["audit-verify"], new_env).stdout)["ok"]
    assert json.loads(onecard(["oversight-rebuild-summary", "--check"], new_env).stdout) == {"consistent": True}
    engine = sa.create_engine(ops_db)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM blind_index_rekeys")).scalar() == 0
        prefix = f"v1:{summary['field_key']}:%"
        assert conn.execute(sa.text("SELECT count(*) FROM residents WHERE id_number NOT LIKE :p"),
                            {"p": prefix}).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM notices WHERE recipient IS NOT NULL "
                                    "AND recipient NOT LIKE :p"), {"p": prefix}).scalar() == 0
    engine.dispose()


def test_rotate_keys_without_a_new_key_says_what_to_do(ops_db):
    env = drill_env(ops_db)
    onecard(["init-db"], env)
    result = onecard(["rotate-keys"], env, check=False)
    assert result.returncode == 2 and "没有需要轮换的密钥" in result.stderr


def test_every_blind_index_column_is_rekeyed_by_the_rotation(app):
    """A blind index the rotation does not know would stop matching after the old key is dropped: every
    ``*_bidx`` column of the schema is either rebuilt from its plaintext or mapped old -> new."""
    from onecard.extensions import db
    from onecard.serving import keys
    columns = {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.columns
               if c.name.endswith("_bidx") and t.name != "blind_index_rekeys"}
    assert columns == set(keys.BLIND_SOURCES) | set(keys.BLIND_COPIES)
