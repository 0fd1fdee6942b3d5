"""Benchmark: the full oversight statistics report and all risk checks over a county-sized ledger.

    .venv/bin/python bench/bench_oversight.py [--residents 600000] [--rows 5000000]
        [--list-rows N] [--database-url URL]

Builds a synthetic county (residents, households, cards, categories, recipient lists, 12 months of
ledger rows with a few planted irregularities) with Core executemany, builds the oversight summaries
from them (timed: the rebuild command's cost), then times, in the same run:
  floor   a bare SQL aggregate over the same rows (one GROUP BY over the ledger and one over list rows)
  stats   stats.compute(): every dimension of the report (from the summaries)
  first risk run   every risk check on a ledger no run has seen (reads everything once)
then one more month arrives (lists and ledger rows; the summary hook as the import calls it, timed) and:
  stats before the nightly list refresh (the new month's lists aggregated directly)
  risks   the next scheduled run of every check (the one that is timed against the floor)
  list refresh   the nightly refresh of the new month's list summaries
and prints one final JSON line: ratio = floor / (stats + risks); stats_ratio and risks_ratio each
(risks against the ledger half of the floor); the first run and the maintenance costs beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

from bench.bulk import BulkLoad, bulk_insert  # noqa: E402

CHUNK = 50_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(args, db) -> dict:
    from onecard.cards.models import Card
    from onecard.lists.models import RecipientList, RecipientRow
    from onecard.payments.models import LedgerEntry
    from onecard.people.models import Household, Resident, ResidentCategory
    from onecard.privacy import encrypt, mask_id
    from onecard.projects.models import Project
    from onecard.reference import service as reference
    from onecard.reference.models import Bank, Department, Town, Village
    from onecard.validation import make_id_number

    reference.seed()
    towns = db.session.execute(sa.select(Town.id)).scalars().all()
    db.session.execute(sa.insert(Village), [{"town_id": t, "code": f"V{t:03d}{i:03d}", "name": f"第{i}村"}
                                            for t in towns for i in range(1, 24)])
    villages = db.session.execute(sa.select(Village.id, Village.town_id)).all()
    banks = db.session.execute(sa.select(Bank.id)).scalars().all()
    depts = db.session.execute(sa.select(Department.id).where(Department.kind == "business")).scalars().all()
    # (name, standard fen, required category)
    plan = [("高龄津贴", 10000, None), ("城乡居民基础养老金", 18300, None), ("最低生活保障金", None, "dibao"),
            ("特困人员救助供养金", 98000, "tekun"), ("困难残疾人生活补贴", 9000, "disabled"),
            ("重度残疾人护理补贴", 9000, "disabled"), ("耕地地力保护补贴", None, None), ("生态公益林补偿", None, None),
            ("计划生育家庭奖励扶助", 96000, None), ("优抚对象抚恤补助", None, None), ("义务教育生活补助", 62500, None),
            ("城乡医疗救助金", None, None), ("困难职工生活救助", None, None)]
    projects = []
    for i, (name, standard, category) in enumerate(plan):
        p = Project(department_id=depts[i % len(depts)], category="基准", name=name, cycle="monthly",
                    bank_id=banks[i % len(banks)], standard_fen=standard, required_category=category,
                    status="coded", code=f"B{i:05d}", coded_at=datetime(2025, 1, 1), created_at=datetime(2025, 1, 1))
        db.session.add(p)
        db.session.flush()
        projects.append((p.id, p.department_id, standard, category))
    db.session.commit()

    n = args.residents
    log(f"residents: {n}")
    conn = db.session.connection()
    load = BulkLoad(db.session, [Household.__table__, Resident.__table__, Card.__table__, ResidentCategory.__table__,
                           LedgerEntry.__table__, RecipientRow.__table__])
    load.__enter__()
    households = (n + 2) // 3
    for start in range(0, households, CHUNK):
        bulk_insert(conn, Household.__table__, [{"id": h + 1, "code": f"H{h + 1:012d}", "town_id": villages[h % len(villages)][1],
                                             "village_id": villages[h % len(villages)][0]}
                                            for h in range(start, min(households, start + CHUNK))])
    cipher = encrypt("370831195001010000")  # one ciphertext for all: the bench never decrypts them
    resident_info = {}
    pools: dict[str, list[int]] = {"dibao": [], "tekun": [], "disabled": []}
    now = datetime(2026, 1, 1)
    for start in range(0, n, CHUNK):
        rows, cards, cats = [], [], []
        for i in range(start, min(n, start + CHUNK)):
            rid = i + 1
            hh = i // 3 + 1
            village_id, town_id = villages[(hh - 1) % len(villages)]
            idn = make_id_number("370831", date(1930 + i % 70, 1 + i % 12, 1 + i % 28), i % 1000)
            rows.append({"id": rid, "name": "张三明", "id_number": cipher, "id_bidx": f"b{rid:039d}",
                         "id_masked": mask_id(idn), "gender": "M", "birth_year": 1930 + i % 70,
                         "ethnicity": "01", "town_id": town_id, "village_id": village_id, "household_id": hh,
                         "sms_opt_out": False, "created_at": now, "updated_at": now,
                         "deceased_on": date(2025, 6, 1) if i % 12000 == 7 else None})
            status = "issued" if i % 5000 == 11 else ("cancelled" if i % 5000 == 12 else "active")
            cards.append({"resident_id": rid, "bank_id": banks[i % len(banks)], "status": status,
                          "account_bidx": f"a{rid:039d}", "account_last4": f"{rid % 10000:04d}",
                          "status_changed_at": now, "source": "registry", "created_at": now})
            resident_info[rid] = (town_id, village_id, cards[-1]["bank_id"])
            r = i % 100
            cat = "dibao" if r < 5 else "tekun" if r == 5 else "disabled" if r in (6, 7, 8, 9) else None
            if cat:
                pools[cat].append(rid)
                cats.append({"resident_id": rid, "category": cat})
        bulk_insert(conn, Resident.__table__, rows)
        bulk_insert(conn, Card.__table__, cards)
        bulk_insert(conn, ResidentCategory.__table__, cats)
    db.session.commit()

    months = [f"2025-{m:02d}" for m in range(1, 13)]
    per_group = max(1, args.rows // (len(months) * len(projects)))
    list_per_group = max(1, args.list_rows // (len(months) * len(projects)))
    log(f"ledger rows: ~{per_group * len(months) * len(projects)}, list rows: ~{list_per_group * len(months) * len(projects)}")
    state = {"line": 0, "batch": 0}
    ledger_buffer, list_buffer = [], []
    conn = db.session.connection()

    def flush(force=False):
        nonlocal ledger_buffer, list_buffer
        if ledger_buffer and (force or len(ledger_buffer) >= CHUNK):
            bulk_insert(conn, LedgerEntry.__table__, ledger_buffer)
            ledger_buffer = []
        if list_buffer and (force or len(list_buffer) >= CHUNK):
            bulk_insert(conn, RecipientRow.__table__, list_buffer)
            list_buffer = []

    def pay_month(period: str, approved: datetime) -> None:
        """Every project's list and payments for one month (ledger rows written as the import would)."""
        for p_index, (pid, dept, standard, category) in enumerate(projects):
            pool = pools[category] if category else None
            size = len(pool) if pool else n
            offset = (p_index * 7919) % size
            count = min(per_group, size)
            list_count = min(list_per_group, size)
            state["batch"] += 1
            batch = state["batch"]
            lst = RecipientList(project_id=pid, period=period, department_id=dept, file_name="bench.xlsx",
                                file_sha256="0" * 64, row_count=list_count, status="matched", matched_at=approved)
            db.session.add(lst)
            db.session.flush()
            for k in range(max(count, list_count)):
                rid = pool[(offset + k) % size] if pool else (offset + k) % size + 1
                town_id, village_id, bank_id = resident_info[rid]
                amount = standard or 5000 + (rid % 50) * 100
                if k < list_count:
                    list_buffer.append({"list_id": lst.id, "project_id": pid, "period": period, "row_no": k + 1,
                                        "name": "张三明", "id_number": cipher, "id_bidx": f"b{rid:039d}",
                                        "ethnicity": "01", "town_id": town_id, "village_id": village_id,
                                        "bank_id": bank_id, "amount_fen": amount,
                                        "match_result": "usable" if k % 20 else "not_activated", "resident_id": rid})
                if k >= count:
                    continue
                state["line"] += 1
                failed = k % 37 == 5
                ledger_buffer.append({
                    "line_id": state["line"], "batch_id": batch, "project_id": pid, "department_id": dept,
                    "period": period, "resident_id": rid, "payee_resident_id": None, "route": "own_card",
                    "bank_id": bank_id, "account_last4": f"{rid % 10000:04d}", "account_bidx": f"a{rid:039d}",
                    "town_id": town_id, "village_id": village_id, "amount_fen": amount,
                    "outcome": "failed" if failed else "paid", "failure_code": "E101" if failed else None,
                    "failure_reason": "账户状态异常" if failed else None, "reissue_of_line_id": None,
                    "approved_at": approved, "occurred_at": approved + timedelta(days=1 + k % 3, hours=k % 7),
                    "recorded_at": approved})
                flush()
        flush(force=True)

    for m_index, period in enumerate(months):
        pay_month(period, datetime(2025, m_index + 1, 10, 2, 0))
        log(f"  {period} done, {state['line']} ledger rows")
    line, batch = state["line"], state["batch"]
    flush(force=True)
    load.__exit__(None, None, None)
    # Planted: a duplicate payment, two strangers on one account, an amount above standard.
    first = projects[0]
    town_id, village_id, bank_id = resident_info[1]
    base = {"batch_id": batch + 1, "project_id": first[0], "department_id": first[1], "route": "own_card",
            "bank_id": bank_id, "account_last4": "0001", "town_id": town_id, "village_id": village_id,
            "outcome": "paid", "approved_at": datetime(2025, 12, 10), "occurred_at": datetime(2025, 12, 12),
            "recorded_at": datetime(2025, 12, 12), "payee_resident_id": None, "failure_code": None,
            "failure_reason": None, "reissue_of_line_id": None}
    conn.execute(sa.insert(LedgerEntry.__table__), [
        {**base, "line_id": line + 1, "period": "2024-01", "resident_id": 1, "amount_fen": 10000,
         "account_bidx": "a" + f"{1:039d}"},
        {**base, "line_id": line + 2, "period": "2024-01", "resident_id": 1, "amount_fen": 10000,
         "account_bidx": "a" + f"{1:039d}"},
        {**base, "line_id": line + 3, "period": "2024-02", "resident_id": 4, "amount_fen": 10000,
         "account_bidx": "a" + f"{1:039d}"},
        {**base, "line_id": line + 4, "period": "2024-03", "resident_id": 7, "amount_fen": 99999,
         "account_bidx": "a" + f"{7:039d}"},
    ])
    db.session.commit()
    state["line"] = line + 4
    state["batch"] = batch + 1

    def next_month() -> int:
        """One more month (2026-01) of lists and payments, as the import would add them; returns its first id."""
        first = (db.session.execute(sa.select(sa.func.max(LedgerEntry.id))).scalar() or 0) + 1
        nonlocal conn
        conn = db.session.connection()
        pay_month("2026-01", datetime(2026, 1, 10, 2, 0))
        return first

    return {"ledger_rows": line + 4, "list_rows": db.session.execute(sa.select(sa.func.count(RecipientRow.id))).scalar(),
            "next_month": next_month}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=600_000)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--list-rows", type=int, default=None, help="recipient list rows (default: --rows)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()
    args.list_rows = args.list_rows if args.list_rows is not None else args.rows

    from onecard import create_app
    from onecard.actors import SYSTEM
    from onecard.extensions import db

    tmp = None
    url = args.database_url
    if url is None:
        tmp = tempfile.mkdtemp(prefix="bench_oversight_")
        url = "sqlite:///" + os.path.join(tmp, "bench.db")
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "PASSWORD_HASH_PROFILE": "test",
                      "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        t0 = time.perf_counter()
        sizes = build(args, db)
        analyze(db)
        log(f"built in {time.perf_counter() - t0:.1f}s: { {k: v for k, v in sizes.items() if k != 'next_month'} }")

        from onecard.oversight import risks, stats, summary
        from onecard.oversight.models import RiskWatermark
        from onecard.payments.models import LedgerEntry

        # The rows were written straight into the tables: build the summaries as the rebuild command does
        # (maintenance cost, reported; the import path grows them in its own transaction instead).
        start = time.perf_counter()
        summary.rebuild_ledger()
        db.session.commit()
        rebuild_ledger_seconds = time.perf_counter() - start
        start = time.perf_counter()
        summary.refresh_lists(everything=True)
        db.session.commit()
        refresh_lists_seconds = time.perf_counter() - start
        analyze(db)

        def floor() -> float:
            start = time.perf_counter()
            db.session.execute(sa.text(
                "SELECT department_id, count(*), sum(amount_fen) FROM ledger_entries GROUP BY department_id")).all()
            ledger = time.perf_counter() - start
            db.session.execute(sa.text(
                "SELECT project_id, count(*), sum(amount_fen) FROM recipient_rows GROUP BY project_id")).all()
            return ledger, time.perf_counter() - start

        floor()                                 # warm the cache once, as the report would find it
        ledger_floor, floor_seconds = floor()
        start = time.perf_counter()
        report = stats.compute(SYSTEM)
        stats_seconds = time.perf_counter() - start
        start = time.perf_counter()
        first = risks.run_all_checks(SYSTEM, trigger="manual")
        risks_first_seconds = time.perf_counter() - start
        first_counts = json.loads(first.counts)
        log(f"stats {stats_seconds:.2f}s ({sum(len(v) for v in report.values())} report rows), first risk run "
            f"{risks_first_seconds:.2f}s {first_counts}, floor {floor_seconds:.2f}s (ledger {ledger_floor:.2f}s), "
            f"rebuild ledger summary {rebuild_ledger_seconds:.2f}s, lists {refresh_lists_seconds:.2f}s")

        # The next night: one more month of payments arrives through the import path (ledger rows, then the
        # summary hook in the same transaction), and the scheduled risk run reads what is new since the
        # previous run (whose watermark has ripened: it ran "last night").
        db.session.execute(sa.update(RiskWatermark).values(pending_at=first.started_at - timedelta(hours=2)))
        db.session.commit()
        start = time.perf_counter()
        first_new = sizes["next_month"]()
        insert_month_seconds = time.perf_counter() - start
        start = time.perf_counter()
        summary.record_ledger(LedgerEntry.id >= first_new)
        db.session.commit()
        record_month_seconds = time.perf_counter() - start
        month_rows = db.session.execute(sa.select(sa.func.count()).where(LedgerEntry.id >= first_new)).scalar()
        start = time.perf_counter()
        report_month = stats.compute(SYSTEM)     # the new month's lists are not refreshed yet: read directly
        stats_new_lists_seconds = time.perf_counter() - start
        start = time.perf_counter()
        run = risks.run_all_checks(SYSTEM, trigger="schedule")
        risks_seconds = time.perf_counter() - start
        counts = json.loads(run.counts)
        start = time.perf_counter()
        refreshed = summary.refresh_lists()
        db.session.commit()
        refresh_month_seconds = time.perf_counter() - start
        assert report_month == stats.compute(SYSTEM), "refreshing the lists changed a figure"
        log(f"month of {month_rows} rows: insert {insert_month_seconds:.2f}s, summary hook "
            f"{record_month_seconds:.2f}s; stats before list refresh {stats_new_lists_seconds:.2f}s; "
            f"nightly risk run {risks_seconds:.2f}s {counts}; list refresh {refreshed} lists "
            f"{refresh_month_seconds:.2f}s")
        seconds = stats_seconds + risks_seconds
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({
            "bench": "oversight", "rows": sizes["ledger_rows"], "list_rows": sizes["list_rows"],
            "residents": args.residents, "database": db.engine.dialect.name,
            "seconds": round(seconds, 3), "stats_seconds": round(stats_seconds, 3),
            "risks_seconds": round(risks_seconds, 3), "floor_seconds": round(floor_seconds, 3),
            "ledger_floor_seconds": round(ledger_floor, 3),
            "ratio": round(floor_seconds / seconds, 3), "stats_ratio": round(floor_seconds / stats_seconds, 3),
            "risks_ratio": round(ledger_floor / risks_seconds, 3),
            "risks_first_run_seconds": round(risks_first_seconds, 3),
            "risks_first_run_ratio": round(ledger_floor / risks_first_seconds, 3),
            "stats_new_lists_seconds": round(stats_new_lists_seconds, 3),
            "stats_new_lists_ratio": round(floor_seconds / stats_new_lists_seconds, 3),
            "month_rows": month_rows, "insert_month_seconds": round(insert_month_seconds, 3),
            "record_month_seconds": round(record_month_seconds, 3),
            "refresh_month_lists_seconds": round(refresh_month_seconds, 3),
            "rebuild_ledger_summary_seconds": round(rebuild_ledger_seconds, 3),
            "rebuild_list_summary_seconds": round(refresh_lists_seconds, 3),
            "findings_first_run": first_counts, "findings": counts,
            "peak_rss_mb": round(peak)}, ensure_ascii=False))
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)     # gigabytes at the full size


def analyze(db) -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


if __name__ == "__main__":
    main()
