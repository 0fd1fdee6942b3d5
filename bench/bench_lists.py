"""Benchmark: upload + validation + storing of an attachment-3 list, and matching it against the registry.

Makes a synthetic attachment-3 file of N rows (CSV by default, ``--format xlsx`` for xlsx) and a
2N-card registry (residents + cards, inserted set-based with Core inserts), then times

  (a) ``onecard.lists.service.upload`` (read, validate, encrypt, store, commit), against the floor:
      the same file read by the same reader, plus a bare executemany INSERT of the same rows (those the
      upload stored, read back untimed) into a copy of ``recipient_rows`` with the same columns, keys,
      indexes and foreign keys, committed. Storing a list means keeping its rows under the one-person-per-
      project-and-period key and its references, so a table without them would not be the same work (the
      disbursement benchmark's floor likewise runs on the same schema). The earlier floor, the file's ten
      columns into a plain table with no key, is still measured and printed as ``upload.plain_floor``;
  (b) ``onecard.lists.matching.match_list``, against the floor: a bare SQL join of the same rows
      with residents and live cards that stores its result in those rows (UPDATE ... FROM, committed),
      since matching must keep a result per row.

Prints one final JSON line. Usage:
    python bench/bench_lists.py [--rows 1000000] [--format csv|xlsx] [--database-url postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

CHUNK = 20_000


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def id_numbers(count: int):
    """``count`` distinct valid 18-digit IDs under the county's area code."""
    from onecard.validation import make_id_number
    start = date(1940, 1, 1)
    n = 0
    day = 0
    while True:
        birth = start + timedelta(days=day)
        for seq in range(1000):
            yield make_id_number("370831", birth, seq)
            n += 1
            if n >= count:
                return
        day += 1


def account_number(i: int) -> str:
    from onecard.validation import luhn_check_digit
    body = f"622848{i:012d}"
    return body + luhn_check_digit(body)


SURNAMES = "王张李刘孔孟颜曾赵陈杨黄周吴徐孙朱马胡郭"
GIVEN = "秀英桂兰玉凤建国志强明华军伟芳娜静敏丽强磊洋艳勇杰涛超霞"


def person_name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 20) % len(GIVEN)] + GIVEN[(i // 600) % len(GIVEN)]


def build_registry(rows: int, banks: list[int], towns: list[int]) -> None:
    """2N residents each with one card (mixed statuses), written in chunks with Core executemany."""
    from onecard.cards.models import Card
    from onecard.extensions import db
    from onecard.people.models import Resident
    from onecard.privacy import blind_index, mask_id
    from onecard.validation import id_birth_year, id_gender
    rng = random.Random(7)
    statuses = ["active"] * 80 + ["issued"] * 8 + ["applied"] * 5 + ["ready"] * 2 + ["lost"] * 5
    conn = db.session.connection()
    resident_table, card_table = Resident.__table__, Card.__table__
    now = date(2026, 1, 1)
    batch_r, batch_c = [], []
    for i, idn in enumerate(id_numbers(2 * rows), start=1):
        batch_r.append({"id": i, "name": person_name(i), "id_number": idn, "id_bidx": blind_index(idn, "id"),
                        "id_masked": mask_id(idn), "gender": id_gender(idn), "birth_year": id_birth_year(idn),
                        "ethnicity": "01", "town_id": towns[i % len(towns)], "created_at": now, "updated_at": now,
                        "sms_opt_out": False})
        account = account_number(i)
        batch_c.append({"id": i, "resident_id": i, "bank_id": banks[i % len(banks)],
                        "status": statuses[rng.randrange(100)], "account": account,
                        "account_bidx": blind_index(account, "account"), "account_last4": account[-4:],
                        "status_changed_at": now, "created_at": now, "source": "registry"})
        if len(batch_r) >= CHUNK:
            conn.execute(sa.insert(resident_table), batch_r)
            conn.execute(sa.insert(card_table), batch_c)
            batch_r, batch_c = [], []
    if batch_r:
        conn.execute(sa.insert(resident_table), batch_r)
        conn.execute(sa.insert(card_table), batch_c)
    db.session.commit()
    # A registry this size arrives by import, after which statistics are current (autovacuum would
    # get there later): plan the floor's and the product's joins on the same, fresh statistics.
    db.session.execute(sa.text("ANALYZE residents"))
    db.session.execute(sa.text("ANALYZE cards"))
    db.session.commit()


def write_file(path: str, rows: int, fmt: str, town_names: list[str], bank_names: list[str]) -> None:
    """The list: the first N of the registry's 2N people, 3% of them under a different name."""
    from onecard.lists.reader import COLUMNS
    headers = [h for _k, h, _r in COLUMNS]

    def lines():
        for i, idn in enumerate(id_numbers(rows), start=1):
            name = person_name(i) if i % 33 else person_name(i + 1) + "明"
            yield [name, idn, "汉族", f"139{i:08d}", town_names[i % len(town_names)], "",
                   bank_names[i % len(bank_names)], account_number(i), "100.00", "2026-11-05"]

    if fmt == "csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerows(lines())
    else:
        import xlsxwriter
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
        sheet = book.add_worksheet()
        for c, h in enumerate(headers):
            sheet.write_string(0, c, h)
        for r, line in enumerate(lines(), start=1):
            for c, v in enumerate(line):
                sheet.write_string(r, c, v)
        book.close()


def read_seconds(path: str, fmt: str) -> float:
    """The same reader over the whole file, every row taken and dropped."""
    from onecard import sheets
    started = time.perf_counter()
    with open(path, "rb") as stream:
        for _row in sheets.iter_rows(stream, fmt):
            pass
    return time.perf_counter() - started


def floor_upload(path: str, fmt: str, list_id: int) -> float:
    """The same reader, plus a bare executemany of the rows the upload stored into a copy of recipient_rows
    (same columns, constraints, indexes and foreign keys, created empty as recipient_rows was before the
    upload), in one transaction. Fetching the stored rows back is not timed."""
    from onecard.extensions import db
    from onecard.lists.models import RecipientRow
    table = RecipientRow.__table__
    dialect = db.engine.dialect

    def ddl(element) -> str:
        return str(element.compile(dialect=dialect)).replace("recipient_rows", "bench_floor_rows")

    columns = [c.name for c in table.columns if c.name != "id"]
    placeholder = "?" if dialect.name == "sqlite" else "%s"
    insert = (f"INSERT INTO bench_floor_rows ({', '.join(columns)}) "
              f"VALUES ({', '.join([placeholder] * len(columns))})")
    # The session's open read (e.g. of the list just stored) would hold a lock the new table's foreign
    # keys must wait for on PostgreSQL.
    db.session.rollback()
    conn = db.engine.raw_connection()
    source = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_floor_rows")
        cur.execute(ddl(sa.schema.CreateTable(table)))
        for index in table.indexes:
            cur.execute(ddl(sa.schema.CreateIndex(index)))
        conn.commit()
        if dialect.name == "sqlite":   # the product's upload runs with the same page cache
            from onecard.lists.importer import SQLITE_UPLOAD_CACHE_KIB
            cur.execute(f"PRAGMA cache_size = -{SQLITE_UPLOAD_CACHE_KIB}")
        # Streamed (a named, server-side cursor on PostgreSQL): the stored rows are never all in memory.
        rows = source.cursor(name="bench_floor_source") if dialect.name == "postgresql" else source.cursor()
        rows.execute(f"SELECT {', '.join(columns)} FROM recipient_rows WHERE list_id = {int(list_id)} ORDER BY id")
        seconds = read_seconds(path, fmt)
        while chunk := rows.fetchmany(5000):
            started = time.perf_counter()
            cur.executemany(insert, chunk)
            seconds += time.perf_counter() - started
        started = time.perf_counter()
        conn.commit()
        seconds += time.perf_counter() - started
        cur.execute("DROP TABLE bench_floor_rows")
        conn.commit()
        return seconds
    finally:
        source.close()
        conn.close()


def floor_upload_plain(path: str, fmt: str) -> float:
    """Same reader, then a bare executemany of the file's ten columns into a plain table, in one transaction."""
    from onecard import sheets
    from onecard.extensions import db
    conn = db.engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_floor_rows")
        cur.execute("CREATE TABLE bench_floor_rows (c1 text, c2 text, c3 text, c4 text, c5 text, c6 text, "
                    "c7 text, c8 text, c9 text, c10 text)")
        conn.commit()
        placeholder = "?" if db.engine.dialect.name == "sqlite" else "%s"
        sql = f"INSERT INTO bench_floor_rows VALUES ({', '.join([placeholder] * 10)})"
        started = time.perf_counter()
        with open(path, "rb") as stream:
            rows = sheets.iter_rows(stream, fmt)
            next(rows)
            chunk = []
            for _row_no, values in rows:
                chunk.append(values[:10])
                if len(chunk) >= 5000:
                    cur.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cur.executemany(sql, chunk)
        conn.commit()
        seconds = time.perf_counter() - started
        cur.execute("DROP TABLE bench_floor_rows")
        conn.commit()
        return seconds
    finally:
        conn.close()


def floor_match(list_id: int) -> float:
    """The bare join of the list's rows with residents and live cards, storing its result in the same rows
    (matching must keep a result per row, so a join that only counted would not be the same work); the
    stored columns are cleared again, untimed, before the product runs."""
    from onecard.extensions import db
    from onecard.timeutil import utcnow
    started = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL jit = off"))   # as the product does: JIT only costs here
    db.session.execute(sa.text(
        "UPDATE recipient_rows SET resident_id = r.id, card_id = c.id, matched_at = :now "
        "FROM residents r LEFT JOIN cards c ON c.resident_id = r.id AND c.status <> 'cancelled' "
        "WHERE recipient_rows.list_id = :l AND r.id_bidx = recipient_rows.id_bidx"), {"l": list_id, "now": utcnow()})
    db.session.commit()
    seconds = time.perf_counter() - started
    db.session.execute(sa.text("UPDATE recipient_rows SET resident_id = NULL, card_id = NULL, matched_at = NULL "
                               "WHERE list_id = :l"), {"l": list_id})
    db.session.commit()
    return seconds


def prepare_database(url: str | None, workdir: str) -> tuple[str, str]:
    if not url:
        return "sqlite:///" + os.path.join(workdir, "bench.db"), "sqlite"
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS bench_lists CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA bench_lists"))
        engine.dispose()
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3Dbench_lists", "postgresql"
    return url, url.split(":", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workers", type=int, default=None,
                        help="LIST_UPLOAD_WORKERS for the upload (default: the product's, CPUs - 1)")
    args = parser.parse_args()

    from onecard import create_app
    from onecard.actors import Actor
    from onecard.extensions import db
    from onecard.lists import matching
    from onecard.lists import service as lists
    from onecard.projects.models import Project
    from onecard.reference import service as reference
    from onecard.reference.models import Bank, Department, Town
    from onecard.staff.models import StaffAccount
    from onecard.timeutil import utcnow

    workdir = tempfile.mkdtemp(prefix="bench_lists_")
    url, dialect = prepare_database(args.database_url, workdir)
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "PASSWORD_HASH_PROFILE": "test",
                      "UPLOAD_MAX_BYTES": 1 << 40, "UPLOAD_MAX_ROWS": args.rows + 1,
                      **({} if args.workers is None else {"LIST_UPLOAD_WORKERS": args.workers})})
    with app.app_context():
        db.create_all()
        reference.seed()
        towns = db.session.execute(sa.select(Town).order_by(Town.id)).scalars().all()
        banks = db.session.execute(sa.select(Bank).order_by(Bank.id)).scalars().all()
        dept = db.session.execute(sa.select(Department).where(Department.code == "03")).scalar_one()
        staff = StaffAccount(username="bench_op", display_name="bench", role="dept_operator", password_hash="x",
                             department_id=dept.id)
        project = Project(department_id=dept.id, category="老龄福利", name="高龄津贴", cycle="monthly",
                          standard_fen=10000, status="coded", code="0301001", coded_at=utcnow())
        db.session.add_all([staff, project])
        db.session.commit()
        actor = Actor(kind="staff", id=staff.id, role="dept_operator", department_id=dept.id, label="bench")

        t0 = time.perf_counter()
        build_registry(args.rows, [b.id for b in banks], [t.id for t in towns])
        path = os.path.join(workdir, f"list.{args.format}")
        write_file(path, args.rows, args.format, [t.name for t in towns], [b.name for b in banks])
        setup_seconds = time.perf_counter() - t0
        print(f"setup: registry {2 * args.rows} cards + file {os.path.getsize(path) >> 20} MB in "
              f"{setup_seconds:.1f}s; rss {rss_mb()} MB", file=sys.stderr)

        plain_floor = floor_upload_plain(path, args.format)
        rss_before = rss_mb()
        started = time.perf_counter()
        profiler = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        with open(path, "rb") as stream:
            recipient_list = lists.upload(actor, project_id=project.id, period="2026-11",
                                          file_name=os.path.basename(path), stream=stream)
        upload_seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            import pstats
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        rss_after_upload = rss_mb()
        assert recipient_list.row_count == args.rows, recipient_list.row_count
        list_id = recipient_list.id
        upload_floor = floor_upload(path, args.format, list_id)
        print(f"upload: {upload_seconds:.2f}s (floor {upload_floor:.2f}s, plain-table floor {plain_floor:.2f}s); "
              f"rss {rss_before} -> "
              f"{rss_after_upload} MB", file=sys.stderr)

        match_floor = floor_match(list_id)
        started = time.perf_counter()
        outcome = matching.match_list(actor, list_id)
        match_seconds = time.perf_counter() - started
        assert sum(outcome.counts.values()) == args.rows
        print(f"match: {match_seconds:.2f}s (floor {match_floor:.2f}s); {outcome.counts}", file=sys.stderr)

    def part(seconds, floor):
        return {"seconds": round(seconds, 3), "rows_per_s": round(args.rows / seconds),
                "floor_seconds": round(floor, 3), "ratio": round(floor / seconds, 3)}

    total, total_floor = upload_seconds + match_seconds, upload_floor + match_floor
    print(json.dumps({
        "bench": "list_upload_and_match", "rows": args.rows, "format": args.format, "db": dialect,
        "upload": {**part(upload_seconds, upload_floor),
                   "plain_floor": {"seconds": round(plain_floor, 3), "ratio": round(plain_floor / upload_seconds, 3)}},
        "match": part(match_seconds, match_floor),
        "seconds": round(total, 3), "floor_seconds": round(total_floor, 3), "ratio": round(total_floor / total, 3),
        "rss_before_upload_mb": rss_before, "peak_rss_mb": rss_mb(),
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
