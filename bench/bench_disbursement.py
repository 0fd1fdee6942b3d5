"""Benchmark: one batch of N lines through the whole disbursement cycle on SQLite.

    .venv/bin/python bench/bench_disbursement.py [--lines 1000000]

Steps timed through the real services: create (route from a matched list), submit, review, approve,
export the bank file, import a result file with 1% failures (ledger + arrival events), reconcile.
The floor, measured in the same run on a byte copy of the set-up database (same schema, indexes,
constraints and pragmas): bare sqlite3 doing each step's database work with the fastest set-based SQL
(see ``floor``). Prints one final JSON line: seconds per step for both, their sums and the ratio
floor / product (1.0 would mean the product adds nothing to the bare SQL).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
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
            res.append((rid, f"居民{i % 997}", id_enc, idb, mask_id(idn), "M", birth.year, "01", town.id,
                        now, now))
            cards.append((rid, rcb.id, "active", encrypt(acct), blind_index(acct, "account"), acct[-4:], now, now))
            rows.append((lst.id, project.id, "2026-10", i + 2, f"居民{i % 997}", id_enc, idb, "01", town.id, rcb.id,
                         18300, "usable", rid))
        conn.executemany("insert into residents (id,name,id_number,id_bidx,id_masked,gender,birth_year,ethnicity,"
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


def run_cycle(n: int, project, actors, after_step=lambda step: None) -> dict:
    """The product's steps, timed; ``after_step(name)`` runs (untimed) after each, for the interleaved floor."""
    from onecard.extensions import db
    from onecard.payments import bankformats, batches, exports, results
    from onecard.payments.models import Batch

    times = {}

    def key():
        return uuid.uuid4().hex

    t = time.perf_counter()
    b = batches.create_batch(actors["op"], project.id, "2026-10", idempotency_key=key())
    times["create"] = time.perf_counter() - t
    after_step("create")
    assert b["line_count"] == n, b
    for step, who, fn in (("submit", "op", batches.submit), ("review", "rev", batches.review),
                          ("approve", "fin", batches.approve)):
        t = time.perf_counter()
        fn(actors[who], b["id"], idempotency_key=key())
        times[step] = time.perf_counter() - t
        after_step(step)
    t = time.perf_counter()
    exports.export_bank_file(actors["bank"], b["id"], idempotency_key=key())
    times["export"] = time.perf_counter() - t
    after_step("export")
    path = exports.bank_file_path(db.session.get(Batch, b["id"]))
    # The bank's side (not timed): answer every line, failing 1%, dated today (its value date).
    from onecard.timeutil import local_today
    value_date = local_today().strftime("%Y%m%d")
    layout = bankformats.RCB
    result_path = path + ".result"
    digest = hashlib.sha256()
    count = total = 0
    with open(path, "rb") as src, open(result_path + ".body", "wb") as body:
        src.readline()
        for i, raw in enumerate(src):
            parts = raw.decode(layout.encoding).rstrip("\r\n").split("|")
            fen = int(parts[4].replace(".", ""))
            flag, code = ("F", "frozen") if i % 100 == 7 else ("S", "")
            line = "|".join(["DTL", parts[1], parts[4], flag, code, "", value_date]) + "\r\n"
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
        file_sha = hashlib.file_digest(f, "sha256").hexdigest()
    t = time.perf_counter()
    with open(result_path, "rb") as f:
        r = results.import_result_file(actors["bank"], b["id"], io.BufferedReader(f), file_sha256=file_sha,
                                       idempotency_key=key())
    times["import_results"] = time.perf_counter() - t
    after_step("import_results")
    assert r["failed_count"] == sum(1 for i in range(n) if i % 100 == 7), r
    t = time.perf_counter()
    rec = results.reconcile(actors["op"], b["id"], idempotency_key=key())
    times["reconcile"] = time.perf_counter() - t
    after_step("reconcile")
    assert rec["status"] == "reconciled"
    return times


def floor(n: int, db_path: str, project_id: int, list_id: int, department_id: int, bank_id: int,
          agreement_id: int):
    """Bare sqlite3 doing the same database work on an identical copy of the set-up database.

    Returns (run, times): ``run(step)`` does one step of the floor and records its seconds in ``times``.

    Same schema (indexes, constraints, foreign keys on), same pragmas as the app's bulk steps, one transaction per step as
    the product commits, and per step the fastest bare SQL for it: the lines made with one INSERT ... SELECT
    from the matched list, each approval step's totals as one aggregate and a compare-and-set UPDATE of the
    batch, the export as a bare read of every line plus one UPDATE to sent, the result import as an executemany
    into the staging table plus UPDATE ... FROM, INSERT ... SELECT of the ledger and the arrival events, and
    reconciliation as aggregates. What it leaves out is only what has no bare-SQL equivalent: decrypting the
    accounts, formatting, hashing and parsing the files, checks for refusals, audit and idempotency rows.
    """
    from onecard.payments.common import BULK_CACHE_KIB
    conn = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                   f"cache_size=-{BULK_CACHE_KIB}"):
        conn.execute("PRAGMA " + pragma)
    times: dict[str, float] = {}
    totals = ("select count(*), coalesce(sum(amount_fen), 0) from batch_lines "
              "where batch_id = ? and status in ('pending','sent','paid','failed','superseded')")

    def step(name, fn):
        t = time.perf_counter()
        conn.execute("begin")
        fn()
        conn.execute("commit")
        times[name] = time.perf_counter() - t

    now = "2026-11-01 08:00:00.000000"
    batch = {}

    def create():
        cur = conn.execute(
            "insert into batches (kind, project_id, department_id, bank_id, agreement_id, list_id, period, status, "
            "line_count, total_fen, held_count, created_at, status_changed_at) "
            "values ('regular', ?, ?, ?, ?, ?, '2026-10', 'draft', 0, 0, 0, ?, ?)",
            (project_id, department_id, bank_id, agreement_id, list_id, now, now))
        batch["id"] = b = cur.lastrowid
        conn.execute(
            "insert into batch_lines (batch_id, recipient_row_id, resident_id, project_id, department_id, period, "
            "name, amount_fen, status, route, route_reason, payee_resident_id, payee_name, bank_id, account, "
            "account_last4, account_bidx, town_id, village_id, created_at) "
            "select ?, rr.id, rr.resident_id, ?, ?, rr.period, rr.name, rr.amount_fen, 'pending', 'own_card', "
            "'发放至本人社保卡金融账户', r.id, r.name, c.bank_id, c.account, c.account_last4, c.account_bidx, "
            "r.town_id, r.village_id, ? "
            "from recipient_rows rr join residents r on r.id = rr.resident_id "
            "join cards c on c.resident_id = r.id and c.status = 'active' and c.account is not null "
            "where rr.list_id = ?", (b, project_id, department_id, now, list_id))
        count, fen = conn.execute(totals, (b,)).fetchone()
        conn.execute("update batches set line_count = ?, total_fen = ?, number = ? where id = ?",
                     (count, fen, f"FLOOR{b}", b))

    def move(source, target):
        def fn():
            count, fen = conn.execute(totals, (batch["id"],)).fetchone()
            assert count == n
            conn.execute("update batches set status = ?, submitted_count = ?, submitted_fen = ?, "
                         "status_changed_at = ? where id = ? and status = ?",
                         (target, count, fen, now, batch["id"], source))
        return fn

    def export():
        conn.execute(totals, (batch["id"],)).fetchone()
        cur = conn.execute("select id, payee_name, account, amount_fen from batch_lines "
                           "where batch_id = ? and status = 'pending' order by id", (batch["id"],))
        while cur.fetchmany(5000):
            pass
        conn.execute("update batch_lines set status = 'sent' where batch_id = ? and status = 'pending'",
                     (batch["id"],))
        conn.execute("update batches set status = 'sent', sent_at = ? where id = ? and status = 'approved'",
                     (now, batch["id"]))

    def import_results():
        b = batch["id"]
        conn.execute(totals, (b,)).fetchone()
        first, last = conn.execute("select min(id), max(id) from batch_lines where batch_id = ?", (b,)).fetchone()
        assert last - first + 1 == n
        from onecard.timeutil import local_today
        today = local_today().isoformat()
        rows = (("t", i + 2, first + i, 18300, "failed" if i % 100 == 7 else "paid",
                 "frozen" if i % 100 == 7 else None, "账户冻结" if i % 100 == 7 else None, today) for i in range(n))
        conn.executemany("insert into payment_result_staging (token, seq, line_id, amount_fen, outcome, failure_code, "
                         "failure_reason, value_date) values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        # The value date (today) as the line's moment: the file was sent today, so no earlier than that.
        conn.execute("update batch_lines set status = s.outcome, outcome = s.outcome, failure_code = s.failure_code, "
                     "failure_reason = s.failure_reason, result_at = ?, bank_at = ? from payment_result_staging s "
                     "where s.token = 't' and batch_lines.batch_id = ? and batch_lines.id = s.line_id",
                     (now, now, b))
        conn.execute(
            "insert into ledger_entries (line_id, batch_id, project_id, department_id, period, resident_id, "
            "payee_resident_id, route, bank_id, account_last4, account_bidx, town_id, village_id, amount_fen, "
            "outcome, failure_code, failure_reason, reissue_of_line_id, approved_at, occurred_at, recorded_at) "
            "select id, batch_id, project_id, department_id, period, resident_id, "
            "case when payee_resident_id != resident_id then payee_resident_id end, route, bank_id, account_last4, "
            "account_bidx, town_id, village_id, amount_fen, outcome, failure_code, failure_reason, "
            "reissue_of_line_id, ?, coalesce(bank_at, ?), ? from batch_lines where batch_id = ? and result_at = ?",
            (now, now, now, b, now))
        conn.execute(
            "insert into arrival_events (payment_key, resident_id, project_id, period, amount_fen, bank_id, "
            "account_last4, paid_at, created_at) select 'line:' || id, resident_id, project_id, period, amount_fen, "
            "bank_id, account_last4, coalesce(bank_at, ?), ? from batch_lines where batch_id = ? and outcome = 'paid' "
            "and result_at = ?",
            (now, now, b, now))
        conn.execute("delete from payment_result_staging where token = 't'")
        conn.execute("update batches set status = 'feedback_received' where id = ? and status = 'sent'", (b,))

    def reconcile():
        b = batch["id"]
        conn.execute(totals, (b,)).fetchone()
        conn.execute("select count(*) filter (where outcome = 'paid'), sum(amount_fen) filter (where outcome = 'paid'), "
                     "count(*) filter (where outcome = 'failed'), sum(amount_fen) filter (where outcome = 'failed') "
                     "from batch_lines where batch_id = ?", (b,)).fetchone()
        conn.execute("select count(*), sum(amount_fen) from ledger_entries where batch_id = ?", (b,)).fetchone()
        conn.execute("update batches set status = 'reconciled' where id = ? and status = 'feedback_received'", (b,))

    work = {"create": create, "submit": move("draft", "submitted"), "review": move("submitted", "reviewed"),
            "approve": move("reviewed", "approved"), "export": export, "import_results": import_results,
            "reconcile": reconcile}

    def run(name: str) -> None:
        step(name, work[name])
        if name == "reconcile":
            conn.close()
    return run, times


def copy_database(app, src_path: str, dst_path: str) -> None:
    """A byte copy of the set-up database (WAL folded in first) for the floor, so both start from the same rows."""
    from onecard.extensions import db
    db.session.commit()
    with db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(src_path, dst_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", "--rows", type=int, default=1_000_000, dest="lines",
                        help="lines in the batch (default 1,000,000)")
    args = parser.parse_args()
    n = args.lines
    workdir = tempfile.mkdtemp(prefix="bench_disb_")
    t = time.perf_counter()
    app, ctx, project, actors, bank_file_dir = setup(n, f"sqlite:///{workdir}/bench.db")
    copy_database(app, f"{workdir}/bench.db", f"{workdir}/floor.db")
    ids = dict(project_id=project.id, department_id=project.department_id, bank_id=project.bank_id,
               **_ids_for_floor(project.id))
    setup_s = time.perf_counter() - t
    # Each floor step runs right after the same product step, so a change in the machine's load hits both.
    floor_step, floor_times = floor(n, f"{workdir}/floor.db", **ids)
    times = run_cycle(n, project, actors, after_step=floor_step)
    total = sum(times.values())
    assert set(floor_times) == set(times), floor_times
    floor_s = sum(floor_times.values())
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(bank_file_dir, ignore_errors=True)
    print(json.dumps({"bench": "disbursement", "rows": n, "seconds": round(total, 2),
                      "floor_seconds": round(floor_s, 2), "ratio": round(floor_s / total, 3),
                      "steps": {k: round(v, 2) for k, v in times.items()},
                      "floor_steps": {k: round(v, 2) for k, v in floor_times.items()},
                      "setup_seconds": round(setup_s, 1), "peak_rss_mb": peak_rss_mb()}, ensure_ascii=False))


def _ids_for_floor(project_id: int) -> dict:
    import sqlalchemy as sa

    from onecard.extensions import db
    from onecard.lists.models import RecipientList
    from onecard.payments.models import agreement_projects
    list_id = db.session.execute(sa.select(RecipientList.id).where(RecipientList.project_id == project_id)).scalar_one()
    agreement_id = db.session.execute(sa.select(agreement_projects.c.agreement_id)
                                      .where(agreement_projects.c.project_id == project_id)).scalar_one()
    return {"list_id": list_id, "agreement_id": agreement_id}


if __name__ == "__main__":
    main()
