"""Routing (支付路径): which account each payment goes to, and why. One function for batches and re-issues.

The rules are ROUTES, an ordered list of small records (code, label, does it apply to this row, where the money
goes or why it is held); ``route_rows`` looks up what the rules need per chunk of rows and walks the list for
each row, first rule that applies wins. The own-card rule also has a set-based form (``insert_own_card_lines``,
its ``set_based`` attribute) for the common case of a batch, so the two cannot drift apart.

The plan's rules, in the order applied (after the holds for an unmatched, deceased or misnamed person, for a
household without a living head, and for a household already paid for the project and period):
1. A per-household project (到户资金) pays the household head's (户主) usable card.
2. Otherwise the beneficiary's own usable card (status 正常).
3. If the own card is not usable: a legally appointed proxy (代管代持) — only when the
   beneficiary is in a protected group (低保户, 特困供养人员, 残疾人, 建档立卡贫困户,
   未成年人) valid today, and the appointment is valid today, not revoked, and records its
   legal basis and appointing body — pays the appointment's account or the proxy's card.
4. A project still paid through the 一本通 passbook in the parallel period pays the
   beneficiary's (or head's) passbook account at the project's bank.
5. Otherwise the line is held (暂缓) with the reason, and can join a later batch once fixed.

Lookups run per chunk of rows (a handful of indexed queries), decisions in plain
Python; account ciphertext is copied as is, never decrypted here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from onecard.cards.lifecycle import CARD_LABELS
from onecard.cards.models import Card
from onecard.extensions import db
from onecard.lists.models import MATCH_RESULTS
from onecard.payments.models import PassbookAccount
from onecard.people.groups import resident_is_minor
from onecard.people.models import CATEGORIES, Household, ProxyAppointment, Resident, ResidentCategory
from onecard.projects.models import Project

RAW = sa.String  # ciphertext is selected raw (type_coerce) so it is copied, never decrypted

OWN_CARD_REASON = "发放至本人社保卡金融账户"


def _chunks(ids: list[int], size: int = 900):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _active_cards(resident_ids: Iterable[int]) -> dict[int, tuple]:
    ids = sorted({i for i in resident_ids if i})
    out: dict[int, tuple] = {}
    for part in _chunks(ids):
        for rid, bank_id, account, last4, bidx in db.session.execute(
            sa.select(Card.resident_id, Card.bank_id, sa.type_coerce(Card.account, RAW), Card.account_last4,
                      Card.account_bidx)
            .where(Card.resident_id.in_(part), Card.status == "active", Card.account.is_not(None))
        ):
            out[rid] = (bank_id, account, last4, bidx)
    return out


def _live_card_status(resident_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted({i for i in resident_ids if i})
    out: dict[int, str] = {}
    for part in _chunks(ids):
        for rid, status in db.session.execute(
            sa.select(Card.resident_id, Card.status).where(Card.resident_id.in_(part), Card.status != "cancelled")
        ):
            out[rid] = status
    return out


def route_rows(project: Project, rows: list[dict], today: date, period: str | None = None) -> list[dict]:
    """Route each row (keys: resident_id, match_result, optionally reissue_of_line_id) and return the line fields.

    Every result has status ('pending' or 'held'), route, route_reason (中文), payee_resident_id,
    payee_name, bank_id, account (raw ciphertext), account_last4, proxy_appointment_id, household_id, town_id,
    village_id. For a per-household project, ``period`` lets a row whose household already has a live line for
    the project and period (or an earlier row here) be held rather than pay the household twice.
    """
    resident_ids = [r["resident_id"] for r in rows if r.get("resident_id")]
    people: dict[int, tuple] = {}
    for part in _chunks(sorted(set(resident_ids))):
        for row in db.session.execute(
            sa.select(Resident.id, Resident.name, Resident.household_id, Resident.deceased_on, Resident.town_id,
                      Resident.village_id).where(Resident.id.in_(part))
        ):
            people[row.id] = row
    heads: dict[int, int | None] = {}
    dead_heads: set[int] = set()
    household_paid: dict[int, str] = {}     # household -> who already has its live line (name)
    if project.per_household:
        hh_ids = sorted({p.household_id for p in people.values() if p.household_id})
        for part in _chunks(hh_ids):
            for hid, head, dead in db.session.execute(
                    sa.select(Household.id, Household.head_id, Resident.deceased_on)
                    .outerjoin(Resident, Resident.id == Household.head_id).where(Household.id.in_(part))):
                heads[hid] = head
                if dead is not None:
                    dead_heads.add(hid)
        if period is not None:
            household_paid = _households_with_live_line(project, period, hh_ids,
                                                        {r.get("reissue_of_line_id") for r in rows} - {None})
    cards = _active_cards(list(people) + [h for h in heads.values() if h])

    # Fallbacks are looked up only for the few whose card cannot be used.
    def target_of(rid: int) -> int | None:
        p = people[rid]
        return heads.get(p.household_id) if project.per_household else rid

    need_fallback = [rid for rid in people if target_of(rid) not in cards]
    proxies: dict[int, ProxyAppointment] = {}
    categories: dict[int, set[str]] = {}
    passbooks: dict[int, tuple] = {}
    proxy_names: dict[int, str] = {}
    if need_fallback:
        proxy_person = sa.orm.aliased(Resident)
        for part in _chunks(need_fallback):
            for rid, cat, since, until in db.session.execute(
                sa.select(ResidentCategory.resident_id, ResidentCategory.category, ResidentCategory.since,
                          ResidentCategory.until).where(ResidentCategory.resident_id.in_(part),
                                                        ResidentCategory.revoked_at.is_(None))
            ):
                if (since is None or since <= today) and (until is None or until >= today):
                    categories.setdefault(rid, set()).add(cat)
            for appt in db.session.execute(
                # A dead proxy cannot receive: the ward's line is held until the appointment is replaced.
                sa.select(ProxyAppointment)
                .join(proxy_person, proxy_person.id == ProxyAppointment.proxy_resident_id)
                .where(
                    ProxyAppointment.resident_id.in_(part), ProxyAppointment.revoked_at.is_(None),
                    proxy_person.deceased_on.is_(None),
                    ProxyAppointment.valid_from <= today,
                    sa.or_(ProxyAppointment.valid_until.is_(None), ProxyAppointment.valid_until >= today))
                .order_by(ProxyAppointment.id)
            ).scalars():
                proxies.setdefault(appt.resident_id, appt)
        # 未成年人 is never recorded: it follows from the birth date, read only for wards appointed as minors.
        for rid, appt in proxies.items():
            if appt.category == "minor" and resident_is_minor(db.session.get(Resident, rid), today):
                categories.setdefault(rid, set()).add("minor")
        proxy_cards = _active_cards(a.proxy_resident_id for a in proxies.values())
        cards.update(proxy_cards)
        for part in _chunks(sorted({a.proxy_resident_id for a in proxies.values()})):
            for pid, name in db.session.execute(sa.select(Resident.id, Resident.name).where(Resident.id.in_(part))):
                proxy_names[pid] = name
        if project.via_passbook:
            owners = sorted({t for t in (target_of(r) for r in need_fallback) if t})
            for part in _chunks(owners):
                for rid, bank_id, account, last4, bidx in db.session.execute(
                    sa.select(PassbookAccount.resident_id, PassbookAccount.bank_id,
                              sa.type_coerce(PassbookAccount.account, RAW), PassbookAccount.account_last4,
                              PassbookAccount.account_bidx)
                    .where(PassbookAccount.resident_id.in_(part), PassbookAccount.bank_id == project.bank_id,
                           PassbookAccount.status == "active")
                ):
                    passbooks[rid] = (bank_id, account, last4, bidx)
        statuses = _live_card_status(need_fallback + [h for h in heads.values() if h])
    else:
        statuses = {}
    head_names: dict[int, str] = {}
    if project.per_household:
        missing = sorted({h for h in heads.values() if h and h not in people})
        for part in _chunks(missing):
            for pid, name in db.session.execute(sa.select(Resident.id, Resident.name).where(Resident.id.in_(part))):
                head_names[pid] = name

    def name_of(rid: int) -> str:
        if rid in people:
            return people[rid].name
        return head_names.get(rid) or proxy_names.get(rid, "")

    ctx = _Context(project, people, cards, proxies, categories, passbooks, statuses, target_of, name_of,
                   dead_heads=dead_heads, household_paid=household_paid)
    out = []
    for r in rows:
        rid = r.get("resident_id")
        base = {"route": None, "payee_resident_id": None, "payee_name": None, "bank_id": None, "account": None,
                "account_last4": None, "account_bidx": None, "proxy_appointment_id": None, "household_id": None,
                "town_id": None, "village_id": None}
        if rid in people:
            base["town_id"], base["village_id"] = people[rid].town_id, people[rid].village_id
            if project.per_household:
                base["household_id"] = people[rid].household_id
        rule = next(rule for rule in ROUTES if rule.applies(ctx, r))
        line = {**base, **rule.decide(ctx, r)}
        if line["status"] == "pending" and line["household_id"] is not None:
            household_paid[line["household_id"]] = r.get("name") or people[rid].name   # a later member is held
        out.append(line)
    return out


def _households_with_live_line(project: Project, period: str, household_ids: list[int],
                               superseding: set[int]) -> dict[int, str]:
    """Households of ``household_ids`` that already have a live line for the project and period (-> the name on
    it), leaving out the failed lines being re-issued now (``superseding``), which the re-issue replaces."""
    from onecard.payments.models import LIVE_LINE_STATES, BatchLine
    out: dict[int, str] = {}
    for part in _chunks(household_ids):
        stmt = sa.select(BatchLine.household_id, BatchLine.name).where(
            BatchLine.household_id.in_(part), BatchLine.project_id == project.id, BatchLine.period == period,
            BatchLine.status.in_(LIVE_LINE_STATES))
        if superseding:
            stmt = stmt.where(BatchLine.id.not_in(sorted(superseding)))
        for hid, name in db.session.execute(stmt):
            out[hid] = name
    return out


@dataclass
class _Context:
    """What the rules read for one chunk of rows (looked up set-based by route_rows)."""
    project: Project
    people: dict
    cards: dict
    proxies: dict
    categories: dict
    passbooks: dict
    statuses: dict
    target_of: Callable[[int], int | None]
    name_of: Callable[[int], str]
    dead_heads: set = field(default_factory=set)           # households whose registered head has died
    household_paid: dict = field(default_factory=dict)     # household -> name on its live line (per-household)
    proxy_accounts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One routing rule: ``code`` and ``label`` (a paying route's code is stored on the line and the ledger; a
    hold's is only its name here), ``applies(ctx, row)`` and ``decide(ctx, row)`` (the line's fields: where the
    money goes, or status held with the reason). ``set_based``: the same rule as one INSERT ... SELECT."""
    code: str
    label: str
    applies: Callable[[_Context, dict], bool]
    decide: Callable[[_Context, dict], dict]
    pays: bool = True
    set_based: Callable | None = None


def _held(reason: str) -> dict:
    return {"status": "held", "route_reason": f"暂缓：{reason}"}


def _paid(ctx: _Context, route: str, reason: str, payee: int, account: tuple, **extra) -> dict:
    bank_id, number, last4, bidx = account
    return {"status": "pending", "route": route, "route_reason": reason, "payee_resident_id": payee,
            "payee_name": ctx.name_of(payee), "bank_id": bank_id, "account": number, "account_last4": last4,
            "account_bidx": bidx, **extra}


def _household(ctx: _Context, row: dict) -> int | None:
    return ctx.people[row["resident_id"]].household_id


def _target(ctx: _Context, row: dict) -> int | None:
    return ctx.target_of(row["resident_id"])


def _proxy_account(ctx: _Context, row: dict) -> tuple | None:
    """The legal proxy's account for this beneficiary, or None: the beneficiary is in a protected group today and
    the appointment records its legal basis and appointing body; its own account, else the proxy's card."""
    rid = row["resident_id"]
    if rid in ctx.proxy_accounts:
        return ctx.proxy_accounts[rid]
    appt = ctx.proxies.get(rid)
    protected = ctx.categories.get(rid, set()) & set(CATEGORIES)
    found = None
    if (appt is not None and appt.category in protected and (appt.legal_basis or "").strip()
            and (appt.appointed_by or "").strip()):
        if appt.account:
            acct = db.session.execute(sa.select(sa.type_coerce(ProxyAppointment.account, RAW))
                                      .where(ProxyAppointment.id == appt.id)).scalar_one()
            found = (appt, (appt.bank_id or ctx.project.bank_id, acct, appt.account_last4, appt.account_bidx))
        elif appt.proxy_resident_id in ctx.cards:
            found = (appt, ctx.cards[appt.proxy_resident_id])
    ctx.proxy_accounts[rid] = found
    return found


def _pay_proxy(ctx: _Context, row: dict) -> dict:
    appt, account = _proxy_account(ctx, row)
    return _paid(ctx, "proxy", f"本人无可用社保卡，{CATEGORIES[appt.category]}由法定代管代持人代收"
                               f"（依据：{appt.legal_basis}，{appt.appointed_by}指定）",
                 appt.proxy_resident_id, account, proxy_appointment_id=appt.id)


def _no_usable_card(ctx: _Context, row: dict) -> dict:
    rid = row["resident_id"]
    target = _target(ctx, row)
    status = ctx.statuses.get(target)
    who = "户主" if ctx.project.per_household and target != rid else "本人"
    if status is None:
        return _held(f"{who}未申领社保卡")
    return _held(f"{who}社保卡状态为“{CARD_LABELS.get(status, status)}”，不能收款")




def insert_own_card_lines(batch, project: Project, candidates, now) -> int:
    """Rule 2 set-based, for the common case of a batch: a per-person project and a beneficiary whose own card
    is usable. One INSERT ... SELECT; everyone else goes through ``route_rows``, which applies the same rule
    first, so both paths give the same route for the same person.

    ``candidates`` is a SELECT of recipient row ids still to be routed. Returns the number of lines inserted.
    """
    from onecard.lists.models import RecipientRow
    from onecard.payments.models import BatchLine
    if project.per_household:
        return 0
    lines = BatchLine.__table__
    rr = RecipientRow.__table__
    r = Resident.__table__
    c = Card.__table__
    cols = ["batch_id", "recipient_row_id", "resident_id", "project_id", "department_id", "period", "name",
            "amount_fen", "status", "route", "route_reason", "payee_resident_id", "payee_name", "bank_id", "account",
            "account_last4", "account_bidx", "town_id", "village_id", "created_at"]
    sel = (sa.select(sa.literal(batch.id), rr.c.id, rr.c.resident_id, sa.literal(project.id),
                     sa.literal(project.department_id), sa.literal(batch.period), rr.c.name, rr.c.amount_fen,
                     sa.literal("pending"), sa.literal("own_card"), sa.literal(OWN_CARD_REASON), r.c.id,
                     r.c.name, c.c.bank_id, sa.type_coerce(c.c.account, RAW), c.c.account_last4, c.c.account_bidx,
                     r.c.town_id,
                     r.c.village_id, sa.literal(now, sa.DateTime))
           .select_from(rr.join(r, r.c.id == rr.c.resident_id)
                        .join(c, sa.and_(c.c.resident_id == r.c.id, c.c.status == "active",
                                         c.c.account.is_not(None))))
           .where(rr.c.id.in_(candidates), r.c.deceased_on.is_(None),
                  sa.or_(rr.c.match_result.is_(None), rr.c.match_result != "name_mismatch")))
    return db.session.execute(sa.insert(lines).from_select(cols, sel)).rowcount


# Pays the beneficiary's own active card: the common case, also applied set-based (set_based) by create_batch.
OWN_CARD = Route("own_card", "本人社保卡", set_based=insert_own_card_lines,
                 applies=lambda ctx, row: not ctx.project.per_household and row["resident_id"] in ctx.cards,
                 decide=lambda ctx, row: _paid(ctx, "own_card", OWN_CARD_REASON, row["resident_id"],
                                               ctx.cards[row["resident_id"]]))

# The rules in the order applied: the first that applies to a row decides it.
ROUTES: list[Route] = [
    Route("unmatched", "未匹配到居民", pays=False,
          applies=lambda ctx, row: not row.get("resident_id") or row["resident_id"] not in ctx.people,
          decide=lambda ctx, row: _held(MATCH_RESULTS.get(row.get("match_result") or "", "未匹配到居民"))),
    Route("deceased", "已登记死亡", pays=False,
          applies=lambda ctx, row: ctx.people[row["resident_id"]].deceased_on is not None,
          decide=lambda ctx, row: _held("居民已登记死亡，请核实后处理")),
    Route("name_mismatch", "姓名不符", pays=False,
          applies=lambda ctx, row: row.get("match_result") == "name_mismatch",
          decide=lambda ctx, row: _held("姓名与社保卡登记不符，请核实")),
    Route("no_head", "未登记户主", pays=False,
          applies=lambda ctx, row: ctx.project.per_household and not _target(ctx, row),
          decide=lambda ctx, row: _held("该户未登记户主，请先登记户主")),
    Route("head_deceased", "户主已故", pays=False,
          applies=lambda ctx, row: ctx.project.per_household and _household(ctx, row) in ctx.dead_heads,
          decide=lambda ctx, row: _held("户主已故，请先登记新户主（户主变更后可再发放）")),
    Route("household_paid", "本户已发放", pays=False,
          applies=lambda ctx, row: ctx.project.per_household and _household(ctx, row) in ctx.household_paid,
          decide=lambda ctx, row: _held(f"到户资金每户每期只发一份，本户已有{ctx.household_paid[_household(ctx, row)]}"
                                        "的发放明细")),
    Route("head_card", "户主社保卡",
          applies=lambda ctx, row: ctx.project.per_household and _target(ctx, row) in ctx.cards,
          decide=lambda ctx, row: _paid(ctx, "head_card", "到户资金，发放至户主本人社保卡金融账户",
                                        _target(ctx, row), ctx.cards[_target(ctx, row)])),
    OWN_CARD,
    Route("proxy", "代管代持人账户", applies=lambda ctx, row: _proxy_account(ctx, row) is not None, decide=_pay_proxy),
    Route("passbook", "一本通账户",
          applies=lambda ctx, row: ctx.project.via_passbook and _target(ctx, row) in ctx.passbooks,
          decide=lambda ctx, row: _paid(ctx, "passbook", "并行期：社保卡暂不可用，发放至已登记的“一本通”账户",
                                        _target(ctx, row), ctx.passbooks[_target(ctx, row)])),
    Route("no_usable_card", "无可用社保卡", pays=False, applies=lambda ctx, row: True, decide=_no_usable_card),
]
ROUTE_LABELS = {rule.code: rule.label for rule in ROUTES if rule.pays}
