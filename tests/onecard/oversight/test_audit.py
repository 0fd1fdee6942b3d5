"""The auditor: reads everything in scope including the audit trail, changes nothing, and every read is audited."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from onecard import audit
from onecard.actors import SYSTEM
from onecard.audit import AuditEntry
from onecard.timeutil import utcnow
from tests.factories import make_resident

ENTRIES = "/api/staff/v1/audit/entries"


def _reads(db):
    return db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "audit.read")).scalars().all()


def test_auditor_reads_the_trail_with_filters_and_each_read_is_recorded(client, auditor, db):
    for i in range(3):
        audit.record("card.lost", actor=SYSTEM, entity_type="card", entity_id=i)
    audit.record("project.coded", actor=SYSTEM, entity_type="project", entity_id=7)
    db.session.commit()
    r = client.get(ENTRIES, headers=auditor.auth, query_string={"entity": "card"})
    assert r.status_code == 200, r.json
    assert r.json["total"] == 3 and {e["action"] for e in r.json["items"]} == {"card.lost"}
    r = client.get(ENTRIES, headers=auditor.auth, query_string={"action": "project.", "entity_id": "7"})
    assert r.json["total"] == 1
    r = client.get(ENTRIES, headers=auditor.auth, query_string={"actor": auditor.id, "action": "audit.read"})
    assert r.json["total"] == 3   # the two earlier reads and this one
    reads = _reads(db)
    assert len(reads) == 3 and all(e.actor_id == auditor.id for e in reads)
    assert '"entity_type":"card"' in reads[0].after


def test_time_range_and_paging(client, auditor, db):
    for i in range(5):
        audit.record("thing.done", actor=SYSTEM, entity_type="thing", entity_id=i)
    db.session.commit()
    now = utcnow()
    r = client.get(ENTRIES, headers=auditor.auth, query_string={
        "entity": "thing", "since": (now - timedelta(minutes=5)).isoformat(), "until": (now + timedelta(minutes=5))
        .isoformat(), "per_page": 2, "page": 2})
    assert r.status_code == 200 and r.json["total"] == 5 and len(r.json["items"]) == 2
    r = client.get(ENTRIES, headers=auditor.auth, query_string={"entity": "thing",
                                                              "since": (now + timedelta(hours=1)).isoformat()})
    assert r.json["total"] == 0
    r = client.get(ENTRIES, headers=auditor.auth, query_string={
        "since": (now + timedelta(hours=1)).isoformat(), "until": now.isoformat()})
    assert r.status_code == 422


def test_other_roles_cannot_read_the_trail(client, make_staff, finance, county):
    assert client.get(ENTRIES, headers=finance.auth).status_code == 403
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    assert client.get(ENTRIES, headers=op.auth).status_code == 403
    assert client.get(ENTRIES).status_code == 401


def test_auditor_reads_oversight_and_every_read_is_audited(client, auditor, finance, ov, county, db):
    t, v = county["towns"][0], county["villages"][0]
    p = ov.project()
    r = make_resident(t, v)
    ov.pay(r, p, "2026-03", 10000)
    client.post("/api/staff/v1/oversight/risk-runs", headers=finance.auth, json={})
    before = len(_reads(db))
    for url, query in (("/api/staff/v1/oversight/stats", {}),
                       ("/api/staff/v1/oversight/stats/rows", {"dimension": "town", "key": t, "measure": "paid"}),
                       ("/api/staff/v1/oversight/progress", {}), ("/api/staff/v1/oversight/risk-findings", {}),
                       ("/api/staff/v1/oversight/risk-runs", {}), ("/api/staff/v1/oversight/disclosures", {}),
                       ("/api/staff/v1/oversight/stats.xlsx", {})):
        resp = client.get(url, headers=auditor.auth, query_string=query)
        assert resp.status_code == 200, url
    assert len(_reads(db)) == before + 7
    assert {e.entity_id for e in _reads(db)} >= {"stats", "stats.rows", "progress", "risk_findings", "risk_runs",
                                                  "disclosures", "stats.xlsx"}
    # Finance's reads are not audit events.
    client.get("/api/staff/v1/oversight/stats", headers=finance.auth)
    assert len(_reads(db)) == before + 7


def test_auditor_changes_nothing(client, auditor, ov, county):
    p = ov.project()
    assert client.post("/api/staff/v1/oversight/risk-runs", headers=auditor.auth, json={}).status_code == 403
    r = client.post("/api/staff/v1/oversight/disclosures", headers=auditor.auth,
                    json={"project_id": p.id, "period": "2026-03"})
    assert r.status_code == 403


def test_chain_still_verifies_after_audited_reads(client, auditor, db):
    client.get(ENTRIES, headers=auditor.auth)
    r = client.get("/api/staff/v1/audit/verify", headers=auditor.auth)
    assert r.status_code == 200 and r.json["ok"] and r.json["checked"] >= 1
