"""Imports growing the statistics summary at the same moment (real threads, own sessions; SQLite and PostgreSQL):
every row counted once, no deadlock, and the report still equals the direct aggregation."""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa

from onecard.actors import SYSTEM
from onecard.extensions import db as _db
from onecard.oversight import stats, summary
from onecard.payments.models import LedgerEntry
from tests.factories import make_resident

WORKERS = 4
ROWS = 40


def test_concurrent_imports_each_counted_once(app, db, ov, county):
    towns, villages = county["towns"], county["villages"]
    people = [make_resident(towns[i % 2], villages[i % 2]) for i in range(8)]
    projects = [ov.project("县民政局", "高龄津贴"), ov.project("县残疾人联合会", "护理补贴")]
    rows = []
    for w in range(WORKERS):
        batch = []
        for k in range(ROWS):
            person, project = people[(w + k) % len(people)], projects[k % 2]
            failed = k % 5 == 0
            batch.append({
                "line_id": w * 1000 + k + 1, "batch_id": w + 1, "project_id": project.id,
                "department_id": project.department_id, "period": "2026-03", "resident_id": person.id,
                "route": "own_card", "bank_id": ov.bank("RCB" if k % 3 else "ABC"), "account_last4": "0000",
                "account_bidx": f"acct{person.id}", "town_id": person.town_id, "village_id": person.village_id,
                "amount_fen": 1000 + k, "outcome": "failed" if failed else "paid",
                "failure_code": "E1" if failed else None, "failure_reason": "冻结" if failed else None,
                "approved_at": datetime(2026, 3, 1), "occurred_at": datetime(2026, 3, 2) + timedelta(hours=k),
                "recorded_at": datetime(2026, 3, 2)})
        random.Random(w).shuffle(batch)
        rows.append(batch)
    _db.session.commit()
    barrier = threading.Barrier(WORKERS)
    errors = []

    def worker(w):
        with app.app_context():
            try:
                barrier.wait(timeout=20)
                _db.session.execute(sa.insert(LedgerEntry), rows[w])
                summary.record_ledger(LedgerEntry.batch_id == w + 1)
                _db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    _db.session.expire_all()
    report = stats.compute(SYSTEM)
    assert report == stats.compute(SYSTEM, source="direct")
    assert sum(r["paid_count"] + r["failed_count"] for r in report["department"]) == WORKERS * ROWS
