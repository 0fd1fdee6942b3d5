"""Benchmark: drain N arrival notices with two drainer processes against the fake Twilio on loopback.

    /work/main/.venv/bin/python bench/bench_notices.py --notices 100000 [--drainers 2] [--database-url URL]

Fills the outbox (arrival events -> enqueue_arrivals), then measures in the same run:
* the fake's ceiling: the bare real twilio client creating messages in a loop, with the same number
  of processes as drainers;
* the drain: `drainers` processes running notices.jobs.drain_once with the rate limit off.
Counts duplicates (a notice texted more than once) and lost notices (never texted) from what the
fake received, and checks the outbox says 'sent' for all the SMS notices (the outbox also holds the
"staff" and "assist" channels, not made from arrival events: the bench neither fills nor drains them).
Each send is fenced per notice (issue #16), so a drainer's ``lost`` count (a claimed notice another
drainer took over before the fence) is printed as ``taken_over``; it is not a lost notice.
The load average at the start and end is printed too (the machine is shared).

``--profile DIR`` runs each drainer under cProfile (slower: for where the time goes, not for the
figures), writes DIR/drain-N.prof and prints the drainers' time in claim / fence / send / write-back
and their commits and statements per notice.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from urllib.parse import parse_qs, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _app(database_url: str):
    from onecard import create_app
    return create_app({"ENV": "testing", "DATABASE_URL": database_url, "PASSWORD_HASH_PROFILE": "test",
                       "QUIET_HOURS": "", "SMS_RATE_PER_SECOND": 0.0})


# ------------------------------------------------------------------ worker processes

# The drainer's steps whose cumulative time --profile reports: (label, module file suffix, function name).
PROFILED_STEPS = (("claim", "notifications/jobs.py", "claim"), ("fence", "notifications/jobs.py", "fence"),
                  ("send", "onecard/notices/senders.py", "send"),
                  ("write_back", "notifications/jobs.py", "_write_back"))


def worker_drain(args) -> None:
    app = _app(args.database_url)
    from notifications import jobs
    with app.app_context():
        counts = {"commits": 0, "statements": 0}
        profiler = None
        if args.profile:
            import cProfile

            import sqlalchemy as sa

            from onecard.extensions import db

            # listeners only count: nothing of the drainer's I/O is replaced
            sa.event.listen(db.engine, "commit", lambda conn: counts.__setitem__("commits", counts["commits"] + 1))
            sa.event.listen(db.engine, "before_cursor_execute",
                            lambda *a: counts.__setitem__("statements", counts["statements"] + 1))
            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.time()
        stats = jobs.drain_once(batch_size=args.batch_size, channels=("sms",))
        t1 = time.time()
        steps = {}
        if profiler is not None:
            import pstats
            profiler.disable()
            path = os.path.join(args.profile, f"drain-{os.getpid()}.prof")
            profiler.dump_stats(path)
            table = pstats.Stats(path).stats
            for label, suffix, name in PROFILED_STEPS:
                steps[label] = round(sum(v[3] for (file, _line, fn), v in table.items()
                                         if fn == name and file.endswith(suffix)), 3)
    print(json.dumps({"t0": t0, "t1": t1, **stats.to_dict(), "steps": steps, **counts}))


def worker_ceiling(args) -> None:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client
    client = Client(args.sid, args.token, http_client=TwilioHttpClient(timeout=30))
    client.api.base_url = args.base_url
    client.messages.create(to="+8613900000000", from_="+15005550006", body="warm-up")
    t0 = time.time()
    for i in range(args.count):
        client.messages.create(to=f"+86139{i % 100000000:08d}", from_="+15005550006",
                               body="【泗水县人社局】您的2026年11月城乡居民基础养老金183.00元已发放至您尾号1234的社保卡，请注意查收。",
                               status_callback=f"http://127.0.0.1/hooks/twilio/status?notice=ceiling{i}")
    t1 = time.time()
    print(json.dumps({"t0": t0, "t1": t1, "count": args.count}))


# ------------------------------------------------------------------ set-up

def fill(app, n: int, residents: int) -> float:
    import sqlalchemy as sa

    from onecard.extensions import db
    from onecard.notices import service
    from onecard.payments.models import ArrivalEvent
    from onecard.people.models import Resident
    from onecard.privacy import blind_index, mask_id, mask_mobile
    from onecard.projects.models import Project
    from onecard.reference import service as reference
    from onecard.reference.models import Bank, Department, Town
    from onecard.validation import id_birth_year, id_gender, make_id_number
    with app.app_context():
        db.drop_all()
        db.create_all()
        reference.seed()
        town = db.session.execute(sa.select(Town.id)).scalars().first()
        bank = db.session.execute(sa.select(Bank.id)).scalars().first()
        dept = db.session.execute(sa.select(Department.id).where(Department.code == "05")).scalar()
        project = Project(code="P0501", department_id=dept, category="社会保险待遇", name="城乡居民基础养老金",
                          cycle="monthly", bank_id=bank, status="coded", standard_fen=18300)
        db.session.add(project)
        db.session.commit()
        rows = []
        for i in range(residents):
            idn = make_id_number("370831", date(1940 + i % 40, 1 + i % 12, 1 + i % 28), i % 1000)
            mobile = f"139{i:08d}"
            rows.append({"name": "演示居民", "id_number": idn, "id_bidx": blind_index(idn, "id"),
                         "id_masked": mask_id(idn), "gender": id_gender(idn), "birth_year": id_birth_year(idn),
                         "ethnicity": "01", "mobile": mobile, "mobile_bidx": blind_index(mobile, "mobile"),
                         "mobile_masked": mask_mobile(mobile), "town_id": town, "sms_opt_out": False,
                         "created_at": datetime.utcnow(), "updated_at": datetime.utcnow()})
        db.session.execute(sa.insert(Resident), rows)
        ids = db.session.execute(sa.select(Resident.id).order_by(Resident.id)).scalars().all()
        paid = datetime(2026, 11, 5, 2, 0)
        for start in range(0, n, 20000):
            db.session.execute(sa.insert(ArrivalEvent), [
                {"payment_key": f"line:{i}", "resident_id": ids[i % len(ids)], "project_id": project.id,
                 "period": f"{2000 + (i // len(ids)) % 100:04d}-{1 + (i // len(ids)) // 100 % 12:02d}",
                 "amount_fen": 18300, "bank_id": bank, "account_last4": f"{i % 10000:04d}", "paid_at": paid,
                 "created_at": paid} for i in range(start, min(n, start + 20000))])
        db.session.commit()
        t0 = time.time()
        counts = service.enqueue_arrivals()
        assert counts["sms"] == n, counts
        return time.time() - t0


def _spawn(args_list, env):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args_list], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collect(procs) -> list[dict]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"worker failed ({p.returncode}):\n{stderr[-3000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notices", "--rows", type=int, default=100_000)
    ap.add_argument("--drainers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    ap.add_argument("--ceiling-count", type=int, default=None, help="messages per ceiling process")
    ap.add_argument("--worker", choices=["drain", "ceiling"], default=None)
    ap.add_argument("--sid")
    ap.add_argument("--token")
    ap.add_argument("--base-url")
    ap.add_argument("--count", type=int)
    ap.add_argument("--profile", default=None, help="a directory: run the drainers under cProfile")
    args = ap.parse_args()
    if args.worker == "drain":
        return worker_drain(args)
    if args.worker == "ceiling":
        return worker_ceiling(args)

    from tests.fakes.twilio import FakeTwilio
    load_start = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="bench_notices_")
    url = args.database_url or "sqlite:///" + os.path.join(tmp, "bench.db")
    app = _app(url)
    enqueue_seconds = fill(app, args.notices, residents=min(args.notices, 5000))

    fake = FakeTwilio()
    fake.start()
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "ONECARD_SMS_PROVIDER": "twilio",
           "ONECARD_TWILIO_ACCOUNT_SID": fake.account_sid, "ONECARD_TWILIO_AUTH_TOKEN": fake.auth_token,
           "ONECARD_TWILIO_FROM": "+15005550006", "ONECARD_TWILIO_BASE_URL": fake.base_url,
           "ONECARD_PUBLIC_BASE_URL": "http://127.0.0.1:5000", "ONECARD_SMS_RATE_PER_SECOND": "0",
           "ONECARD_QUIET_HOURS": ""}
    env.pop("TWILIO_EDGE", None)
    env.pop("TWILIO_REGION", None)
    try:
        # the fake's own ceiling, same concurrency, same client
        per = args.ceiling_count or max(500, min(args.notices // args.drainers, 5000))
        res = _collect([_spawn(["--worker", "ceiling", "--sid", fake.account_sid, "--token", fake.auth_token,
                                "--base-url", fake.base_url, "--count", str(per)], env)
                        for _ in range(args.drainers)])
        ceiling = sum(r["count"] for r in res) / (max(r["t1"] for r in res) - min(r["t0"] for r in res))
        ceiling_messages = len(fake.messages)

        drain_args = ["--worker", "drain", "--database-url", url, "--batch-size", str(args.batch_size)]
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
            drain_args += ["--profile", os.path.abspath(args.profile)]
        res = _collect([_spawn(drain_args, env) for _ in range(args.drainers)])
        seconds = max(r["t1"] for r in res) - min(r["t0"] for r in res)
        sent_msgs = fake.messages[ceiling_messages:]
        per_notice = collections.Counter(parse_qs(urlsplit(m.status_callback).query)["notice"][0] for m in sent_msgs)
    finally:
        fake.stop()

    import sqlalchemy as sa

    from onecard.extensions import db
    from onecard.notices.models import Notice
    with app.app_context():
        sms = sa.select(Notice).where(Notice.channel == "sms")
        states = dict(collections.Counter(db.session.execute(sms.with_only_columns(Notice.state)).scalars()))
        ids = {str(i) for i in db.session.execute(sms.with_only_columns(Notice.id)).scalars()}
    duplicates = sum(c - 1 for c in per_notice.values() if c > 1)
    profile = {}
    if args.profile:
        sent = sum(r["sent"] + r["reconciled"] for r in res) or 1
        profile = {"drainer_seconds": round(sum(r["t1"] - r["t0"] for r in res), 2),
                   "steps_seconds": {k: round(sum(r["steps"][k] for r in res), 2) for k in res[0]["steps"]},
                   "commits_per_notice": round(sum(r["commits"] for r in res) / sent, 2),
                   "statements_per_notice": round(sum(r["statements"] for r in res) / sent, 2)}
    lost = len(ids - set(per_notice)) + sum(v for k, v in states.items() if k != "sent")
    nps = args.notices / seconds
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"bench": "notices", "rows": args.notices, "notices": args.notices, "drainers": args.drainers,
                      "db": url.split(":")[0], "enqueue_seconds": round(enqueue_seconds, 2),
                      "seconds": round(seconds, 2), "notices_per_second": round(nps, 1),
                      "ceiling_per_second": round(ceiling, 1), "floor_seconds": round(args.notices / ceiling, 2),
                      "ratio": round(nps / ceiling, 3), "duplicates": duplicates, "lost": lost,
                      "claims": sum(r["claimed"] for r in res), "taken_over": sum(r["lost"] for r in res),
                      "states": states, "peak_rss_mb": round(rss / 1024, 1),
                      "load_start": [round(x, 2) for x in load_start],
                      "load_end": [round(x, 2) for x in os.getloadavg()], **profile}))


if __name__ == "__main__":
    main()
