"""Benchmark: the first-day household import (家庭户导入) of N households of M members each.

    /work/main/.venv/bin/python bench/bench_people.py --households 20000 [--members 3] [--registered 0.5]
        [--format csv|xlsx] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/benchpeople]

Builds a fresh county (towns, banks, departments; an administrator) and registers a share of the members in
advance (``--registered``: as the card registry import would, so the rest are registered by the import),
writes the file (one row per member, grouped by 户号, the head first) and times, in the same run and on two
databases built alike (SQLite files, or two schemas of the PostgreSQL database given):

  (a) ``onecard.people.households.import_households`` (what the CLI, the staff API and the console call),
      committed;
  (b) the floor: the bare SQL doing the same work through the driver: the same file read by the same reader,
      the same blind index of every ID and the same encryption of the new members' IDs; the registered
      members looked up by blind index (batched); the same rows into the same tables with the same keys and
      indexes (new residents, households, memberships; the registered members' and the households' current
      view updated) and the same audit entries (one per new resident, one per household, the same JSON,
      chained with the same HMAC), in one transaction.

The product's time is split at its commit: ``import_seconds`` (read, check, write, commit: the floor's work)
and ``publish_seconds`` (the payee changes published after commit, one per household, to the subscribers:
``onecard.payments.owed`` re-evaluates owed lines and commits for each). ``ratio`` is floor / the whole call,
``import_ratio`` floor / import_seconds.

Checks the product's outcome (households, memberships, residents, audit entries) equals the floor's, and with
``--verify`` that the audit chain verifies. Prints one final JSON line.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from bench.bulk import bulk_insert, log  # noqa: E402

CHUNK = 20_000
RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹")
SURNAMES = "王张李刘孔孟颜曾赵陈杨黄周吴徐孙朱马胡郭"
GIVEN = "秀英桂兰玉凤建国志强明华军伟芳娜静敏丽强磊洋艳勇杰涛超霞"


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def person_name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 20) % len(GIVEN)] + GIVEN[(i // 600) % len(GIVEN)]


def id_numbers(count: int):
    from onecard.validation import make_id_number
    start, n, day = date(1940, 1, 1), 0, 0
    while True:
        birth = start + timedelta(days=day)
        for seq in range(1000):
            yield make_id_number("370831", birth, seq)
            n += 1
            if n >= count:
                return
        day += 1


def people(households: int, members: int):
    """(member number from 0, household number, position in household, ID, name)."""
    for i, idn in enumerate(id_numbers(households * members)):
        yield i, i // members, i % members, idn, person_name(i)


def is_registered(i: int, share: float) -> bool:
    """Spread evenly: every household mixes registered and new members (at share 0.5, 2 of 3 or 1 of 3)."""
    return int((i + 1) * share) != int(i * share)


def household_code(h: int) -> str:
    return f"3708311{h:09d}"


# ------------------------------------------------------------------ set-up

def prepare_urls(url: str | None, workdir: str) -> tuple[dict[str, str], str]:
    if not url:
        return {k: "sqlite:///" + os.path.join(workdir, f"{k}.db") for k in ("product", "floor")}, "sqlite"
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for k in ("product", "floor"):
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS bench_people_{k} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA bench_people_{k}"))
        engine.dispose()
        sep = "&" if "?" in url else "?"
        return {k: f"{url}{sep}options=-csearch_path%3Dbench_people_{k}" for k in ("product", "floor")}, "postgresql"
    raise SystemExit("--database-url: PostgreSQL only (SQLite is the default)")


def make_app(url: str):
    from onecard import create_app
    return create_app({"ENV": "testing", "DATABASE_URL": url, "PASSWORD_HASH_PROFILE": "test",
                       "UPLOAD_MAX_BYTES": 1 << 40})


def build_county(households: int, members: int, share: float):
    """Schema, reference data, the administrator and the members registered in advance. Returns the actor and
    the town names."""
    from onecard.actors import Actor
    from onecard.extensions import db
    from onecard.people.models import Resident
    from onecard.privacy import blind_index, encrypt_many, mask_id
    from onecard.reference import service as reference
    from onecard.reference.models import Town
    from onecard.staff.models import StaffAccount
    from onecard.validation import id_birth_year, id_gender
    db.create_all()
    reference.seed()
    staff = StaffAccount(username="bench_admin", display_name="bench", role="admin", password_hash="x")
    db.session.add(staff)
    db.session.commit()
    towns = db.session.execute(sa.select(Town.id, Town.name).order_by(Town.id)).all()
    conn = db.session.connection()
    now = datetime(2026, 1, 1)
    batch: list[dict] = []

    def flush_batch():
        ciphers = encrypt_many([r["id_number"] for r in batch])
        for r, c in zip(batch, ciphers, strict=True):
            r["id_number"] = c
        bulk_insert(conn, Resident.__table__, batch)
        batch.clear()

    for i, h, _pos, idn, name in people(households, members):
        if not is_registered(i, share):
            continue
        batch.append({"name": name, "id_number": idn, "id_bidx": blind_index(idn, "id"), "id_masked": mask_id(idn),
                      "gender": id_gender(idn), "birth_year": id_birth_year(idn), "ethnicity": "01",
                      "town_id": towns[h % len(towns)].id, "sms_opt_out": False, "created_at": now,
                      "updated_at": now})
        if len(batch) >= CHUNK:
            flush_batch()
    if batch:
        flush_batch()
    db.session.commit()
    if conn.dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT setval('residents_id_seq', (SELECT coalesce(max(id), 1) FROM residents))"))
        db.session.execute(sa.text("ANALYZE residents"))
        db.session.commit()
    actor = Actor(kind="staff", id=staff.id, role="admin", label="bench", channel="cli")
    return actor, [t.name for t in towns]


def write_file(path: str, households: int, members: int, town_names: list[str], fmt: str) -> None:
    from onecard.people.households import HOUSEHOLDS_SHEET
    headers = list(HOUSEHOLDS_SHEET.columns)

    def lines():
        for _i, h, pos, idn, name in people(households, members):
            yield [household_code(h), "", RELATIONS[pos % len(RELATIONS)], name, idn, town_names[h % len(town_names)],
                   "", f"{town_names[h % len(town_names)]}{h % 500}号" if pos == 0 else ""]

    if fmt == "csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerows(lines())
        return
    import xlsxwriter
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet(HOUSEHOLDS_SHEET.sheet_name)
    for c, h in enumerate(headers):
        sheet.write_string(0, c, h)
    for r, line in enumerate(lines(), start=1):
        for c, v in enumerate(line):
            sheet.write_string(r, c, v)
    book.close()


# ------------------------------------------------------------------ the floor

def floor_import(path: str, filename: str, actor) -> float:
    """The same work as bare SQL through the driver, in one transaction (see the module's docstring)."""
    from onecard import audit
    from onecard.extensions import db
    from onecard.people.households import HOUSEHOLDS_SHEET
    from onecard.privacy import blind_index, encrypt_many, mask_id
    from onecard.reference.models import Town
    from onecard.sheets import header_key, read_rows
    from onecard.timeutil import local_today, utcnow
    from onecard.validation import id_birth_year, id_gender
    town_ids = {name: tid for name, tid in db.session.execute(sa.select(Town.name, Town.id))}
    db.session.rollback()
    sqlite = db.engine.dialect.name == "sqlite"
    p = "?" if sqlite else "%s"
    conn = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        started = time.perf_counter()
        keys = {header_key(h): f for h, f in HOUSEHOLDS_SHEET.columns.items()}
        with open(path, "rb") as stream:
            rows = [{keys[k]: v for k, v in cells.items() if k in keys} for _n, cells in
                    read_rows(stream, filename, required=HOUSEHOLDS_SHEET.required,
                              header_aliases=HOUSEHOLDS_SHEET.aliases)]
        for r in rows:
            r["bidx"] = blind_index(r["id_number"], "id")
        found: dict[str, tuple[int, str]] = {}
        bidxs = [r["bidx"] for r in rows]
        for start in range(0, len(bidxs), 5000):
            part = bidxs[start:start + 5000]
            cur.execute(f"SELECT id_bidx, id, name FROM residents WHERE id_bidx IN ({', '.join([p] * len(part))})",
                        part)
            found.update((b, (rid, name)) for b, rid, name in cur.fetchall())

        def next_id(table: str) -> int:
            cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
            return cur.fetchone()[0] + 1

        now, today = utcnow(), local_today()
        hid, rid, mid = next_id("households"), next_id("residents"), next_id("household_memberships")
        households, new_residents, updates, memberships, heads = [], [], [], [], []
        audit_items: list[tuple[str, str, int, dict]] = []   # (action, entity_type, id, after)
        groups: dict[str, int] = {}
        snapshots: dict[int, dict] = {}
        new_rows = [r for r in rows if r["bidx"] not in found]
        ciphers = encrypt_many([r["id_number"] for r in new_rows])
        cipher_of = {r["bidx"]: c for r, c in zip(new_rows, ciphers, strict=True)}
        for r in rows:
            code, town = r["code"], town_ids[r["town"]]
            if code not in groups:
                groups[code] = hid
                households.append((hid, code, town, None, r.get("address") or None, now))
                snapshots[hid] = {"code": code, "town_id": town, "village_id": None,
                                  "address": r.get("address") or None, "head_id": None, "members": []}
                hid += 1
            h = groups[code]
            relation = r["relation"]
            if r["bidx"] in found:
                resident_id = found[r["bidx"]][0]
                updates.append((h, relation, now, resident_id))
            else:
                resident_id, idn = rid, r["id_number"]
                rid += 1
                new_residents.append((resident_id, r["name"], cipher_of[r["bidx"]], r["bidx"], mask_id(idn),
                                      id_gender(idn), id_birth_year(idn), "01", town, None, h, relation, False,
                                      now, now))
                audit_items.append(("resident.registered", "resident", resident_id, {
                    "name": r["name"], "id_number": mask_id(idn), "town_id": town, "village_id": None,
                    "household_id": None, "relation_to_head": None, "deceased_on": None}))
            memberships.append((mid, h, resident_id, relation, today, "导入建户", now))
            mid += 1
            snapshots[h]["members"].append({"resident_id": resident_id, "relation": relation})
            if relation == "户主":
                heads.append((resident_id, h))
                snapshots[h]["head_id"] = resident_id
        audit_items += [("household.created", "household", h, snap) for h, snap in snapshots.items()]

        cur.executemany(f"INSERT INTO households (id, code, town_id, village_id, address, created_at) "
                        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})", households)
        cur.executemany("INSERT INTO residents (id, name, id_number, id_bidx, id_masked, gender, birth_year, ethnicity, "
                        "town_id, village_id, household_id, relation_to_head, sms_opt_out, created_at, updated_at) "
                        f"VALUES ({', '.join([p] * 15)})", new_residents)
        cur.executemany(f"UPDATE residents SET household_id = {p}, relation_to_head = {p}, updated_at = {p} "
                        f"WHERE id = {p}", updates)
        cur.executemany("INSERT INTO household_memberships (id, household_id, resident_id, relation, since, "
                        f"start_reason, created_at) VALUES ({', '.join([p] * 7)})", memberships)
        cur.executemany(f"UPDATE households SET head_id = {p} WHERE id = {p}", heads)

        cur.execute(f"UPDATE audit_head SET last_seq = last_seq + {p} WHERE id = 1 RETURNING last_seq, last_hash",
                    (len(audit_items),))
        last_seq, prev = cur.fetchone()
        seq = last_seq - len(audit_items)
        entries = []
        note = f"家庭户导入：{filename}"
        for action, etype, eid, after in audit_items:
            seq += 1
            at = utcnow()
            fields = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor_kind": actor.kind,
                      "actor_id": actor.id, "actor_label": actor.label, "on_behalf_of": None, "action": action,
                      "entity_type": etype, "entity_id": str(eid), "before": None, "after": audit._canonical(after),
                      "note": note if etype == "household" else None, "ip": None, "channel": actor.channel}
            digest = audit._entry_hash(prev, fields)
            entries.append((seq, at, actor.kind, actor.id, actor.label, None, action, etype, str(eid), None,
                            fields["after"], fields["note"], None, actor.channel, prev, digest))
            prev = digest
        cur.executemany("INSERT INTO audit_entries (seq, at, actor_kind, actor_id, actor_label, on_behalf_of, action, "
                        "entity_type, entity_id, before, after, note, ip, channel, prev_hash, hash) "
                        f"VALUES ({', '.join([p] * 16)})", entries)
        cur.execute(f"UPDATE audit_head SET last_hash = {p} WHERE id = 1", (prev,))
        if not sqlite:
            for table in ("households", "residents", "household_memberships"):
                cur.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def outcome() -> dict:
    from onecard import audit
    from onecard.extensions import db
    from onecard.people.models import Household, HouseholdMembership, Resident

    def count(stmt):
        return db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()

    return {"households": count(sa.select(Household.id)),
            "headed": count(sa.select(Household.id).where(Household.head_id.is_not(None))),
            "memberships": count(sa.select(HouseholdMembership.id)),
            "residents": count(sa.select(Resident.id)),
            "members": count(sa.select(Resident.id).where(Resident.household_id.is_not(None))),
            "audit_entries": count(sa.select(audit.AuditEntry.id))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--registered", type=float, default=0.5, help="share of members registered in advance")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (two schemas are made in it)")
    parser.add_argument("--verify", action="store_true", help="verify the product's audit chain afterwards")
    args = parser.parse_args()
    from onecard.people.households import HOUSEHOLDS_SHEET

    workdir = tempfile.mkdtemp(prefix="bench_people_")
    urls, dialect = prepare_urls(args.database_url, workdir)
    rows = args.households * args.members
    path = os.path.join(workdir, f"households.{args.format}")
    filename = f"家庭户.{args.format}"
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    commits: list[float] = []

    def committed(_session):
        commits.append(time.perf_counter())

    from sqlalchemy.orm import Session
    for which in ("floor", "product"):
        app = make_app(urls[which])
        with app.app_context():
            from onecard.extensions import db
            started = time.perf_counter()
            actor, town_names = build_county(args.households, args.members, args.registered)
            if not os.path.exists(path):
                write_file(path, args.households, args.members, town_names, args.format)
            log(f"{which}: county and file ({os.path.getsize(path) >> 20} MB, {rows} rows) in "
                f"{time.perf_counter() - started:.1f}s")
            if which == "floor":
                seconds[which] = floor_import(path, filename, actor)
            else:
                from onecard.people.households import import_households
                if rows > HOUSEHOLDS_SHEET.max_rows:
                    log(f"note: {rows} rows is over the import's {HOUSEHOLDS_SHEET.max_rows}-row limit; "
                        "raised for this run to measure it")
                    object.__setattr__(HOUSEHOLDS_SHEET, "max_rows", rows)
                profiler = None
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile
                    profiler = cProfile.Profile()
                    profiler.enable()
                commits.clear()
                # The import commits once, then publishes its payee changes (one per household) to the
                # subscribers, each committing its own work: the first commit splits the two.
                sa.event.listen(Session, "after_commit", committed)
                started = time.perf_counter()
                with open(path, "rb") as stream:
                    counts = import_households(actor, stream.read(), filename)
                seconds[which] = time.perf_counter() - started
                sa.event.remove(Session, "after_commit", committed)
                seconds["commit"] = commits[0] - started
                if profiler is not None:
                    profiler.disable()
                    import pstats
                    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
                    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
                    stats.print_stats(r"onecard/", 30)
                    stats.print_callees(r"_write_imported|register_residents|record_many|import_rows")
                assert counts == {"households": args.households, "members": rows}, counts
            results[which] = outcome()
            log(f"{which}: {seconds[which]:.2f}s; {results[which]}")
            if which == "product" and args.verify:
                from onecard import audit
                report = audit.verify_chain()
                assert report.ok, report.problems[:5]
            db.session.remove()
            db.engine.dispose()
    assert results["product"] == results["floor"], results
    print(json.dumps({
        "bench": "household_import", "db": dialect, "format": args.format, "households": args.households,
        "members_per_household": args.members, "rows": rows, "registered_share": args.registered,
        "seconds": round(seconds["product"], 3), "rows_per_s": round(rows / seconds["product"]),
        "floor_seconds": round(seconds["floor"], 3), "ratio": round(seconds["floor"] / seconds["product"], 3),
        "import_seconds": round(seconds["commit"], 3), "publish_seconds": round(seconds["product"] - seconds["commit"], 3),
        "import_ratio": round(seconds["floor"] / seconds["commit"], 3),
        "county_estimate_seconds": round(seconds["product"] * 200_000 / args.households, 1),
        "outcome": results["product"], "peak_rss_mb": rss_mb(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
