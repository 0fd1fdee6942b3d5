"""Benchmark: one batch of N lines through the whole disbursement cycle on SQLite.

    /work/main/.venv/bin/python bench/bench_disbursement.py [--lines 1000000]

Steps timed through the real services: create (route from a matched list), submit, review, approve,
export the bank file, import a result file with 1% failures (ledger + arrival events), reconcile.
The floor, measured in the same run on a fresh database file: bare sqlite3 executemany inserts of the
same line rows and result rows, and the same set-based updates and ledger/arrival inserts.
Prints one final JSON line.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def setup(n: int, url: str):
    import sqlalchemy as sa

    from onecard import create_app
    from onecard.extensions import db
    from onecard.lists.models import RecipientList
    from onecard.payments.models import Agreement, agreement_projects
    from onecard.privacy import blind_index, encrypt, mask_id
    from onecard.projects.models import Project
    from onecard.reference import service as reference
    from onecard.reference.models import Bank, Department, Town
    from onecard.staff.models import StaffAccount
    from onecard.timeutil import utcnow
    from onecard.validation import luhn_check_digit, make_id_number

    tmp = tempfile.mkdtemp(prefix="bench_pay_")
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "PASSWORD_HASH_PROFILE": "test",
                      "SMS_PROVIDER": "console", "QUIET_HOURS": "", "RATELIMIT_STORAGE_URI": "memory://",
                      "BANK_FILE_DIR": tmp})
    ctx = app.app_context()
    ctx.push()
    db.create_all()
    reference.seed()
    town = db.session.execute(sa.select(Town)).scalars().first()
    rcb = db.session.execute(sa.select(Bank).where(Bank.code == "RCB")).scalar_one()
    dept = db.session.execute(sa.select(Department).where(Department.code == "05")).scalar_one()
    project = Project(department_id=dept.id, category="社会保险待遇", name="城乡居民基础养老金", cycle="monthly",
                      bank_id=rcb.id, standard_fen=18300, status="coded", code="0501001", coded_at=utcnow())
    db.session.add(project)
    db.session.flush()
    a = Agreement(number="XY-BENCH", department_id=dept.id, bank_id=rcb.id, payment_schedule="每月",
                  fund_supervision="专户", reconciliation_method="逐笔", valid_from=date(2020, 1, 1),
                  valid_until=date(2099, 1, 1))
    db.session.add(a)
    db.session.flush()
    db.session.execute(sa.insert(agreement_projects).values(agreement_id=a.id, project_id=project.id))
    staff = {}
    for name, role, scope in (("op", "dept_operator", {"department_id": dept.id}),
                              ("rev", "dept_reviewer", {"department_id": dept.id}),
                              ("fin", "finance", {}), ("bank", "bank_operator", {"bank_id": rcb.id})):
        s = StaffAccount(username=name, display_name=name, role=role, password_hash="x", **scope)
        db.session.add(s)
        db.session.flush()
        staff[name] = s
    lst = RecipientList(project_id=project.id, period="2026-10", department_id=dept.id, file_name="bench.xlsx",
                        file_sha256="0" * 64, row_count=n, total_fen=18300 * n, status="matched")
    db.session.add(lst)
    db.session.commit()
    conn = db.session.connection().connection.driver_connection
    now = utcnow().isoformat(sep=" ")
    chunk = 20000
    for start in range(0, n, chunk):
        res, cards, rows = [], [], []
        for i in range(start, min(n, start + chunk)):
            rid = i + 1
            birth = date(1940, 1, 1) + timedelta(days=i // 900)
            idn = make_id_number("370831", birth, i % 900)
            body = "622319" + f"{i:012d}"
            acct = body + luhn_check_digit(body)
            id_enc, idb = encrypt(idn), blind_index(idn, "id")
            res.append((rid, f"居民{i % 997}", id_enc, idb, mask_id(idn), "M", birth.isoformat(), "01", town.id,
                        now, now))
            cards.append((rid, rcb.id, "active", encrypt(acct), blind_index(acct, "account"), acct[-4:], now, now))
            rows.append((lst.id, project.id, "2026-10", i + 2, f"居民{i % 997}", id_enc, idb, "01", town.id, rcb.id,
                         18300, "usable", rid))
        conn.executemany("insert into residents (id,name,id_number,id_bidx,id_masked,gender,birth_date,ethnicity,"
                         "town_id,created_at,updated_at,sms_opt_out) values (?,?,?,?,?,?,?,?,?,?,?,0)", res)
        conn.executemany("insert into cards (resident_id,bank_id,status,account,account_bidx,account_last4,"
                         "status_changed_at,created_at,source) values (?,?,?,?,?,?,?,?,'registry')", cards)
        conn.executemany("insert into recipient_rows (list_id,project_id,period,row_no,name,id_number,id_bidx,"
                         "ethnicity,town_id,bank_id,amount_fen,match_result,resident_id) "
                         "values (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.session.commit()
    from onecard.staff.service import actor_for
    actors = {k: actor_for(db.session.get(StaffAccount, v.id)) for k, v in staff.items()}
    return app, ctx, project, actors, tmp


def run_cycle(n: int, project, actors) -> dict:
    from onecard.extensions import db
    from onecard.payments import bankfiles, service
    from onecard.payments.models import Batch

    times = {}

    def key():
        return uuid.uuid4().hex

    t = time.perf_counter()
    b = service.create_batch(actors["op"], project.id, "2026-10", idempotency_key=key())
    times["create"] = time.perf_counter() - t
    assert b["line_count"] == n, b
    for step, who, fn in (("submit", "op", service.submit), ("review", "rev", service.review),
                          ("approve", "fin", service.approve)):
        t = time.perf_counter()
        fn(actors[who], b["id"], idempotency_key=key())
        times[step] = time.perf_counter() - t
    t = time.perf_counter()
    service.export_bank_file(actors["bank"], b["id"], idempotency_key=key())
    times["export"] = time.perf_counter() - t
    path = service.bank_file_path(db.session.get(Batch, b["id"]))
    # The bank's side (not timed): answer every line, failing 1%.
    layout = bankfiles.RCB
    result_path = path + ".result"
    digest = hashlib.sha256()
    count = total = 0
    with open(path, "rb") as src, open(result_path + ".body", "wb") as body:
        src.readline()
        for i, raw in enumerate(src):
            parts = raw.decode(layout.encoding).rstrip("\r\n").split("|")
            fen = int(parts[4].replace(".", ""))
            flag, code = ("F", "frozen") if i % 100 == 7 else ("S", "")
            line = "|".join(["DTL", parts[1], parts[4], flag, code, ""]) + "\r\n"
            data = line.encode(layout.encoding)
            digest.update(data)
            body.write(data)
            count += 1
            total += fen
    with open(result_path, "wb") as out, open(result_path + ".body", "rb") as body:
        out.write(("|".join(["HEAD", b["number"], str(count), layout.money(total), digest.hexdigest()]) + "\r\n")
                  .encode(layout.encoding))
        while chunk := body.read(1 << 20):
            out.write(chunk)
    with open(result_path, "rb") as f:
        file_sha = hashlib.sha256(f.read()).hexdigest() if n <= 200_000 else "bench"
    t = time.perf_counter()
    with open(result_path, "rb") as f:
        r = service.import_result_file(actors["bank"], b["id"], io.BufferedReader(f), file_sha256=file_sha,
                                       idempotency_key=key())
    times["import_results"] = time.perf_counter() - t
    assert r["failed_count"] == sum(1 for i in range(n) if i % 100 == 7), r
    t = time.perf_counter()
    rec = service.reconcile(actors["op"], b["id"], idempotency_key=key())
    times["reconcile"] = time.perf_counter() - t
    assert rec["status"] == "reconciled"
    return times


def floor(n: int, db_path: str) -> float:
    """Bare sqlite3: insert the same line rows, mark them sent, insert result rows, apply them, write ledger/events."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript("""
        create table lines (id integer primary key, batch_id int, resident_id int, project_id int, department_id int,
            period text, name text, amount_fen int, status text, route text, route_reason text, payee_resident_id int,
            payee_name text, bank_id int, account text, account_last4 text, town_id int, outcome text,
            failure_code text, failure_reason text, created_at text);
        create unique index uq_live on lines(resident_id, project_id, period)
            where status in ('pending','sent','paid','failed');
        create table staging (line_id int, amount_fen int, outcome text, failure_code text, token text);
        create index ix_st on staging(token, line_id);
        create table ledger (id integer primary key, line_id int unique, resident_id int, amount_fen int,
            outcome text, town_id int, bank_id int, occurred_at text);
        create table arrivals (id integer primary key, payment_key text unique, resident_id int, amount_fen int);
    """)
    acct = "v1:abcd1234:" + "A" * 60
    t = time.perf_counter()
    conn.execute("begin")
    chunk = 20000
    for start in range(0, n, chunk):
        conn.executemany("insert into lines values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [
            (i + 1, 1, i + 1, 1, 5, "2026-10", "居民", 18300, "pending", "own_card", "发放至本人社保卡金融账户",
             i + 1, "居民", 6, acct, "1234", 1, None, None, None, "2026-11-01")
            for i in range(start, min(n, start + chunk))])
    conn.execute("update lines set status='sent' where batch_id=1 and status='pending'")
    for start in range(0, n, chunk):
        conn.executemany("insert into staging values (?,?,?,?,?)", [
            (i + 1, 18300, "failed" if i % 100 == 7 else "paid", "frozen" if i % 100 == 7 else None, "t")
            for i in range(start, min(n, start + chunk))])
    conn.execute("update lines set status=s.outcome, outcome=s.outcome, failure_code=s.failure_code "
                 "from staging s where s.token='t' and s.line_id=lines.id")
    conn.execute("insert into ledger (line_id,resident_id,amount_fen,outcome,town_id,bank_id,occurred_at) "
                 "select id,resident_id,amount_fen,outcome,town_id,bank_id,'2026-11-01' from lines")
    conn.execute("insert into arrivals (payment_key,resident_id,amount_fen) select 'line:'||id,resident_id,amount_fen "
                 "from lines where outcome='paid'")
    conn.execute("delete from staging where token='t'")
    conn.execute("commit")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", "--rows", type=int, default=1_000_000, dest="lines")
    args = parser.parse_args()
    n = args.lines
    workdir = tempfile.mkdtemp(prefix="bench_disb_")
    t = time.perf_counter()
    app, ctx, project, actors, _ = setup(n, f"sqlite:///{workdir}/bench.db")
    setup_s = time.perf_counter() - t
    times = run_cycle(n, project, actors)
    total = sum(times.values())
    floor_s = floor(n, f"{workdir}/floor.db")
    print(json.dumps({"bench": "disbursement", "rows": n, "seconds": round(total, 2),
                      "floor_seconds": round(floor_s, 2), "ratio": round(floor_s / total, 3),
                      "steps": {k: round(v, 2) for k, v in times.items()}, "setup_seconds": round(setup_s, 1),
                      "peak_rss_mb": peak_rss_mb()}, ensure_ascii=False))


if __name__ == "__main__":
    main()
