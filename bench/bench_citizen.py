"""Benchmark: "my subsidies" (GET /api/citizen/v1/subsidies) on a county-sized ledger, under gunicorn.

Builds a database (SQLite, or PostgreSQL with --database-url) with --rows ledger entries (default
1,000,000) shaped like a county's year: --residents residents (default 80,000), each paid monthly for the last 12 months by one or
more of 13 projects (about 12.5 payments each, 2% failed), written with Core inserts. Issues
--tokens citizen tokens, serves the app with gunicorn on 127.0.0.1 and loads it with wrk
(Debian's `wrk`; a Lua script cycling through pre-built requests, each a random resident's token
and page 1, or page 2 of 10) at 32 connections. In the same run it loads the floor with the same
requests, served the same way (same gunicorn settings): a bare Flask app whose one view does the
product's work without the product's framework (see floor_app; before measuring, the bench checks
that the floor answers the product's bytes). Floor and product alternate
for --rounds rounds so that a busy machine weighs on both alike; figures are the medians.
Prints one final JSON line with rps, p50, p99, the server's CPU per request and the ratio to
the floor (and the CPU ratio, floor's CPU per request over the product's).

    .venv/bin/python bench/bench_citizen.py [--rows 1000000] [--seconds 8] [--rounds 5]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_citizen] [--keep | --reuse DIR]

On PostgreSQL (--database-url, a database of the bench's own: it is dropped and rebuilt) the same county is
written with set-based SQL in the order a ledger grows (see _build_postgres) and the floor reads through
psycopg.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta

PATH = "/api/citizen/v1/subsidies"      # the product's endpoint; the floor answers at the same path
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def floor_app():
    """The floor: the product's work without the product's framework, served the same way.

    A bare Flask app whose one view, at the product's path, reads the same query arguments, checks the same
    bearer token and reads the same page with the same SQL (the text SQLAlchemy compiles from the product's
    statement once, at start, for the database's dialect) through the same driver (sqlite3, or psycopg on
    PostgreSQL; one persistent connection per thread, as the product's pool keeps them), and answers the same
    JSON document through Flask's jsonify. No flask-smorest, no Flask-Limiter, no marshmallow, no SQLAlchemy
    at request time. main() checks that both answer the same bytes before measuring.
    """
    import functools
    import threading
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from flask import Flask, abort, jsonify, request
    from sqlalchemy.dialects import postgresql, sqlite

    from onecard.payments.my_subsidies import FAILURE_ADVICE, FAILURE_DEFAULT, PAGE_BY_TOKEN

    shanghai = ZoneInfo("Asia/Shanghai")
    url = os.environ["ONECARD_DATABASE_URL"]
    on_postgres = url.startswith("postgresql")
    compiled = PAGE_BY_TOKEN.compile(dialect=postgresql.psycopg.dialect() if on_postgres else sqlite.dialect())
    sql, order = compiled.string, compiled.positiontup     # order: None for psycopg's named parameters
    constants = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
    local = threading.local()
    app = Flask("floor")
    app.json.ensure_ascii = False      # as the product's app

    if on_postgres:
        import psycopg

        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)

        def connection():
            conn = getattr(local, "conn", None)
            if conn is None:
                # autocommit: each read is its own transaction, as the product's pooled connection's is
                conn = local.conn = psycopg.connect(conninfo, autocommit=True)
            return conn

        def stored(moment: datetime) -> datetime:     # a timestamp column takes the naive UTC datetime
            return moment

        def hour_key(occurred_at: datetime) -> datetime:
            return occurred_at.replace(minute=0, second=0, microsecond=0)
    else:
        import sqlite3

        path = url.removeprefix("sqlite:///")

        def connection():
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=30000")
            return conn

        def stored(moment: datetime) -> str:          # SQLAlchemy's SQLite DateTime text
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

        def hour_key(occurred_at: str) -> str:
            return occurred_at[:13] + ":00:00"

    def year_start(year: int) -> str:
        return stored(datetime(year, 1, 1, tzinfo=shanghai).astimezone(UTC).replace(tzinfo=None))

    @functools.lru_cache(maxsize=16384)
    def local_day(utc_hour: str | datetime) -> str:     # SQLite's ISO text, or PostgreSQL's datetime
        moment = datetime.fromisoformat(utc_hour) if isinstance(utc_hour, str) else utc_hour
        return moment.replace(tzinfo=UTC).astimezone(shanghai).strftime("%Y-%m-%d")

    def yuan(fen: int) -> str:
        return f"{fen // 100}.{fen % 100:02d}元"

    def arg(name: str, default, low: int, high: int):
        raw = request.args.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            abort(422)
        if not low <= value <= high:
            abort(422)
        return value

    def for_whom(route: str, name: str) -> str:
        masked = name[0] + "*" if len(name) == 2 else name[0] + "*" * (len(name) - 2) + name[-1]
        if route == "proxy":
            return f"代{masked}领取（您是其法定代管代持人）"
        return f"{masked}名下的到户补贴，发放到户主{'一本通账户' if route == 'passbook' else '社保卡'}"

    @app.get(PATH)
    def subsidies():
        page, per_page = arg("page", 1, 1, 100000), arg("per_page", 20, 1, 100)
        year = arg("year", None, 2000, 2100) or datetime.now(shanghai).year
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            abort(401)
        values = {**constants, "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                  "now": stored(datetime.now(UTC).replace(tzinfo=None)), "start": year_start(year),
                  "end": year_start(year + 1), "lim": per_page + 1, "off": (page - 1) * per_page}
        bound = values if order is None else [values[name] for name in order]
        rows = connection().execute(sql, bound).fetchall()
        if not rows:
            abort(401)      # the product then says why (refused, unbound or an empty page); not loaded here
        items = []
        for (id_, period, amount_fen, outcome, failure_code, failure_reason, occurred_at, account_last4,
             project_id, project_name, bank_name, route, for_name, _total) in rows[:per_page]:
            failed = outcome == "failed"
            items.append({
                "id": id_, "project_id": project_id, "project_name": project_name, "period": period,
                "amount_fen": amount_fen, "amount": yuan(amount_fen), "outcome": outcome,
                "outcome_label": "未到账" if failed else "已到账", "date": local_day(hour_key(occurred_at)),
                "bank_name": bank_name, "account_last4": account_last4,
                "failure_reason": failure_reason if failed else None,
                "what_to_do": FAILURE_ADVICE.get(failure_code or "", FAILURE_DEFAULT) if failed else None,
                "received_for": for_whom(route, for_name) if for_name is not None else None,
            })
        total = int(rows[0][-1])
        return jsonify(items=items, page=page, per_page=per_page, has_next=len(rows) > per_page, year=year,
                       year_total_fen=total, year_total=yuan(total))

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(url: str, rows: int, residents: int, tokens: int) -> list[str]:
    os.environ["ONECARD_DATABASE_URL"] = url
    import sqlalchemy as sa

    from onecard import create_app
    from onecard.citizens.models import CitizenSession
    from onecard.extensions import db
    from onecard.projects.models import Project
    from onecard.reference.models import Bank, Department, Town, Village
    from onecard.staff.models import AuthToken

    app = create_app({"PASSWORD_HASH_PROFILE": "test"})
    rng = random.Random(7)
    with app.app_context():
        on_postgres = db.engine.dialect.name == "postgresql"
        if on_postgres:
            db.drop_all()          # a database of its own (never the tests' one): rebuilt from empty
        db.create_all()
        from onecard.reference import service as reference
        reference.seed()
        db.session.commit()
        town = db.session.execute(sa.select(Town.id)).scalars().first()
        village = Village(town_id=town, code="370831001001", name="基准村")
        db.session.add(village)
        dept = db.session.execute(sa.select(Department.id)).scalars().first()
        banks = db.session.execute(sa.select(Bank.id)).scalars().all()
        projects = []
        for i in range(13):
            p = Project(department_id=dept, category="基准", name=f"基准补贴{i}", cycle="monthly", status="coded",
                        code=f"B{i:06d}", standard_fen=10000 + i)
            db.session.add(p)
            projects.append(p)
        db.session.commit()
        project_ids = [p.id for p in projects]
        now = datetime(2026, 11, 1)
        if on_postgres:
            _build_postgres(db, rows, residents, now, town, village.id, dept, banks, project_ids)
        else:
            _build_sqlite(db, rows, residents, now, town, village.id, dept, banks, project_ids, rng)
        # Citizen sessions and tokens (only the hash is stored, like tokens.issue does).
        plain = []
        sessions, token_rows = [], []
        for i, rid in enumerate(rng.sample(range(1, residents + 1), min(tokens, residents)), start=1):
            t = secrets.token_urlsafe(32)
            plain.append(t)
            sessions.append({"id": i, "openid": f"bench-{i}", "resident_id": rid, "channel": "miniprogram",
                             "created_at": now})
            token_rows.append({"token_hash": hashlib.sha256(t.encode()).hexdigest(), "subject_kind": "citizen",
                               "subject_id": i, "created_at": now, "expires_at": datetime(2100, 1, 1)})
        db.session.execute(sa.insert(CitizenSession), sessions)
        db.session.execute(sa.insert(AuthToken), token_rows)
        db.session.commit()
        if on_postgres:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(sa.text("VACUUM ANALYZE"))
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
    return plain


def _build_sqlite(db, rows, residents, now, town, village_id, dept, banks, project_ids, rng) -> None:
    """Residents, then each resident's year of payments in a row (Core executemany)."""
    import sqlalchemy as sa

    from onecard.payments.models import LedgerEntry
    from onecard.people.models import Resident
    from onecard.privacy import blind_index, mask_id
    from onecard.validation import id_birth_year, id_gender, make_id_number

    chunk = []
    for rid in range(1, residents + 1):
        birth = date(1930, 1, 1) + timedelta(days=rid % 20000)
        idn = make_id_number("370831", birth, rid // 20000 % 1000)
        chunk.append({"id": rid, "name": "基准居民", "id_number": idn, "id_bidx": blind_index(idn, "id"),
                      "id_masked": mask_id(idn), "gender": id_gender(idn), "birth_year": id_birth_year(idn),
                      "ethnicity": "01", "town_id": town, "village_id": village_id, "sms_opt_out": False,
                      "created_at": now, "updated_at": now})
        if len(chunk) == 5000:
            db.session.execute(sa.insert(Resident), chunk)
            chunk = []
    if chunk:
        db.session.execute(sa.insert(Resident), chunk)
    db.session.commit()
    conn = db.session.connection()
    table = LedgerEntry.__table__
    # A county's year: every resident paid monthly for 12 months by one or more projects
    # (ceil(n / 12) of them); a 13th payment is one month of a second project.
    per, extra = divmod(rows, residents)
    months = [now - timedelta(days=30 * m) for m in range(12)]
    line = 0
    batch = []
    start = time.perf_counter()
    for rid in range(1, residents + 1):
        n = per + (1 if rid <= extra else 0)
        chosen = rng.sample(range(13), min(13, -(-n // 12)))
        for k in range(n):
            line += 1
            p = chosen[(k // 12) % len(chosen)]
            failed = rng.random() < 0.02
            occurred = months[k % 12] - timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 23))
            batch.append((line, p * 100 + k % 12, project_ids[p], dept, occurred.strftime("%Y-%m"), rid,
                          "own_card", banks[rid % len(banks)], f"{rid % 10000:04d}", town, village_id,
                          10000 + p * 500, "failed" if failed else "paid",
                          "账户已销户" if failed else None, occurred, occurred))
        if len(batch) >= 50_000:
            _insert(conn, table, batch)
            batch = []
    if batch:
        _insert(conn, table, batch)
    db.session.commit()
    print(f"ledger: {line} rows in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def _build_postgres(db, rows, residents, now, town, village_id, dept, banks, project_ids) -> None:
    """The same county in set-based SQL (10 million rows in minutes), in the order a ledger grows.

    Residents get one ciphertext and synthetic blind indexes (the page never decrypts or looks them up). The
    ledger is written month by month across residents, as batches arrive, so one resident's payments lie
    on different pages (the SQLite build writes them side by side): line g is payment k = (g-1) // residents
    of resident (g-1) % residents + 1; a resident's project changes every 12 payments; 2% failed. Indexes are
    built once after the rows (bench.bulk.BulkLoad), as a restore would.
    """
    import sqlalchemy as sa

    from bench.bulk import BulkLoad
    from onecard.payments.models import LedgerEntry
    from onecard.people.models import Resident
    from onecard.privacy import encrypt, mask_id
    from onecard.validation import make_id_number

    start = time.perf_counter()
    with BulkLoad(db.session, [Resident.__table__, LedgerEntry.__table__]):
        conn = db.session.connection()
        conn.execute(sa.text("""
            INSERT INTO residents (id, name, id_number, id_bidx, id_masked, gender, birth_year, ethnicity,
                                   town_id, village_id, sms_opt_out, created_at, updated_at)
            SELECT g, '基准居民', :cipher, 'b' || lpad(g::text, 39, '0'), :masked, 'M', 1930 + g % 70, '01',
                   :town, :village, false, :now, :now
            FROM generate_series(1, :n) AS g"""),
            {"cipher": encrypt(make_id_number("370831", date(1950, 1, 1), 1)),
             "masked": mask_id(make_id_number("370831", date(1950, 1, 1), 1)), "town": town,
             "village": village_id, "now": now, "n": residents})
        conn.execute(sa.text("""
            INSERT INTO ledger_entries (line_id, batch_id, project_id, department_id, period, resident_id, route,
                                        bank_id, account_last4, town_id, village_id, amount_fen, outcome,
                                        failure_reason, occurred_at, recorded_at)
            SELECT g, p * 100 + k % 12, (:projects)[p + 1], :dept, to_char(t, 'YYYY-MM'), rid, 'own_card',
                   (:banks)[rid % cardinality(:banks) + 1], lpad((rid % 10000)::text, 4, '0'), :town, :village,
                   10000 + p * 500, CASE WHEN failed THEN 'failed' ELSE 'paid' END,
                   CASE WHEN failed THEN '账户已销户' END, t, t
            FROM generate_series(1, :rows) AS g,
                 LATERAL (SELECT (g - 1) % :residents + 1 AS rid, (g - 1) / :residents AS k) AS a,
                 LATERAL (SELECT ((rid * 7 + k / 12) % 13)::int AS p,
                                 (g::bigint * 2654435761) % 100 < 2 AS failed,
                                 :now - make_interval(days => 30 * (k % 12)::int + (g % 6)::int,
                                                      hours => (g * 7 % 24)::int) AS t) AS b"""),
            {"projects": project_ids, "dept": dept, "banks": banks, "town": town, "village": village_id,
             "now": now, "rows": rows, "residents": residents})
    db.session.commit()
    print(f"ledger: {rows} rows in {time.perf_counter() - start:.1f}s", file=sys.stderr)


def _insert(conn, table, batch):
    cols = ["line_id", "batch_id", "project_id", "department_id", "period", "resident_id", "route", "bank_id",
            "account_last4", "town_id", "village_id", "amount_fen", "outcome", "failure_reason", "occurred_at",
            "recorded_at"]
    conn.execute(table.insert(), [dict(zip(cols, r, strict=True)) for r in batch])


def serve(target: str, port: int, env: dict, workers: int, threads: int, token: str) -> subprocess.Popen:
    cmd = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", str(workers), "-k", "gthread",
           "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--chdir", ROOT, "--log-level", "warning",
           "--keep-alive", "30", "--preload", target]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    # Ready means every worker answers a real read over HTTP (the socket is bound long before the app is imported).
    deadline = time.time() + 120
    ok = 0
    while time.time() < deadline and ok < 4 * workers:
        try:
            ok += fetch_page(port, token, "page=1")[0] == 200
        except OSError:
            time.sleep(0.3)
    if ok >= 4 * workers:
        return proc
    proc.kill()
    raise SystemExit("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


def fetch_page(port: int, token: str, query: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{PATH}?{query}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, r.read()


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def server_cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU of the gunicorn master and its workers so far (from /proc)."""
    total = 0
    pids = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, script: str | None, proc: subprocess.Popen | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    cpu_before = server_cpu_seconds(proc) if proc else 0.0
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    cpu = server_cpu_seconds(proc) - cpu_before if proc else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None,
            "server_cpu_ms_per_request": round(cpu / max(requests, 1) * 1000, 3)}


def median_of(runs: list[dict]) -> dict:
    """The median round of each figure (errors summed): one slow round on a shared machine does not decide."""
    out = {key: statistics.median(r[key] for r in runs)
           for key in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request")}
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["socket_errors"] = [r["socket_errors"] for r in runs if r["socket_errors"]] or None
    out["rounds"] = runs
    return out


# Requests are built once per wrk thread in init() and cycled: building each in Lua per request
# costs the load generator (on the same 2 cores) more than the floor's script-less requests.
LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local requests = {}
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  for i = 1, 20000 do
    local query = "page=1"
    if math.random(4) == 1 then query = "page=2&per_page=10" end
    local t = tokens[math.random(#tokens)]
    requests[i] = wrk.format("GET", "%s?" .. query, {["Authorization"] = "Bearer " .. t})
  end
end
local n = 0
function request()
  n = n %% #requests + 1
  return requests[n]
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger entries (payments)")
    parser.add_argument("--residents", type=int, default=80_000, help="residents paid (about rows/12 for a year)")
    parser.add_argument("--tokens", type=int, default=5_000, help="signed-in residents the load picks from")
    parser.add_argument("--seconds", type=int, default=8, help="length of one measured round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating floor/product rounds (medians reported)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (floor and product alike)")
    parser.add_argument("--threads", type=int, default=2, help="gunicorn gthread threads per worker (both alike)")
    parser.add_argument("--database-url", help="a PostgreSQL database of the bench's own (dropped and rebuilt; "
                        "never the tests' one); default: a SQLite file in the work directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (tokens, SQLite file)")
    parser.add_argument("--reuse", help="a directory kept by --keep: skip building (same rows; with the same "
                        "--database-url on PostgreSQL)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = args.reuse or tempfile.mkdtemp(prefix="bench_citizen_")
    url = args.database_url or "sqlite:///" + os.path.join(work, "bench.db")
    token_file = os.path.join(work, "tokens.txt")
    t0 = time.perf_counter()
    if not args.reuse:
        tokens = build(url, args.rows, args.residents, args.tokens)
        with open(token_file, "w") as fh:
            fh.write("\n".join(tokens) + "\n")
    build_seconds = time.perf_counter() - t0
    script = os.path.join(work, "subsidies.lua")
    with open(script, "w") as fh:
        fh.write(LUA % (token_file, PATH))
    env = {**os.environ, "ONECARD_DATABASE_URL": url, "ONECARD_ENV": "development",
           "PYTHONPATH": ROOT}
    runs = {"floor": [], "subsidies": []}
    procs = []
    try:
        with open(token_file) as fh:
            sample = fh.read().split()[:50]
        floor_port, app_port = _free_port(), _free_port()
        procs.append(serve("bench.bench_citizen:floor_app()", floor_port, env, args.workers, args.threads, sample[0]))
        procs.append(serve("onecard:create_app()", app_port, env, args.workers, args.threads, sample[0]))
        # Same work: for the same requests the floor answers the product's bytes.
        for token in sample:
            for query in ("page=1", "page=2&per_page=10"):
                product, floor = fetch_page(app_port, token, query), fetch_page(floor_port, token, query)
                assert product[0] == 200 and json.loads(product[1])["items"], "the product does not answer"
                assert product == floor, f"the floor's answer differs from the product's: {floor} {product}"
        targets = {"floor": (f"http://127.0.0.1:{floor_port}", script, procs[0]),
                   "subsidies": (f"http://127.0.0.1:{app_port}", script, procs[1])}
        for target, lua, _proc in targets.values():
            wrk(target, 3, args.connections, lua)        # warm-up: page cache, pools, statement caches
        for _ in range(args.rounds):
            for name, (target, lua, proc) in targets.items():
                runs[name].append(wrk(target, args.seconds, args.connections, lua, proc))
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        if not args.keep and not args.reuse:
            shutil.rmtree(work, ignore_errors=True)
    s, f = median_of(runs["subsidies"]), median_of(runs["floor"])
    print(json.dumps({"subsidies": s, "floor": f, "build_seconds": round(build_seconds, 1)}), file=sys.stderr)
    print(json.dumps({
        "bench": "citizen_subsidies", "database": url.split(":", 1)[0].split("+")[0],
        "rows": args.rows, "residents": args.residents,
        "connections": args.connections, "workers": args.workers, "threads": args.threads, "rounds": args.rounds,
        "rps": round(s["rps"], 1), "p50_ms": round(s["p50_ms"], 2), "p99_ms": round(s["p99_ms"], 2),
        "non_2xx": s["non_2xx"], "server_cpu_ms": s["server_cpu_ms_per_request"],
        "floor_rps": round(f["rps"], 1), "floor_p50_ms": round(f["p50_ms"], 2), "floor_p99_ms": round(f["p99_ms"], 2),
        "floor_server_cpu_ms": f["server_cpu_ms_per_request"],
        "floor": "bare Flask view, same token check, same SQL text through "
                 + ("psycopg" if args.database_url else "sqlite3") + " on a persistent connection, same JSON",
        "ratio": round(s["rps"] / f["rps"], 3),
        # Server CPU per request, floor over product: what the ratio tends to when nothing else
        # competes for the cores (wrk's own share aside); stable on a shared machine where rps is not.
        "cpu_ratio": round(f["server_cpu_ms_per_request"] / s["server_cpu_ms_per_request"], 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
