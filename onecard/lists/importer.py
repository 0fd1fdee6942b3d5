"""Validating and storing the rows of an uploaded attachment 3 (发放名单), chunk by chunk.

The rows stream from onecard.lists.reader in chunks; ``check_chunk`` checks each row in plain
Python with the foundation's validators (onecard.validation) plus the county's reference data
and encrypts the good rows' sensitive fields. It needs no database, so past a few chunks it runs
in worker processes while the uploading process reads the file and inserts the chunks, in file
order, with one DBAPI executemany each (and validates a chunk itself when the workers are a chunk
queue ahead of it). The caller's transaction is rolled back when any row is
bad, so an upload is stored whole or not at all, while duplicates are still detected by the
database itself: ``ON CONFLICT DO NOTHING`` and the statement's row count tell that a chunk
collided with the unique (project, period, person) key, and one look-up per such chunk names
the row or list each collided with. Nothing proportional to the file is held in memory except
the errors (at most a few chunks are in flight).
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from itertools import repeat

import sqlalchemy as sa

from onecard.db import bulk_insert
from onecard.errors import Invalid
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.lists.reader import COLUMNS, LABELS
from onecard.privacy import blind_index, encrypt_many
from onecard.privacy import configure as configure_privacy
from onecard.privacy import settings as privacy_settings
from onecard.reference import service as reference
from onecard.reference.models import Town, Village
from onecard.sheets import (
    ERROR_COLUMN,
    ERROR_TEXT,
    HEADER_BOLD,
    Sheet,
    mask_value,
    write_workbook,
    write_xlsx,
)
from onecard.validation import (
    normalize_bank_card,
    normalize_ethnicity,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
    parse_amount_fen,
    parse_date,
    parse_period,
)

CHUNK_ROWS = 5000

# The stored columns of a recipient row, declared once. The insert statement, the checked row record,
# the encryption and the duplicate report are all derived from these names, so a new attachment-3 column
# can go anywhere in the list without shifting a position elsewhere.
ROW_HEAD = ("list_id", "project_id", "period")       # the same for every row of one list
ROW_FIELDS = ("row_no", "name", "id_number", "id_bidx", "ethnicity", "mobile", "mobile_last4", "town_id",
              "village_id", "village_text", "bank_id", "account", "account_last4", "amount_fen", "expected_date")
STORED_COLUMNS = ROW_HEAD + ROW_FIELDS
ENCRYPTED_FIELDS = ("id_number", "mobile", "account")
# A checked row is a list indexed by these positions, looked up by name in ROW_FIELDS (index stores are
# five times cheaper than building a namedtuple by keyword, in a loop run once per uploaded row).
_FIELD = {name: i for i, name in enumerate(ROW_FIELDS)}
_CONSTANTS = ("ROW_NO", "NAME", "ID_NUMBER", "ID_BIDX", "ETHNICITY", "MOBILE", "MOBILE_LAST4", "TOWN_ID",
              "VILLAGE_ID", "VILLAGE_TEXT", "BANK_ID", "ACCOUNT", "ACCOUNT_LAST4", "AMOUNT_FEN", "EXPECTED_DATE")
if {c.lower() for c in _CONSTANTS} != set(ROW_FIELDS):   # a new field needs its constant and its value in fast_row
    raise RuntimeError("onecard.lists.importer: ROW_FIELDS and the position constants disagree")
(ROW_NO, NAME, ID_NUMBER, ID_BIDX, ETHNICITY, MOBILE, MOBILE_LAST4, TOWN_ID, VILLAGE_ID, VILLAGE_TEXT, BANK_ID,
 ACCOUNT, ACCOUNT_LAST4, AMOUNT_FEN, EXPECTED_DATE) = (_FIELD[c.lower()] for c in _CONSTANTS)
_WIDTH = len(ROW_FIELDS)
_STORED = {name: i for i, name in enumerate(STORED_COLUMNS)}


@dataclass
class RowError:
    row: int
    column: str
    value: str | None      # masked
    reason: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class ImportOutcome:
    row_count: int = 0
    total_fen: int = 0
    errors: list[RowError] = field(default_factory=list)


_MASK_KIND = {"id_number": "id", "mobile": "mobile", "account": "account"}


def _masked(key: str, value: object) -> object:
    """The report's masking is the one for every upload (onecard.sheets.mask_value)."""
    return mask_value(value, _MASK_KIND.get(key))


class RowValidator:
    """Checks rows against the validators and the county's towns, villages and banks.

    Holds only plain data (no session, no app), so a worker process can run it: ``from_database``
    looks the reference data up once, ``bind`` fixes the file's column positions.
    """

    def __init__(self, *, towns: dict[str, int], villages: dict[tuple[int, str], int], bank_index: dict[str, int],
                 standard_fen: int | None, period: str):
        towns = dict(towns)
        # People write 泉林 for 泉林镇 and 济河 for 济河街道: accept the short form when unambiguous.
        for name, town_id in list(towns.items()):
            for suffix in ("街道", "镇", "乡"):
                if name.endswith(suffix) and len(name) > len(suffix) + 1:
                    towns.setdefault(name[: -len(suffix)], town_id)
        self.towns = towns
        self.villages = villages
        self.bank_index = bank_index
        self.bank_cache: dict[str, int | None] = {}
        self.standard_fen = standard_fen
        self.period_date = _period_start(period)
        self.memo: dict[tuple, object] = {}
        self.positions: dict[str, int] = {}
        self.width = 0

    @classmethod
    def from_database(cls, *, standard_fen: int | None, period: str) -> RowValidator:
        return cls(towns={t.name: t.id for t in db.session.execute(sa.select(Town)).scalars()},
                   villages={(v.town_id, v.name): v.id for v in db.session.execute(sa.select(Village)).scalars()},
                   bank_index=reference.bank_name_index(), standard_fen=standard_fen, period=period)

    def bind(self, positions: dict[str, int]) -> RowValidator:
        """Fix the column positions of the file being read (from its header)."""
        self.positions = positions
        self.width = max(positions.values()) + 1
        return self

    def _bank(self, text: object) -> int:
        key = str(text).strip() if text is not None else ""
        if key not in self.bank_cache:
            try:
                self.bank_cache[key] = reference.resolve_bank(key, self.bank_index, field="bank")
            except Invalid:
                self.bank_cache[key] = None
        bank_id = self.bank_cache[key]
        if isinstance(text, str):
            self.bank_cache[text] = bank_id   # the exact text as written, for fast_row's look-up
        if bank_id is None:
            raise Invalid("开户行不是合作银行（工商银行、建设银行、中国银行、农业银行、邮储银行、农商银行），请核对",
                          code="bank_not_cooperating", field="bank")
        return bank_id

    def fast_row(self, row_no: int, values: tuple) -> tuple:
        """The checked values (before encryption) of a row, raising Invalid at its first problem.

        The common case is a clean row: one pass with no bookkeeping; ``validate`` then
        re-checks a failing row column by column to report every problem in it.
        """
        p = self.positions
        id_number = normalize_id_number(values[p["id_number"]])
        mobile = normalize_mobile(values[p["mobile"]])
        town_text = values[p["town"]]
        town_id = self.towns.get(town_text) if town_text.__class__ is str else None
        if town_id is None:
            town_id = self._town(town_text)
        village_id, village_text = self._village(town_id, values[p["village"]] if "village" in p else None)
        account = None
        if "account" in p and (account_text := values[p["account"]]) is not None:
            account = normalize_bank_card(account_text, field="account")
        amount_text = values[p["amount"]] if "amount" in p else None
        memo = self.memo
        if amount_text is None and self.standard_fen:
            amount_fen = self.standard_fen
        elif (amount_fen := memo.get(("a", amount_text))) is None:
            amount_fen = parse_amount_fen(amount_text, field="amount", max_fen=self.standard_fen)
            self._remember(("a", amount_text), amount_fen)
        date_text = values[p["expected_date"]] if "expected_date" in p else None
        expected_date = None
        if date_text is not None and (expected_date := memo.get(("d", date_text))) is None:
            expected_date = self._expected_date(date_text)
            self._remember(("d", date_text), expected_date)
        ethnicity_text = values[p["ethnicity"]]
        if (ethnicity := memo.get(("e", ethnicity_text))) is None:
            ethnicity = normalize_ethnicity(ethnicity_text)
            self._remember(("e", ethnicity_text), ethnicity)
        bank_text = values[p["bank"]]
        bank_id = self.bank_cache.get(bank_text) if isinstance(bank_text, str) else None
        if bank_id is None:
            bank_id = self._bank(bank_text)
        row = [None] * _WIDTH
        row[ROW_NO] = row_no
        row[NAME] = normalize_name(values[p["name"]])
        row[ID_NUMBER] = id_number
        row[ID_BIDX] = blind_index(id_number, "id")
        row[ETHNICITY] = ethnicity
        row[MOBILE] = mobile
        row[MOBILE_LAST4] = mobile[-4:]
        row[TOWN_ID] = town_id
        row[VILLAGE_ID] = village_id
        row[VILLAGE_TEXT] = village_text
        row[BANK_ID] = bank_id
        row[ACCOUNT] = account
        row[ACCOUNT_LAST4] = account[-4:] if account else None
        row[AMOUNT_FEN] = amount_fen
        row[EXPECTED_DATE] = expected_date
        # A tuple, not the list: the garbage collector stops tracking tuples of plain values, and a chunk
        # of 5,000 tracked lists made every collection during the upload longer.
        return tuple(row)

    def _remember(self, key: tuple, value) -> None:
        # Amounts, dates and ethnicities repeat down a list: parse each distinct text once (pure functions).
        if len(self.memo) < 50_000:
            self.memo[key] = value

    def validate(self, row_no: int, cell) -> tuple[dict | None, list[RowError]]:
        """The checked values (``ROW_FIELDS`` by name) of a good row, or the row's errors (every bad column,
        not just the first)."""
        errors: list[RowError] = []
        out: dict = {"row_no": row_no}

        def check(key, fn):
            try:
                return fn(cell(key))
            except Invalid as exc:
                errors.append(RowError(row_no, LABELS[key], _masked(key, cell(key)), exc.message))
                return None

        out["name"] = check("name", normalize_name)
        id_number = check("id_number", normalize_id_number)
        out["ethnicity"] = check("ethnicity", normalize_ethnicity)
        mobile = check("mobile", normalize_mobile)
        town_id = check("town", self._town)
        village_id, village_text = self._village(town_id, cell("village")) if town_id is not None else (None, None)
        out["bank_id"] = check("bank", self._bank)
        account_text = cell("account")
        account = None
        if account_text is not None and str(account_text).strip():
            account = check("account", lambda v: normalize_bank_card(v, field="account"))
        amount_text = cell("amount")
        if (amount_text is None or not str(amount_text).strip()) and self.standard_fen:
            out["amount_fen"] = self.standard_fen   # blank amount: the project's standard applies
        else:
            out["amount_fen"] = check("amount", lambda v: parse_amount_fen(v, field="amount",
                                                                            max_fen=self.standard_fen))
        date_text = cell("expected_date")
        out["expected_date"] = None
        if date_text is not None and str(date_text).strip():
            out["expected_date"] = check("expected_date", self._expected_date)
        if errors:
            return None, errors
        out["id_number"] = id_number
        out["id_bidx"] = blind_index(id_number, "id")
        out["mobile"] = mobile
        out["mobile_last4"] = mobile[-4:]
        out["town_id"] = town_id
        out["village_id"] = village_id
        out["village_text"] = village_text
        out["account"] = account
        out["account_last4"] = account[-4:] if account else None
        return out, errors

    def _village(self, town_id: int, value: object) -> tuple[int | None, str | None]:
        """(village id, None) for a village of the town; (None, the text as written) for one not in the county's
        village table: an optional column never refuses a row (the upload warns with the closest names)."""
        text = "".join(str(value).split())[:60] if value is not None else ""
        if not text:
            return None, None
        village_id = self.villages.get((town_id, text))
        return (village_id, None) if village_id is not None else (None, text)

    def _town(self, value: object) -> int:
        if value is None or not str(value).strip():
            raise Invalid("镇街不能为空，请填写所在镇（街道）全称，如“泉林镇”", code="town_required", field="town")
        town_id = self.towns.get("".join(str(value).split()))
        if town_id is None:
            raise Invalid("不是本县的镇街，请填写镇（街道）全称，如“泉林镇”“济河街道”", code="town_unknown", field="town")
        return town_id

    def _expected_date(self, value: object) -> date:
        try:
            return parse_date(value, field="expected_date")
        except Invalid:
            try:
                return _period_start(parse_period(value, field="expected_date"))
            except Invalid:
                raise Invalid("预计发放时间格式无法识别，请按 2026-11-05 或 2026-11 的格式填写",
                              code="date_format", field="expected_date") from None


def _period_start(period: str) -> date:
    year = int(period[:4])
    if len(period) == 4:
        return date(year, 1, 1)
    tail = period[5:]
    if tail.startswith("Q"):
        return date(year, 3 * int(tail[1]) - 2, 1)
    if tail.startswith("H"):
        return date(year, 1 if tail[1] == "1" else 7, 1)
    return date(year, int(tail), 1)


def check_chunk(validator: RowValidator, rows: list[tuple[int, tuple]], head: tuple) -> tuple[list, list, int]:
    """Validate and encrypt a chunk of rows: (insert parameters, errors, total fen of the good rows).

    Pure (no database), so it runs in the uploading process or in a worker process alike.
    ``head`` is the ``ROW_HEAD`` values (list_id, project_id, period), the same for every row.
    """
    good: list[tuple] = []
    errors: list[RowError] = []
    total = 0
    width = validator.width
    index = validator.positions
    fast_row = validator.fast_row
    for row_no, values in rows:
        if len(values) < width:
            values = values + (None,) * (width - len(values))
        try:
            row = fast_row(row_no, values)
        except Invalid:
            # The careful path is the authority: it lists every problem of the row, or accepts it.
            r, row_errors = validator.validate(row_no, lambda key, v=values: v[index[key]] if key in index else None)
            if row_errors:
                errors.extend(row_errors)
                continue
            row = tuple(r[name] for name in ROW_FIELDS)
        total += row[AMOUNT_FEN]
        good.append(row)
    if not good:
        return [], errors, total
    fields = list(zip(*good, strict=True))      # one sequence per field, in ROW_FIELDS order
    for name in ENCRYPTED_FIELDS:
        fields[_FIELD[name]] = encrypt_many(fields[_FIELD[name]])
    # Dates as ISO text (how SQLite stores a Date; PostgreSQL casts it): the inserting process, the
    # busier one, then has no per-row adapter to run.
    fields[EXPECTED_DATE] = [d.isoformat() if d is not None else None for d in fields[EXPECTED_DATE]]
    params = list(zip(*(repeat(value, len(good)) for value in head), *fields, strict=True))
    return params, errors, total


# A worker process's validator and row head, set once by _worker_start.
_worker: dict = {}


def _worker_start(privacy_settings: tuple[str, str], validator: RowValidator, head: tuple) -> None:
    configure_privacy(*privacy_settings)
    _worker["validator"], _worker["head"] = validator, head


def _worker_check(rows: list[tuple[int, tuple]]) -> tuple[list, list, int]:
    return check_chunk(_worker["validator"], rows, _worker["head"])


def _chunks(rows: Iterator[tuple[int, tuple]], outcome: ImportOutcome, max_rows: int, too_many,
            size: int) -> Iterator[list[tuple[int, tuple]]]:
    chunk: list[tuple[int, tuple]] = []
    for row in rows:
        outcome.row_count += 1
        if outcome.row_count > max_rows:
            raise too_many(max_rows)
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def store_rows(recipient_list: RecipientList, rows: Iterator[tuple[int, tuple]], validator: RowValidator, *,
               max_rows: int, too_many, workers: int = 0) -> ImportOutcome:
    """Validate and insert every row of the upload into ``recipient_list`` (the caller commits or rolls back).

    ``too_many(limit)`` is raised as soon as the row count passes ``max_rows``. With ``workers`` > 0, a
    file longer than a few chunks is validated and encrypted by that many worker processes while this
    one reads and inserts (validating chunks itself whenever the workers' queues are full); chunks are
    inserted in file order, at most ``_MAX_PENDING`` held (memory stays flat), and every error keeps its row
    number. The workers get the validator's plain data and the keys only.
    """
    outcome = ImportOutcome()
    conn = db.session.connection()
    head = (recipient_list.id, recipient_list.project_id, recipient_list.period)
    chunks = _chunks(rows, outcome, max_rows, too_many, CHUNK_ROWS)

    def take(result) -> None:
        params, errors, total = result
        outcome.errors.extend(errors)
        outcome.total_fen += total
        if params:
            _flush(conn, params, recipient_list, outcome)

    pool = None
    cache_pages = None
    if conn.dialect.name == "sqlite":
        # Rows land at random places of the unique (project, period, person) index. With SQLite's default
        # 2 MB page cache a million-row upload kept evicting and re-reading that index (25 s of inserts
        # instead of 12 s); 64 MB holds it. A bounded cache, given back when the upload ends.
        cache_pages = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_UPLOAD_CACHE_KIB}")
    try:
        # Chunks are inserted in file order, whoever validated them: when the workers already have their
        # queue full, this process validates the next chunk itself rather than wait for them.
        pending: deque[Future] = deque()
        for n, chunk in enumerate(chunks):
            if pool is None and workers > 0 and n >= _POOL_AFTER_CHUNKS:
                pool = _start_pool(workers, validator, head)
            # Keep every worker fed first; inserting comes after, one chunk per chunk read, so a run of
            # finished chunks is never inserted all at once while the workers sit idle.
            if pool is not None and sum(not f.done() for f in pending) < _QUEUED_PER_WORKER * workers:
                pending.append(pool.submit(_worker_check, chunk))
            elif not pending:
                take(check_chunk(validator, chunk, head))
            else:
                pending.append(_completed(check_chunk(validator, chunk, head)))
            if pending and (pending[0].done() or len(pending) > _MAX_PENDING):
                take(pending.popleft().result())
        while pending:
            take(pending.popleft().result())
    finally:
        if pool is not None:
            # Not waiting for the processes to exit: every result has been taken (or the upload failed
            # and its chunks are cancelled); the executor reaps them in the background.
            pool.shutdown(wait=False, cancel_futures=True)
        if cache_pages is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_pages)}")
    return outcome


SQLITE_UPLOAD_CACHE_KIB = 64 * 1024

# Chunks queued per worker process, and chunks held at most (about 3 MB each once validated).
_QUEUED_PER_WORKER = 4
_MAX_PENDING = 16

# Small uploads (the common case, and every test but the pool's own) never pay for starting processes.
_POOL_AFTER_CHUNKS = 4


def _completed(result) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _start_pool(workers: int, validator: RowValidator, head: tuple) -> ProcessPoolExecutor:
    # spawn, not fork: the uploading process holds database connections and maybe threads.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start, initargs=(privacy_settings(), validator, head))


def _flush(conn, chunk: list[tuple], recipient_list: RecipientList, outcome: ImportOutcome) -> None:
    # ON CONFLICT DO NOTHING lets the unique (project, period, person) key find duplicates for us; the
    # row count says whether any row was skipped.
    inserted = bulk_insert(RecipientRow.__table__, STORED_COLUMNS, chunk, ignore_conflicts=True)
    if inserted == len(chunk):
        return
    # Some rows hit the unique (project, period, person) key: find which, and what they collided with.
    holders = {}
    id_bidx, row_no_at, amount_at = _STORED["id_bidx"], _STORED["row_no"], _STORED["amount_fen"]
    bidxs = list({r[id_bidx] for r in chunk})
    for start in range(0, len(bidxs), 500):
        part = bidxs[start:start + 500]
        for bidx, list_id, row_no, file_name in conn.execute(
                sa.select(RecipientRow.id_bidx, RecipientRow.list_id, RecipientRow.row_no, RecipientList.file_name)
                .join(RecipientList, RecipientList.id == RecipientRow.list_id)
                .where(RecipientRow.project_id == recipient_list.project_id,
                       RecipientRow.period == recipient_list.period, RecipientRow.id_bidx.in_(part))):
            holders[bidx] = (list_id, row_no, file_name)
    masked = "已隐藏"
    for r in chunk:
        this_row = r[row_no_at]
        list_id, row_no, file_name = holders.get(r[id_bidx], (None, None, None))
        if list_id == recipient_list.id and row_no == this_row:
            continue   # this row is the one stored
        outcome.total_fen -= r[amount_at]
        if list_id == recipient_list.id:
            outcome.errors.append(RowError(this_row, LABELS["id_number"], masked,
                                           f"与第{row_no}行是同一人（身份证号重复），请删除重复的一行"))
            outcome.errors.append(RowError(row_no, LABELS["id_number"], masked,
                                           f"与第{this_row}行是同一人（身份证号重复），请删除重复的一行"))
        else:
            outcome.errors.append(RowError(
                this_row, LABELS["id_number"], masked,
                f"该人员已在本项目本期的名单中（名单编号{list_id}，文件“{file_name}”第{row_no}行），不能重复列入"))


def village_warnings(recipient_list: RecipientList, limit: int = 1000) -> list[dict]:
    """A warning for each stored row whose 村（社区） is not a village of its town in the county's table, with the
    closest known names of that town (difflib): the row is stored, the village left for the department to check."""
    import difflib
    conn = db.session.connection()
    rr = RecipientRow.__table__
    rows = conn.execute(sa.select(rr.c.row_no, rr.c.town_id, rr.c.village_text)
                        .where(rr.c.list_id == recipient_list.id, rr.c.village_text.is_not(None))
                        .order_by(rr.c.row_no).limit(limit)).all()
    if not rows:
        return []
    names: dict[int, list[str]] = {}
    for town_id, name in conn.execute(sa.select(Village.town_id, Village.name)
                                      .where(Village.town_id.in_({r.town_id for r in rows}))):
        names.setdefault(town_id, []).append(name)
    out = []
    for row_no, town_id, text in rows:
        close = difflib.get_close_matches(text, names.get(town_id, []), n=3, cutoff=0.4)
        hint = f"，相近的有：{'、'.join(close)}" if close else ""
        out.append({"row": row_no, "column": LABELS["village"], "value": text, "suggestions": close,
                    "message": f"村（社区）“{text}”不在所填镇街的村（社区）名录中{hint}。已按原文保存，请核对"})
    return out


def assign_households(recipient_list: RecipientList) -> list[RowError]:
    """到户资金: the unit of a per-household project's list is the household. Sets each stored row's household
    (from the registered resident with its ID) and returns an error for every row whose household is already
    listed, earlier in this file or in another live list of the project and period, naming that first row.

    Call after ``store_rows`` in the upload's transaction; rows of people not registered have no household yet
    (they are held at payment as unmatched). The unique (project, period, household) key stops a concurrent
    upload of the same household (IntegrityError for the caller).
    """
    conn = db.session.connection()
    from onecard.people.models import Household, Resident
    rr, res = RecipientRow.__table__, Resident.__table__
    mine = conn.execute(
        sa.select(rr.c.id, rr.c.row_no, res.c.household_id, Household.code)
        .join(res, res.c.id_bidx == rr.c.id_bidx).join(Household, Household.id == res.c.household_id)
        .where(rr.c.list_id == recipient_list.id).order_by(rr.c.row_no)).all()
    if not mine:
        return []
    earlier: dict[int, tuple] = {}
    household_ids = sorted({m.household_id for m in mine})
    for start in range(0, len(household_ids), 500):
        for hid, list_id, row_no, file_name in conn.execute(
                sa.select(rr.c.household_id, rr.c.list_id, rr.c.row_no, RecipientList.file_name)
                .join(RecipientList, RecipientList.id == rr.c.list_id)
                .where(rr.c.project_id == recipient_list.project_id, rr.c.period == recipient_list.period,
                       rr.c.list_id != recipient_list.id, rr.c.household_id.in_(household_ids[start:start + 500]))):
            earlier[hid] = (list_id, row_no, file_name)
    errors: list[RowError] = []
    first_row: dict[int, int] = {}
    assign: list[dict] = []
    label = LABELS["id_number"]
    for row_id, row_no, household_id, code in mine:
        if household_id in earlier:
            list_id, other_row, file_name = earlier[household_id]
            errors.append(RowError(row_no, label, "已隐藏",
                                   f"到户项目每户每期只列一人：该户（户号{code}）已在本项目本期的名单中（名单编号{list_id}，"
                                   f"文件“{file_name}”第{other_row}行），不能重复列入"))
        elif household_id in first_row:
            errors.append(RowError(row_no, label, "已隐藏",
                                   f"到户项目每户每期只列一人：与第{first_row[household_id]}行同属一户（户号{code}），"
                                   "请只保留一行（通常为户主）"))
        else:
            first_row[household_id] = row_no
            assign.append({"row_id": row_id, "household_id": household_id})
    if not errors and assign:
        conn.execute(sa.update(rr).where(rr.c.id == sa.bindparam("row_id"))
                     .values(household_id=sa.bindparam("household_id")), assign)
    return errors


# A refused upload's report keeps what the uploader needs to fix the rows, no more (issue #16): the rows with
# errors only (at most this many), each cell masked like the error answer, the row number in the note.
MAX_REPORT_ROWS = 1_000


def build_report_xlsx(rows: Iterator[tuple[int, tuple]], header: tuple, errors: list[RowError],
                      warnings: list[dict] = ()) -> bytes:
    """The rows of the uploaded sheet that have errors (or, marked as 提醒, warnings that do not stop the upload),
    masked, with a 错误说明 column saying where and what to fix."""
    by_row: dict[int, list[str]] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(f"{e.column}：{e.reason}")
    for w in warnings:
        by_row.setdefault(w["row"], []).append(f"提醒（不影响导入）{w['column']}：{w['message']}")
    headers = [("" if h is None else str(h)) for h in header] + [ERROR_COLUMN]
    if 1 in by_row:   # header-level problems, if any, beside the header
        headers.append("；".join(by_row[1]))
    width = len(header)

    def lines():
        written = 0
        for row_no, values in rows:
            notes = by_row.get(row_no)
            if notes is None or row_no == 1:
                continue
            if written == MAX_REPORT_ROWS:
                yield (*[None] * width, f"另有{len(by_row) - written}行有错误未列出，请先修改以上各行")
                return
            written += 1
            masked = tuple(mask_value(v) for v in values)
            yield (*masked, *[None] * (width - len(values)), f"第{row_no}行：" + "；".join(notes))

    return write_xlsx(headers, lines(), sheet_name="校验报告", widths={**dict.fromkeys(range(width), 18), width: 60},
                      header_format=HEADER_BOLD, column_formats={width: ERROR_TEXT}, freeze_header=False)


_TEMPLATE_WIDTHS = {"id_number": 22, "mobile": 15, "account": 24, "bank": 20, "village": 18, "expected_date": 14}
# Text format keeps Excel from turning 18-digit IDs and 19-digit cards into 3.70831E+17.
_TEMPLATE_TEXT = ("id_number", "mobile", "account")
_TEMPLATE_NOTES = [
    "1. 每行一人；身份证号、手机号、银行卡号请保持文本格式，不要改成数字。",
    "2. 镇街填写本县镇（街道）全称；村（社区）可不填，填写时须属于该镇街。",
    "3. 开户行须为合作银行：工商银行、建设银行、中国银行、农业银行、邮储银行、农商银行。",
    "4. 补贴额以元为单位，最多两位小数，不得超过项目标准；不填时按项目标准发放。",
    "5. 预计发放时间如 2026-11-05；保存为xlsx或CSV（UTF-8或GBK）后上传。",
]


def template_xlsx() -> bytes:
    """The blank attachment 3 with its exact headers; ID, phone and card columns formatted as text."""
    keys = [key for key, _header, _required in COLUMNS]
    return write_workbook([
        Sheet("发放名单", [header for _key, header, _required in COLUMNS],
              widths={i: _TEMPLATE_WIDTHS.get(key, 12) for i, key in enumerate(keys)},
              text_columns={i for i, key in enumerate(keys) if key in _TEMPLATE_TEXT}),
        Sheet("填写说明", None, ([line] for line in _TEMPLATE_NOTES), widths={0: 90}),
    ])
