"""`onecard backup` / `onecard restore`, and the restore drill: a paid demo county is backed up, restored into
an empty database, and the restored copy passes the audit chain check and the statistics check and shows a
resident the same subsidies as the original."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

import sqlalchemy as sa

from onecard import create_app
from tests import conftest as shared
from tests.ops.conftest import drill_env, empty_database, onecard, restore_target


def _subsidies(database_url: str, resident_id: int) -> list[dict]:
    """The resident's 补贴到账 pages through the citizen API, for each year that has payments."""
    app = create_app(shared.testing_config(database_url, DEV_LOGIN=True))
    client = app.test_client()
    r = client.post("/api/citizen/v1/auth/dev-login", json={"resident_id": resident_id})
    assert r.status_code == 200, r.json
    auth = {"Authorization": f"Bearer {r.json['token']}"}
    pages = []
    for year in _years(database_url, resident_id):
        r = client.get(f"/api/citizen/v1/subsidies?year={year}&per_page=100", headers=auth)
        assert r.status_code == 200, r.json
        pages.append(r.json)
    with app.app_context():
        from onecard.extensions import db
        db.engine.dispose()
    return pages


def _scalar(database_url: str, sql: str, **params):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _years(database_url: str, resident_id: int) -> list[int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            stamps = conn.execute(sa.text("SELECT occurred_at FROM ledger_entries WHERE resident_id = :r"),
                                  {"r": resident_id}).scalars().all()
    finally:
        engine.dispose()
    return sorted({(datetime.fromisoformat(s) if isinstance(s, str) else s).year for s in stamps})


def test_restore_drill_a_paid_county_comes_back_whole(tmp_path):
    with empty_database(tmp_path, "src") as source, restore_target(tmp_path, source) as target:
        env = drill_env(source)
        onecard(["demo", "--residents", "200"], env)
        paid = _scalar(source, "SELECT count(*) FROM ledger_entries WHERE outcome = 'paid'")
        assert paid > 0
        resident_id = _scalar(source, "SELECT resident_id FROM ledger_entries GROUP BY resident_id "
                                      "ORDER BY count(*) DESC, resident_id LIMIT 1")
        before = _subsidies(source, resident_id)
        assert before and before[0]["items"]

        archive = tmp_path / "county.backup"
        info = json.loads(onecard(["backup", "--output", str(archive)], env).stdout)
        assert info["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest() and info["bytes"] > 0

        restored_env = drill_env(target)
        onecard(["restore", str(archive)], restored_env)
        verified = json.loads(onecard(["audit-verify"], restored_env).stdout)
        assert verified["ok"] and verified["checked"] > 0
        assert json.loads(onecard(["oversight-rebuild-summary", "--check"], restored_env).stdout) == {"consistent": True}
        assert _scalar(target, "SELECT count(*) FROM ledger_entries WHERE outcome = 'paid'") == paid
        assert _subsidies(target, resident_id) == before

        # A second restore over the now non-empty database is refused, and --force replaces it.
        refused = onecard(["restore", str(archive)], restored_env, check=False)
        assert refused.returncode == 2 and "不是空的" in refused.stderr and "Traceback" not in refused.stderr
        onecard(["restore", "--force", str(archive)], restored_env)
        assert json.loads(onecard(["audit-verify"], restored_env).stdout)["ok"]


def test_restore_refuses_a_missing_or_unreadable_backup(tmp_path, ops_db):
    env = drill_env(ops_db)
    missing = onecard(["restore", str(tmp_path / "nope.backup")], env, check=False)
    assert missing.returncode == 2 and "找不到备份文件" in missing.stderr
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all" * 100)
    refused = onecard(["restore", str(junk)], env, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert _scalar(ops_db, "SELECT 1") == 1
