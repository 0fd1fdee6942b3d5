"""The audit trail is append-only and hash-chained; tampering is detected."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from onecard import audit
from onecard.actors import SYSTEM


def _entries(db, n=3):
    for i in range(n):
        audit.record("test.event", actor=SYSTEM, entity_type="thing", entity_id=i, after={"n": i})
    db.session.commit()


def _drop_triggers(db):
    """What an attacker with database access would do first."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
        db.session.execute(sa.text("DROP TRIGGER audit_entries_no_delete"))
    else:
        db.session.execute(sa.text("DROP TRIGGER audit_entries_no_change ON audit_entries"))
    db.session.commit()


def _restore_triggers(db):
    audit.install_append_only(db.session, db.engine.dialect.name)
    db.session.commit()


def test_clean_chain_verifies(db):
    _entries(db)
    report = audit.verify_chain()
    assert report.ok and report.checked == 3


def test_database_refuses_update_and_delete_of_entries(db):
    _entries(db, 1)
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("UPDATE audit_entries SET action='x'"))
        db.session.commit()
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("DELETE FROM audit_entries"))
        db.session.commit()
    db.session.rollback()


def test_changed_entry_is_detected(db):
    _entries(db)
    _drop_triggers(db)
    try:
        db.session.execute(sa.text("UPDATE audit_entries SET after=:v WHERE seq=2"), {"v": '{"n":99}'})
        db.session.commit()
        report = audit.verify_chain()
        assert not report.ok
        assert any("序号 2" in p for p in report.problems)
    finally:
        _restore_triggers(db)


def test_removed_entry_is_detected(db):
    _entries(db)
    _drop_triggers(db)
    try:
        db.session.execute(sa.text("DELETE FROM audit_entries WHERE seq=2"))
        db.session.commit()
        assert not audit.verify_chain().ok
    finally:
        _restore_triggers(db)


def test_removed_tail_is_detected(db):
    _entries(db)
    _drop_triggers(db)
    try:
        db.session.execute(sa.text("DELETE FROM audit_entries WHERE seq=3"))
        db.session.commit()
        report = audit.verify_chain()
        assert not report.ok and any("链尾" in p for p in report.problems)
    finally:
        _restore_triggers(db)


def test_audit_values_are_masked(db):
    audit.record("test.event", actor=SYSTEM, entity_type="thing", after={"id": "37083119500301123X"})
    db.session.commit()
    entry = db.session.execute(sa.select(audit.AuditEntry)).scalar_one()
    assert "37083119500301123X" not in entry.after


def test_verify_endpoint_for_auditor_and_refused_for_operator(client, auditor, make_staff, county):
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    r = client.get("/api/staff/v1/audit/verify", headers=auditor.auth)
    assert r.status_code == 200 and r.json["ok"] is True
    assert client.get("/api/staff/v1/audit/verify", headers=op.auth).status_code == 403


# ---- keyed chain and anchors (issue #16 item 6) ---------------------------------------------------------------------

def _rewrite_from(db, seq: int, after: str, entry_hash):
    """What a database writer does to rewrite history: edit entry ``seq``, recompute every following hash with
    ``entry_hash`` and move the head."""
    db.session.execute(sa.text("UPDATE audit_entries SET after=:v WHERE seq=:s"), {"v": after, "s": seq})
    db.session.commit()
    db.session.expire_all()
    entries = db.session.execute(sa.select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars().all()
    prev = audit.GENESIS
    for e in entries:
        new = entry_hash(prev, audit._hashed_fields(e))
        db.session.execute(sa.text("UPDATE audit_entries SET prev_hash=:p, hash=:h WHERE seq=:s"),
                           {"p": prev, "h": new, "s": e.seq})
        prev = new
    db.session.execute(sa.text("UPDATE audit_head SET last_hash=:h WHERE id=1"), {"h": prev})
    db.session.commit()


def _unkeyed_hash(prev_hash, fields):
    import hashlib
    import json
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def test_a_chain_edited_and_rehashed_without_the_key_fails_verification(db):
    _entries(db)
    _drop_triggers(db)
    try:
        _rewrite_from(db, 2, '{"n":99}', _unkeyed_hash)
        report = audit.verify_chain()
        assert not report.ok and any("序号 1" in p for p in report.problems)
    finally:
        _restore_triggers(db)


def test_a_chain_rehashed_with_the_key_fails_against_its_anchors(db, tmp_path):
    _entries(db)
    path, written = audit.anchor(str(tmp_path))
    assert written and oct(__import__("os").stat(path).st_mode & 0o777) == "0o600"
    assert audit.verify_chain(anchors_dir=str(tmp_path)).ok
    _entries(db, 2)      # later entries are not pinned yet
    _drop_triggers(db)
    try:
        _rewrite_from(db, 2, '{"n":99}', audit._entry_hash)
        assert audit.verify_chain().ok          # the chain alone cannot tell: the writer had the key
        report = audit.verify_chain(anchors_dir=str(tmp_path))
        assert not report.ok and any("锚点不符" in p for p in report.problems)
    finally:
        _restore_triggers(db)


def test_a_tail_cut_below_an_anchor_fails_even_with_the_head_moved(db, tmp_path):
    _entries(db, 4)
    audit.anchor(str(tmp_path))
    _drop_triggers(db)
    try:
        db.session.execute(sa.text("DELETE FROM audit_entries WHERE seq >= 3"))
        last = db.session.execute(sa.text("SELECT hash FROM audit_entries WHERE seq = 2")).scalar()
        db.session.execute(sa.text("UPDATE audit_head SET last_seq=2, last_hash=:h WHERE id=1"), {"h": last})
        db.session.commit()
        assert audit.verify_chain().ok
        report = audit.verify_chain(anchors_dir=str(tmp_path))
        assert not report.ok and any("末尾记录被删除" in p for p in report.problems)
    finally:
        _restore_triggers(db)


def test_an_edited_or_missing_anchor_is_reported(db, tmp_path):
    import json
    from datetime import timedelta

    from onecard.timeutil import utcnow
    _entries(db)
    now = utcnow()
    for days_ago in (2, 1, 0):
        audit.anchor(str(tmp_path), now=now - timedelta(days=days_ago))
    assert audit.verify_chain(anchors_dir=str(tmp_path)).ok
    files = sorted(tmp_path.iterdir())
    files[1].unlink()
    assert any("锚点丢失" in p for p in audit.verify_chain(anchors_dir=str(tmp_path)).problems)
    body = json.loads(files[2].read_text())
    body["seq"] = 1
    files[2].write_text(json.dumps(body))
    assert any("签名不符" in p for p in audit.verify_chain(anchors_dir=str(tmp_path)).problems)


def test_audit_anchor_and_verify_commands(app, db, tmp_path):
    _entries(db)
    runner = app.test_cli_runner()
    r = runner.invoke(args=["audit-anchor", "--dir", str(tmp_path)])
    assert r.exit_code == 0 and "已写入" in r.output
    assert runner.invoke(args=["audit-anchor", "--dir", str(tmp_path)]).output.startswith("今天的锚点已存在")
    assert runner.invoke(args=["audit-verify", "--anchors", str(tmp_path)]).exit_code == 0
    _drop_triggers(db)
    try:
        _rewrite_from(db, 1, '{"n":42}', audit._entry_hash)
        r = runner.invoke(args=["audit-verify", "--anchors", str(tmp_path)])
        assert r.exit_code == 1 and "锚点" in r.output
    finally:
        _restore_triggers(db)


def test_production_refuses_the_development_audit_key():
    from onecard.config import DEV_AUDIT_KEY, check_production
    with pytest.raises(RuntimeError, match="ONECARD_AUDIT_KEY"):
        check_production({"ENV": "production", "AUDIT_KEY": DEV_AUDIT_KEY, "PASSWORD_HASH_PROFILE": "production"})
