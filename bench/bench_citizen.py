"""Benchmark: "my subsidies" (GET /api/citizen/v1/subsidies) on a county-sized ledger, under gunicorn.

Builds a SQLite database with --rows ledger entries (default 1,000,000) spread over
--residents residents (Core inserts), issues citizen tokens, serves the app with gunicorn on
127.0.0.1 and loads it with wrk (Debian's `wrk`, a Lua script picking a random resident's token
per request) at 32 connections. In the same run it loads a bare Flask JSON endpoint served the
same way: the floor. Prints one final JSON line with rps, p50, p99 and the ratio to the floor.

    /work/main/.venv/bin/python bench/bench_citizen.py [--rows 1000000] [--seconds 15]
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
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def floor_app():
    """The floor: a bare Flask app answering one small JSON document."""
    from flask import Flask, jsonify
    app = Flask("floor")

    @app.get("/floor")
    def floor():
        return jsonify(items=[], page=1, has_next=False)

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(db_path: str, rows: int, residents: int, tokens: int) -> list[str]:
    os.environ["ONECARD_DATABASE_URL"] = "sqlite:///" + db_path
    import sqlalchemy as sa

    from onecard import create_app
    from onecard.citizens.models import CitizenSession
    from onecard.extensions import db
    from onecard.payments.models import LedgerEntry
    from onecard.people.models import Resident
    from onecard.privacy import blind_index, mask_id
    from onecard.projects.models import Project
    from onecard.reference.models import Bank, Department, Town, Village
    from onecard.staff.models import AuthToken
    from onecard.validation import id_birth_date, id_gender, make_id_number

    app = create_app({"PASSWORD_HASH_PROFILE": "test"})
    rng = random.Random(7)
    with app.app_context():
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
        chunk = []
        for rid in range(1, residents + 1):
            birth = date(1930, 1, 1) + timedelta(days=rid % 20000)
            idn = make_id_number("370831", birth, rid // 20000 % 1000)
            chunk.append({"id": rid, "name": "基准居民", "id_number": idn, "id_bidx": blind_index(idn, "id"),
                          "id_masked": mask_id(idn), "gender": id_gender(idn), "birth_date": id_birth_date(idn),
                          "ethnicity": "01", "town_id": town, "village_id": village.id, "sms_opt_out": False,
                          "created_at": now, "updated_at": now})
            if len(chunk) == 5000:
                db.session.execute(sa.insert(Resident), chunk)
                chunk = []
        if chunk:
            db.session.execute(sa.insert(Resident), chunk)
        db.session.commit()
        conn = db.session.connection()
        table = LedgerEntry.__table__
        per = rows // residents
        line = 0
        batch = []
        start = time.perf_counter()
        for rid in range(1, residents + 1):
            n = per + (1 if rid <= rows - per * residents else 0)
            for k in range(n):
                line += 1
                failed = rng.random() < 0.02
                occurred = now - timedelta(days=30 * k + rng.randint(0, 5))
                batch.append((line, line // 1000, project_ids[k % 13], dept, occurred.strftime("%Y-%m"), rid,
                              "own_card", banks[rid % len(banks)], f"{rid % 10000:04d}", town, village.id,
                              10000 + k % 13, "failed" if failed else "paid",
                              "账户已销户" if failed else None, occurred, occurred))
            if len(batch) >= 50_000:
                _insert(conn, table, batch)
                batch = []
        if batch:
            _insert(conn, table, batch)
        db.session.commit()
        print(f"ledger: {line} rows in {time.perf_counter() - start:.1f}s", file=sys.stderr)
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
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    return plain


def _insert(conn, table, batch):
    cols = ["line_id", "batch_id", "project_id", "department_id", "period", "resident_id", "route", "bank_id",
            "account_last4", "town_id", "village_id", "amount_fen", "outcome", "failure_reason", "occurred_at",
            "recorded_at"]
    conn.execute(table.insert(), [dict(zip(cols, r, strict=True)) for r in batch])


def serve(target: str, port: int, env: dict, workers: int, ready_path: str) -> subprocess.Popen:
    cmd = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", str(workers), "-k", "gthread",
           "--threads", "8", "-b", f"127.0.0.1:{port}", "--chdir", ROOT, "--log-level", "warning",
           "--keep-alive", "30", "--preload", target]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    # Ready means every worker answers over HTTP (the socket is bound long before the app is imported).
    deadline = time.time() + 120
    ok = 0
    while time.time() < deadline and ok < 4 * workers:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=5) as r:
                ok += r.status == 200
        except OSError:
            time.sleep(0.3)
    if ok >= 4 * workers:
        return proc
    proc.kill()
    raise SystemExit("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, seconds: int, connections: int, script: str | None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None}


LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
math.randomseed(os.time())
request = function()
  local t = tokens[math.random(#tokens)]
  local page = math.random(3)
  return wrk.format("GET", "/api/citizen/v1/subsidies?page=" .. page, {["Authorization"] = "Bearer " .. t})
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--tokens", type=int, default=5_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database directory")
    parser.add_argument("--reuse", help="a directory kept by --keep: skip building (same rows)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = args.reuse or tempfile.mkdtemp(prefix="bench_citizen_")
    db_path = os.path.join(work, "bench.db")
    token_file = os.path.join(work, "tokens.txt")
    t0 = time.perf_counter()
    if not args.reuse:
        tokens = build(db_path, args.rows, args.residents, args.tokens)
        with open(token_file, "w") as fh:
            fh.write("\n".join(tokens) + "\n")
    build_seconds = time.perf_counter() - t0
    script = os.path.join(work, "subsidies.lua")
    with open(script, "w") as fh:
        fh.write(LUA % token_file)
    env = {**os.environ, "ONECARD_DATABASE_URL": "sqlite:///" + db_path, "ONECARD_ENV": "development",
           "PYTHONPATH": ROOT}
    results = {}
    try:
        port = _free_port()
        proc = serve("bench.bench_citizen:floor_app()", port, env, args.workers, "/floor")
        try:
            wrk(f"http://127.0.0.1:{port}/floor", 3, args.connections, None)   # warm-up
            results["floor"] = wrk(f"http://127.0.0.1:{port}/floor", args.seconds, args.connections, None)
        finally:
            stop(proc)
        port = _free_port()
        proc = serve("onecard:create_app()", port, env, args.workers, "/healthz")
        try:
            wrk(f"http://127.0.0.1:{port}", 3, args.connections, script)
            results["subsidies"] = wrk(f"http://127.0.0.1:{port}", args.seconds, args.connections, script)
        finally:
            stop(proc)
    finally:
        if args.keep:
            print(f"kept: {work}", file=sys.stderr)
        if not args.keep and not args.reuse:
            shutil.rmtree(work, ignore_errors=True)
    s, f = results["subsidies"], results["floor"]
    print(json.dumps({"subsidies": s, "floor": f, "build_seconds": round(build_seconds, 1)}), file=sys.stderr)
    print(json.dumps({
        "bench": "citizen_subsidies", "rows": args.rows, "residents": args.residents,
        "connections": args.connections, "workers": args.workers, "rps": round(s["rps"], 1),
        "p50_ms": round(s["p50_ms"], 2), "p99_ms": round(s["p99_ms"], 2), "non_2xx": s["non_2xx"],
        "floor_rps": round(f["rps"], 1), "floor_p50_ms": round(f["p50_ms"], 2), "floor_p99_ms": round(f["p99_ms"], 2),
        "ratio": round(s["rps"] / f["rps"], 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
