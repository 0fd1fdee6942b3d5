"""Set-based import of the provincial card-issuing data (社保卡制卡数据) into residents and cards.

File format (CSV in UTF-8 with or without BOM, or GB18030/GBK; or xlsx, first sheet),
one header row with these columns in any order:

    姓名 | 身份证号 | 社保卡号 | 发卡银行 | 金融账号 | 卡状态 | 申领日期 | 发卡日期 | 激活日期 |
    镇街 | 村（社区） | 手机号 | 民族

* required in every row: 姓名, 身份证号, 卡状态, 镇街; 社保卡号 and 发卡银行 unless 卡状态 is 未申领;
* 卡状态: 未申领, 已申领（制卡中）, 待领取, 已发放未激活, 正常, 挂失, 注销 (also the codes
  not_applied, applied, ready, issued, active, lost, cancelled, and 已申领/制卡中/已激活);
* 发卡银行: a cooperating bank as people write it (工行, 中国农业银行泗水县支行, 农商行...);
* dates as 2026-11-05, 2026/11/5, 20261105 or Excel dates; 民族 name or code (default 汉族);
* 镇街 and 村（社区） by name; an unknown town or village is an error for that row.

What an import does, in chunks of ``CHUNK`` rows (memory stays flat):
* a person not yet known (by the ID's blind index) is created in the named town/village;
* a card is found by its card number's blind index and updated in place (status,
  bank, financial account); an unknown card number is inserted. When it is a new
  card for a person whose live card has another number, that old card is cancelled
  (补换卡, the registry's word is final) and the new one points at it; a live card
  made through the citizen service without a number yet takes the registry's number;
* a status change is applied only if the card lifecycle can get there through its
  allowed moves (CARD_MACHINE); e.g. 注销 -> 正常 or 正常 -> 已申领 is an error row;
* bad rows are reported (row, column, masked value, reason) and skipped; good rows apply.
Repeated card numbers inside one chunk are errors; across chunks the later row wins.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from onecard.cards.lifecycle import CARD_LABELS, CARD_MACHINE
from onecard.cards.models import Card
from onecard.db import bulk_insert
from onecard.errors import Invalid
from onecard.extensions import db
from onecard.payments import owed
from onecard.people.models import Resident
from onecard.privacy import Encrypted, blind_index, last4, mask_id, mask_mobile
from onecard.reference import service as reference
from onecard.sheets import SheetErrors, header_key, read_rows
from onecard.timeutil import utcnow
from onecard.validation import (
    id_birth_year,
    id_gender,
    normalize_bank_account,
    normalize_ethnicity,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
    parse_date,
)

CHUNK = 5000
COLUMNS = ["姓名", "身份证号", "社保卡号", "发卡银行", "金融账号", "卡状态", "申领日期", "发卡日期", "激活日期",
           "镇街", "村（社区）", "手机号", "民族"]
REQUIRED_HEADERS = ["姓名", "身份证号", "社保卡号", "发卡银行", "卡状态", "镇街"]
ALIASES = {"公民身份号码": "身份证号", "身份证号码": "身份证号", "社会保障卡卡号": "社保卡号", "卡号": "社保卡号",
           "金融账户": "金融账号", "银行账号": "金融账号", "开户银行": "发卡银行", "镇（街道）": "镇街",
           "村(社区)": "村（社区）", "村居": "村（社区）", "联系电话": "手机号"}

STATUS_WORDS = {**{v: k for k, v in CARD_LABELS.items()}, **{k: k for k in CARD_LABELS},
                "已申领": "applied", "制卡中": "applied", "已申领制卡中": "applied", "已发放": "issued",
                "未激活": "issued", "已激活": "active", "激活": "active", "已挂失": "lost", "已注销": "cancelled"}
STATE_TIMESTAMP = CARD_MACHINE.timestamps   # target status -> column


def _reachable() -> dict[str, frozenset[str]]:
    """Statuses each status can reach through the lifecycle's allowed moves (the registry reports
    snapshots, so it may skip steps such as 已申领 -> 正常, but never go against the table)."""
    out = {}
    for start in CARD_MACHINE.transitions:
        seen, todo = set(), [start]
        while todo:
            for nxt in CARD_MACHINE.transitions.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        out[start] = frozenset(seen)
    return out


REACHABLE = _reachable()


@dataclass(slots=True)
class Row:
    row_no: int
    name: str
    id_number: str
    id_bidx: str
    status: str
    card_number: str | None
    card_bidx: str | None
    bank_id: int | None
    account: str | None
    account_bidx: str | None
    applied_on: date | None
    issued_on: date | None
    activated_on: date | None
    town_id: int
    village_id: int | None
    mobile: str | None
    ethnicity: str


@dataclass
class Report:
    rows_total: int = 0
    rows_applied: int = 0
    new_residents: int = 0
    new_cards: int = 0
    account_changes: int = 0
    replaced_cards: int = 0
    unchanged: int = 0

    def __post_init__(self):
        self.status_changes: Counter = Counter()
        self.errors = SheetErrors()


def normalize_card_number(value: object, *, field: str = "card_number") -> str:
    """社会保障卡卡号: 6-20 letters and digits (the province's numbers look like A12345678)."""
    text = "".join(str(value or "").split()).upper()
    if isinstance(value, float):
        raise Invalid("社保卡号被存成了数字，精度丢失，请将该列设置为文本格式", code="card_number_precision_lost",
                      field=field)
    if not text:
        raise Invalid("社保卡号不能为空（卡状态为“未申领”时可不填）", code="card_number_required", field=field)
    if not (6 <= len(text) <= 20 and text.isascii() and text.isalnum()):
        raise Invalid("社保卡号应为6至20位字母或数字", code="card_number_format", field=field)
    return text


def parse_status(value: object) -> str:
    text = "".join(str(value or "").split()).translate(str.maketrans("()", "（）"))
    status = STATUS_WORDS.get(text) or STATUS_WORDS.get(text.lower())
    if status is None:
        raise Invalid("卡状态无法识别，可填：" + "、".join(CARD_LABELS.values()), code="card_status_unknown",
                      field="status")
    return status


_KEYS = [(c, header_key(c)) for c in COLUMNS]


class _Lookups:
    """Reference data resolved once per import."""

    def __init__(self):
        self.banks = reference.bank_name_index()
        self.bank_cache: dict[str, int] = {}
        self.towns = reference.town_index()
        self.villages = reference.village_index()
        self.dates: dict = {}


def _parse(row_no: int, cells: dict, lookups: _Lookups, errors: SheetErrors) -> Row | None:
    """Validate one row in plain Python; record every bad column, return None if any."""
    ok = True
    v = {c: cells.get(k) for c, k in _KEYS}

    def check(column, fn, *args, **kwargs):
        nonlocal ok
        try:
            return fn(*args, **kwargs)
        except Invalid as exc:
            errors.add(row_no, column, v[column], exc.message)
            ok = False
            return None

    name = check("姓名", normalize_name, v["姓名"])
    id_number = check("身份证号", normalize_id_number, v["身份证号"])
    status = check("卡状态", parse_status, v["卡状态"])
    card_number = bank_id = account = None
    if status != "not_applied":
        card_number = check("社保卡号", normalize_card_number, v["社保卡号"])
        bank_text = v["发卡银行"]
        if bank_text is None:
            errors.add(row_no, "发卡银行", None, "发卡银行不能为空（卡状态为“未申领”时可不填）")
            ok = False
        else:
            key = str(bank_text)
            bank_id = lookups.bank_cache.get(key)
            if bank_id is None:
                bank_id = check("发卡银行", reference.resolve_bank, key, lookups.banks, field="bank")
                if bank_id is not None:
                    lookups.bank_cache[key] = bank_id
        if v["金融账号"] is not None:
            account = check("金融账号", normalize_bank_account, v["金融账号"], field="account")
    dates = {}
    for column in ("申领日期", "发卡日期", "激活日期"):
        raw = v[column]
        if raw is None:
            dates[column] = None
        elif raw in lookups.dates:       # registry dates repeat a lot: parse each spelling once
            dates[column] = lookups.dates[raw]
        else:
            dates[column] = check(column, parse_date, raw, field="date")
            if dates[column] is not None and len(lookups.dates) < 100_000:
                lookups.dates[raw] = dates[column]
    town_id = village_id = None
    if v["镇街"] is None:
        errors.add(row_no, "镇街", None, "镇街不能为空")
        ok = False
    else:
        town_id = lookups.towns.get("".join(str(v["镇街"]).split()))
        if town_id is None:
            errors.add(row_no, "镇街", v["镇街"], "镇街不在本县镇街名单中，请核对名称（如“泉林镇”“济河街道”）")
            ok = False
        elif v["村（社区）"] is not None:
            village_id = lookups.villages.get((town_id, "".join(str(v["村（社区）"]).split())))
            if village_id is None:
                errors.add(row_no, "村（社区）", v["村（社区）"], "该镇街下没有这个村（社区），请核对名称")
                ok = False
    mobile = None if v["手机号"] is None else check("手机号", normalize_mobile, v["手机号"])
    ethnicity = "01" if v["民族"] is None else check("民族", normalize_ethnicity, v["民族"])
    if not ok:
        return None
    return Row(row_no, name, id_number, blind_index(id_number, "id"), status, card_number,
               blind_index(card_number, "card") if card_number else None, bank_id, account,
               blind_index(account, "account") if account else None, dates["申领日期"], dates["发卡日期"],
               dates["激活日期"], town_id, village_id, mobile, ethnicity)


def _at(d: date | None, now: datetime) -> datetime:
    return datetime(d.year, d.month, d.day) if d else now


def _timestamps(row: Row, status: str, now: datetime) -> dict:
    """The lifecycle timestamp columns a card in ``status`` carries, from the registry's dates or now."""
    out = dict.fromkeys(_STAMP_COLUMNS)
    out["applied_at"] = _at(row.applied_on, now)
    if status in ("ready", "issued", "active", "lost"):
        out["ready_at"] = _at(row.issued_on, now) if status != "ready" else now
    if status in ("issued", "active", "lost"):
        out["issued_at"] = _at(row.issued_on, now)
    if status in ("active", "lost"):
        out["activated_at"] = _at(row.activated_on, now)
    if status == "lost":
        out["lost_at"] = now
    if status == "cancelled":
        out["cancelled_at"] = now
    return out


_DATE_FOR = {"applied": "applied_on", "issued": "issued_on", "active": "activated_on"}


def _move_stamps(row: Row, target: str, now: datetime) -> dict:
    """Timestamps to set when an existing card moves to ``target``: the target's own, plus any the
    registry dates (a NULL leaves the column as it was)."""
    out = dict.fromkeys(set(STATE_TIMESTAMP.values()))
    if row.issued_on:
        out["issued_at"] = _at(row.issued_on, now)
    if row.activated_on and target in ("active", "lost"):
        out["activated_at"] = _at(row.activated_on, now)
    column = STATE_TIMESTAMP.get(target)
    if column:
        out[column] = _at(getattr(row, _DATE_FOR[target]) if target in _DATE_FOR else None, now)
    return out


# Statements built once; each runs as one executemany per chunk.
_cards = Card.__table__
# The columns of the rows apply_chunk inserts (plain tuples, one driver-level executemany each).
_RESIDENT_COLUMNS = ("name", "id_number", "id_bidx", "id_masked", "gender", "birth_year", "ethnicity", "mobile",
                     "mobile_bidx", "mobile_masked", "town_id", "village_id", "sms_opt_out", "created_at",
                     "updated_at")
_STAMP_COLUMNS = ("applied_at", "ready_at", "issued_at", "activated_at", "lost_at", "cancelled_at")
_CARD_COLUMNS = ("resident_id", "bank_id", "status", "card_number", "card_bidx", "card_last4", "account",
                 "account_bidx", "account_last4", "replaces_card_id", "status_changed_at", "source", "created_at",
                 *_STAMP_COLUMNS)
_STATUS_UPDATE = (
    sa.update(_cards).where(_cards.c.id == sa.bindparam("b_id"), _cards.c.status == sa.bindparam("b_old"))
    .values(status=sa.bindparam("b_status"), status_changed_at=sa.bindparam("b_now"),
            **{col: sa.func.coalesce(sa.bindparam(f"b_{col}", type_=sa.DateTime), _cards.c[col])
               for col in set(STATE_TIMESTAMP.values())})
)
_ACCOUNT_UPDATE = (
    sa.update(_cards).where(_cards.c.id == sa.bindparam("b_id"))
    .values(account=sa.bindparam("b_account", type_=Encrypted()), account_bidx=sa.bindparam("b_account_bidx"),
            account_last4=sa.bindparam("b_account_last4"), bank_id=sa.bindparam("b_bank_id"))
)
_NUMBER_UPDATE = (
    sa.update(_cards).where(_cards.c.id == sa.bindparam("b_id"))
    .values(card_number=sa.bindparam("b_card_number", type_=Encrypted()), card_bidx=sa.bindparam("b_card_bidx"),
            card_last4=sa.bindparam("b_card_last4"))
)


class _CardState:
    __slots__ = ("id", "resident_id", "status", "card_bidx", "account_bidx", "bank_id")

    def __init__(self, id, resident_id, status, card_bidx, account_bidx, bank_id):
        self.id, self.resident_id, self.status = id, resident_id, status
        self.card_bidx, self.account_bidx, self.bank_id = card_bidx, account_bidx, bank_id


def apply_chunk(rows: list[Row], report: Report, now: datetime) -> None:
    """Apply one chunk of valid rows with a handful of set-based statements."""
    session = db.session
    errors = report.errors
    # 1. residents: find by blind index, create the unknown ones in one executemany
    bidxs = list({r.id_bidx for r in rows})
    residents = dict(session.execute(
        sa.select(Resident.id_bidx, Resident.id).where(Resident.id_bidx.in_(bidxs))).all())
    new_people = {}
    for r in rows:
        if r.id_bidx not in residents and r.id_bidx not in new_people:
            new_people[r.id_bidx] = (   # in _RESIDENT_COLUMNS order
                r.name, r.id_number, r.id_bidx, mask_id(r.id_number), id_gender(r.id_number),
                id_birth_year(r.id_number), r.ethnicity, r.mobile,
                blind_index(r.mobile, "mobile") if r.mobile else None, mask_mobile(r.mobile), r.town_id,
                r.village_id, False, now, now)
    if new_people:
        bulk_insert(Resident.__table__, _RESIDENT_COLUMNS, list(new_people.values()), convert=True)
        residents.update(session.execute(
            sa.select(Resident.id_bidx, Resident.id).where(Resident.id_bidx.in_(list(new_people)))).all())
        report.new_residents += len(new_people)
    # 2. the cards these rows name, and the live cards of these people
    card_bidxs = list({r.card_bidx for r in rows if r.card_bidx})
    cols = (Card.id, Card.resident_id, Card.status, Card.card_bidx, Card.account_bidx, Card.bank_id)
    by_number: dict[str, _CardState] = {}
    live: dict[int, _CardState] = {}
    if card_bidxs:
        for rec in session.execute(sa.select(*cols).where(Card.card_bidx.in_(card_bidxs))):
            by_number[rec.card_bidx] = _CardState(*rec)
    resident_ids = list({residents[r.id_bidx] for r in rows})
    for rec in session.execute(sa.select(*cols).where(Card.resident_id.in_(resident_ids),
                                                      Card.status != "cancelled")):
        state = by_number.get(rec.card_bidx) if rec.card_bidx else None
        live[rec.resident_id] = state or _CardState(*rec)
    # 3. decide, row by row, in plain Python
    status_updates, account_updates, number_updates, inserts = [], [], [], []
    activated: set[int] = set()      # people whose card became active: their owed payments are re-evaluated
    touched: set[str] = set()
    for r in rows:
        resident_id = residents[r.id_bidx]
        if r.status == "not_applied":
            report.rows_applied += 1
            if r.id_bidx not in new_people:
                report.unchanged += 1
            continue
        if r.card_bidx in touched:
            errors.add(r.row_no, "社保卡号", r.card_number, "同一社保卡号在文件中出现多次，请只保留一行")
            continue
        card = by_number.get(r.card_bidx)
        current = live.get(resident_id)
        if card is None and current is not None and current.card_bidx is None and r.status != "cancelled":
            card = current                                  # made through the citizen service, now numbered
            number_updates.append({"b_id": card.id, "b_card_number": r.card_number, "b_card_bidx": r.card_bidx,
                                   "b_card_last4": last4(r.card_number)})
            card.card_bidx = r.card_bidx
            by_number[r.card_bidx] = card
        if card is not None:
            if card.id is None:
                errors.add(r.row_no, "社保卡号", r.card_number, "同一社保卡号在文件中出现多次，请只保留一行")
                continue
            if card.resident_id != resident_id:
                errors.add(r.row_no, "社保卡号", r.card_number, "该社保卡号已登记在另一人名下，请核对身份证号和卡号")
                continue
            changed = False
            if r.status != card.status:
                if r.status not in REACHABLE.get(card.status, ()):
                    errors.add(r.row_no, "卡状态", CARD_LABELS[r.status],
                               f"卡状态不能从“{CARD_LABELS[card.status]}”变为“{CARD_LABELS[r.status]}”")
                    continue
                stamps = _move_stamps(r, r.status, now)
                status_updates.append({"b_id": card.id, "b_old": card.status, "b_status": r.status, "b_now": now,
                                       **{f"b_{k}": v for k, v in stamps.items()}})
                report.status_changes[f"{card.status}→{r.status}"] += 1
                if r.status == "active":
                    activated.add(resident_id)
                if r.status == "cancelled" and live.get(resident_id) is card:
                    del live[resident_id]
                card.status = r.status
                changed = True
            if (r.account_bidx and r.account_bidx != card.account_bidx) or r.bank_id != card.bank_id:
                account_updates.append({
                    "b_id": card.id, "b_account": r.account if r.account_bidx else None,
                    "b_account_bidx": r.account_bidx, "b_account_last4": last4(r.account),
                    "b_bank_id": r.bank_id} if r.account_bidx else {
                    "b_id": card.id, "b_keep": True, "b_bank_id": r.bank_id})
                card.account_bidx, card.bank_id = r.account_bidx or card.account_bidx, r.bank_id
                report.account_changes += 1
                changed = True
            if not changed:
                report.unchanged += 1
            touched.add(r.card_bidx)
            report.rows_applied += 1
            continue
        # a card number we have never seen
        replaces = None
        if r.status != "cancelled" and current is not None:
            if current.id is None:
                errors.add(r.row_no, "社保卡号", r.card_number, "同一人在文件中有两张未注销的社保卡，请核对")
                continue
            # 补换卡: the registry issued a new card, so the old one is cancelled.
            status_updates.append({"b_id": current.id, "b_old": current.status, "b_status": "cancelled", "b_now": now,
                                   **{f"b_{k}": None for k in set(STATE_TIMESTAMP.values())}, "b_cancelled_at": now})
            report.status_changes[f"{current.status}→cancelled"] += 1
            report.replaced_cards += 1
            current.status = "cancelled"
            replaces = current.id
        stamps = _timestamps(r, r.status, now)
        if r.status == "active":
            activated.add(resident_id)
        inserts.append((resident_id, r.bank_id, r.status, r.card_number, r.card_bidx, last4(r.card_number),
                        r.account, r.account_bidx, last4(r.account), replaces, now, "registry", now,
                        *(stamps[c] for c in _STAMP_COLUMNS)))
        pending = _CardState(None, resident_id, r.status, r.card_bidx, r.account_bidx, r.bank_id)
        by_number[r.card_bidx] = pending
        if r.status != "cancelled":
            live[resident_id] = pending
        touched.add(r.card_bidx)
        report.new_cards += 1
        report.rows_applied += 1
    # 4. write: cancellations and other moves first (the one-live-card index), then new cards
    if number_updates:
        session.execute(_NUMBER_UPDATE, number_updates)
    if status_updates:
        session.execute(_STATUS_UPDATE, status_updates)
    full = [u for u in account_updates if "b_keep" not in u]
    bank_only = [{"b_id": u["b_id"], "b_bank_id": u["b_bank_id"]} for u in account_updates if "b_keep" in u]
    if full:
        session.execute(_ACCOUNT_UPDATE, full)
    if bank_only:
        session.execute(sa.update(_cards).where(_cards.c.id == sa.bindparam("b_id"))
                        .values(bank_id=sa.bindparam("b_bank_id")), bank_only)
    if inserts:
        bulk_insert(_cards, _CARD_COLUMNS, inserts, convert=True)
    if activated:
        owed.release(session, sorted(activated))


def run(stream, filename: str, report: Report) -> None:
    """Read, validate and apply the whole file chunk by chunk (the caller owns the transaction)."""
    lookups = _Lookups()
    now = utcnow()
    chunk: list[Row] = []
    for row_no, cells in read_rows(stream, filename, required=REQUIRED_HEADERS, header_aliases=ALIASES):
        report.rows_total += 1
        row = _parse(row_no, cells, lookups, report.errors)
        if row is not None:
            chunk.append(row)
        if len(chunk) >= CHUNK:
            apply_chunk(chunk, report, now)
            chunk = []
    if chunk:
        apply_chunk(chunk, report, now)


def status_detail(report: Report) -> str:
    return json.dumps(dict(report.status_changes), ensure_ascii=False, sort_keys=True)
