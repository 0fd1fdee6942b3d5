"""My subsidies (补贴到账): a resident's own page of the ledger, beside the ledger it reads.

Every door reads a resident's payments through here: the mini-program API (by its bearer token, in
one query), the H5 page and the village-assisted read (by resident id). ``_mine`` is the one rule of
which ledger entries are a resident's; a complaint may name only such an entry, so the complaint use
case imports it from here.

The page is read-only on committed data, so it runs without the ORM session: a Core SELECT compiled
once per dialect, executed on a pooled DBAPI connection (see PreparedSelect).
"""
from __future__ import annotations

import functools
from datetime import date, datetime

import sqlalchemy as sa

from onecard import tokens
from onecard.citizens.models import CitizenSession
from onecard.citizens.sessions import live_session
from onecard.extensions import db
from onecard.payments.models import LedgerEntry
from onecard.people.models import Resident
from onecard.privacy import mask_name
from onecard.projects.models import Project
from onecard.reference.models import Bank
from onecard.timeutil import local_day_start, local_str, local_today, utcnow
from onecard.validation import format_yuan

FAILURE_ADVICE = {
    "account_closed": "您的银行账户已销户。请带身份证到发卡银行网点办理补卡或更新账户，之后补贴会重新发放。",
    "account_frozen": "您的银行账户被冻结或挂失。请带身份证到发卡银行网点处理，之后补贴会重新发放。",
    "name_mismatch": "银行登记的姓名与名单不一致。请带身份证到村（社区）或主管部门核对信息。",
}
FAILURE_DEFAULT = ("这笔钱没有发到您的卡上。请带身份证和社保卡到发卡银行网点核实账户，"
                   "或找村协办员、在本页“投诉咨询”里询问；问题解决后会重新发放。")


class PreparedSelect:
    """A Core SELECT compiled once per dialect and run straight on a pooled DBAPI connection.

    ``PreparedSelect(stmt).all(engine, {"name": value, ...})`` -> list of the driver's row tuples.
    For the hot read of this module: SQLAlchemy's per-execution work (execution context, result
    metadata, row processors) costs more than the indexed query itself. The statement is still
    written in Core, compiled by SQLAlchemy for the engine's dialect (SQLite or PostgreSQL), and its
    bind parameters go through the types' own bind processors, so the SQL and the stored formats are
    exactly SQLAlchemy's. DateTime columns come back as strings on SQLite (see _as_datetime).
    """

    def __init__(self, statement: sa.Select):
        self.statement = statement
        self._compiled: dict[str, tuple] = {}

    def _prepare(self, dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("PreparedSelect does not take expanding (IN) parameters")
        names = {bind.key for bind in compiled.binds.values() if bind.value is None and bind.callable is None}
        base = compiled.construct_params({name: None for name in names})
        processors = {}
        for name in names:
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        order = tuple(compiled.positiontup) if compiled.positional else None
        prepared = (compiled.string, base, processors, order)
        self._compiled[dialect.name] = prepared
        return prepared

    def all(self, engine: sa.Engine, params: dict) -> list[tuple]:
        sql, base, processors, order = self._compiled.get(engine.dialect.name) or self._prepare(engine.dialect)
        values = {**base, **params}
        for name, process in processors.items():
            values[name] = process(values[name])
        bound = tuple(values[name] for name in order) if order is not None else values
        connection = engine.raw_connection()     # from the pool: no connection set-up per request
        # One statement reading committed rows needs no transaction of its own: on PostgreSQL it runs in
        # autocommit, which saves the BEGIN before it and the ROLLBACK of the pool's reset after it (two of
        # its four round trips; the pool's pre-ping is the other). sqlite3 opens no transaction for a SELECT.
        autocommit = engine.dialect.name == "postgresql"
        try:
            if autocommit:
                connection.driver_connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
            cursor.close()
        finally:
            if autocommit and not connection.driver_connection.closed:
                connection.driver_connection.autocommit = False    # as the pool lends it to everyone else
            connection.close()                   # back to the pool (idle: its reset sends nothing)
        return rows


def _as_datetime(value: datetime | str) -> datetime:
    """A DateTime column as the driver returned it (SQLite: SQLAlchemy's ISO text) as a naive datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=256)
def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return local_day_start(date(year, 1, 1)), local_day_start(date(year + 1, 1, 1))


_LEDGER = LedgerEntry.__table__
_RESIDENTS = Resident.__table__
_PROJECTS = Project.__table__
_BANKS = Bank.__table__


# The year's total is what the resident kept: money paid, less money the bank sent back (退汇 reversals).
# (an OR, not IN: PreparedSelect takes no expanding parameters)
_KEPT = sa.or_(_LEDGER.c.outcome == "paid", _LEDGER.c.outcome == "returned")
_NET_FEN = sa.case((_LEDGER.c.outcome == "returned", -_LEDGER.c.amount_fen), else_=_LEDGER.c.amount_fen)
RETURN_ADVICE = ("这笔钱到账后被银行退回，没有留在您的卡上。请带身份证和社保卡到发卡银行网点核实账户，"
                 "账户处理好后主管部门会重新发放；也可在本页“投诉咨询”里询问。")
_OUTCOME_LABELS = {"paid": "已到账", "failed": "未到账", "returned": "已退回"}


def mine(resident):
    """Ledger entries a resident may see: listed under their name, or paid into their card for someone else."""
    return (_LEDGER.c.resident_id == resident) | (_LEDGER.c.payee_resident_id == resident)


def _page_statement(resident) -> sa.Select:
    """The page read for ``resident`` (a bind parameter, or the token's resident as a scalar subquery).

    The resident's own payments (listed under their name, wherever they were paid) and the payments made into
    their card for someone else (the household's 到户 money paid to its head, a ward's money paid to the legal
    proxy), each of the latter with the name of the person it was for. One query on the (resident_id,
    occurred_at) and (payee_resident_id, occurred_at) indexes reads only the shown columns, with the year's
    paid SUM of the resident's own payments as a scalar subquery (the database evaluates it once).
    """
    beneficiary = (sa.select(_RESIDENTS.c.name).where(_RESIDENTS.c.id == _LEDGER.c.resident_id)
                   .scalar_subquery())
    year_total = (sa.select(sa.func.coalesce(sa.func.sum(_NET_FEN), 0))
                  .where(_LEDGER.c.resident_id == resident, _KEPT,
                         _LEDGER.c.occurred_at >= sa.bindparam("start"), _LEDGER.c.occurred_at < sa.bindparam("end")))
    return (
        sa.select(_LEDGER.c.id, _LEDGER.c.period, _LEDGER.c.amount_fen, _LEDGER.c.outcome, _LEDGER.c.failure_code,
                  _LEDGER.c.failure_reason, _LEDGER.c.occurred_at, _LEDGER.c.account_last4, _LEDGER.c.project_id,
                  _PROJECTS.c.name.label("project_name"), _BANKS.c.name.label("bank_name"), _LEDGER.c.route,
                  sa.case((_LEDGER.c.payee_resident_id == resident, beneficiary), else_=None).label("for_name"),
                  year_total.scalar_subquery().label("year_total"))
        .select_from(_LEDGER.join(_PROJECTS, _PROJECTS.c.id == _LEDGER.c.project_id)
                     .join(_BANKS, _BANKS.c.id == _LEDGER.c.bank_id))
        .where(mine(resident))
        .order_by(_LEDGER.c.occurred_at.desc(), _LEDGER.c.id.desc())
        .limit(sa.bindparam("lim", type_=sa.Integer)).offset(sa.bindparam("off", type_=sa.Integer))
    )


# Built once with bind parameters (statement construction and cache keys cost more than the query).
_YEAR_TOTAL = (sa.select(sa.func.coalesce(sa.func.sum(_NET_FEN), 0))
               .where(_LEDGER.c.resident_id == sa.bindparam("rid"), _KEPT,
                      _LEDGER.c.occurred_at >= sa.bindparam("start"), _LEDGER.c.occurred_at < sa.bindparam("end")))
_SUBSIDY_PAGE = _page_statement(sa.bindparam("rid"))
# The resident of a live citizen token (citizens.sessions.live_session, the statement authenticate() runs):
# the token check inside the page read.
_TOKEN_RESIDENT = live_session(CitizenSession.resident_id).scalar_subquery()


def _page_args(page, per_page, year) -> dict:
    page = max(int(page or 1), 1)
    per_page = min(max(int(per_page or 20), 1), 100)
    year = year or local_today().year
    start, end = _year_bounds(year)
    return {"page": page, "per_page": per_page, "year": year, "start": start, "end": end,
            "lim": per_page + 1, "off": (page - 1) * per_page}


# The mini-program's read: the page of the resident behind a live citizen token (bench/bench_citizen.py's
# floor runs this statement's text too).
PAGE_BY_TOKEN = _page_statement(_TOKEN_RESIDENT)
_PAGE_BY_RESIDENT = PreparedSelect(_SUBSIDY_PAGE)
_PAGE_BY_TOKEN = PreparedSelect(PAGE_BY_TOKEN)


def my_subsidies(resident_id: int, *, page: int = 1, per_page: int = 20, year: int | None = None) -> dict:
    """补贴到账: every payment outcome for me, newest first, a page at a time, with this year's paid total.

    Read-only on committed data, so no ORM session; the H5 page and the village-assisted read
    call this, the mini-program API calls my_subsidies_by_token() first.
    """
    args = _page_args(page, per_page, year)
    rows = _PAGE_BY_RESIDENT.all(db.engine, {**args, "rid": resident_id})
    return _subsidy_page(rows, resident_id, args)


def my_subsidies_by_token(token: str | None, *, page: int = 1, per_page: int = 20,
                          year: int | None = None) -> dict | None:
    """补贴到账 for the phone presenting ``token``: the mini-program's hot read, in one query.

    The page read names its resident by the live citizen token, so the token check and the read
    are one round trip. None when that finds no row (no token, a refused token, an unbound phone,
    or nothing on this page): the caller then authenticates the token, which says which refusal
    applies, and calls my_subsidies() for the resident (an empty page with the year's total).
    """
    if not token:
        return None
    args = _page_args(page, per_page, year)
    rows = _PAGE_BY_TOKEN.all(db.engine, {**args, "token_hash": tokens.digest(token), "now": utcnow()})
    return _subsidy_page(rows, None, args) if rows else None


@functools.lru_cache(maxsize=16384)
def _local_day(utc_hour: datetime | str) -> str:
    return local_str(_as_datetime(utc_hour), "%Y-%m-%d")


def _local_date(occurred_at: datetime | str) -> str:
    """The Shanghai date of a UTC time, cached per UTC hour (Shanghai's offset is whole hours since 1901).

    SQLite hands the column back as SQLAlchemy's ISO text, whose first 13 characters are the hour.
    """
    if isinstance(occurred_at, str):
        return _local_day(occurred_at[:13] + ":00:00") if occurred_at >= "1902" else _local_day(occurred_at)
    if occurred_at.year < 1902:
        return local_str(occurred_at, "%Y-%m-%d")
    return _local_day(occurred_at.replace(minute=0, second=0, microsecond=0))


_yuan = functools.lru_cache(maxsize=4096)(format_yuan)    # a county pays few distinct amounts


def _received_for(route: str | None, name: str) -> str:
    """Why a payment for someone else came to this resident's card, in words (the name masked)."""
    if route == "proxy":
        return f"代{mask_name(name)}领取（您是其法定代管代持人）"
    return f"{mask_name(name)}名下的到户补贴，发放到户主{'一本通账户' if route == 'passbook' else '社保卡'}"


def _subsidy_page(rows: list[tuple], resident_id: int | None, args: dict) -> dict:
    """The page document from the page read's rows (the year total comes with them, else its own query)."""
    per_page = args["per_page"]
    if rows:
        total = int(rows[0][-1])
    else:
        with db.engine.connect() as conn:
            total = int(conn.execute(_YEAR_TOTAL, {"rid": resident_id, "start": args["start"],
                                                   "end": args["end"]}).scalar())
    items = []
    for (id_, period, amount_fen, outcome, failure_code, failure_reason, occurred_at, account_last4, project_id,
         project_name, bank_name, route, for_name, _total) in rows[:per_page]:
        failed = outcome != "paid"
        items.append({
            "id": id_, "project_id": project_id, "project_name": project_name, "period": period,
            "amount_fen": amount_fen, "amount": _yuan(amount_fen), "outcome": outcome,
            "outcome_label": _OUTCOME_LABELS[outcome], "date": _local_date(occurred_at),
            "bank_name": bank_name, "account_last4": account_last4,
            "failure_reason": failure_reason if failed else None,
            "what_to_do": (RETURN_ADVICE if outcome == "returned" else
                           FAILURE_ADVICE.get(failure_code or "", FAILURE_DEFAULT) if failed else None),
            "received_for": _received_for(route, for_name) if for_name is not None else None,
        })
    return {"items": items, "page": args["page"], "per_page": per_page, "has_next": len(rows) > per_page,
            "year": args["year"], "year_total_fen": total, "year_total": format_yuan(total)}
