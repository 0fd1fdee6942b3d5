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
