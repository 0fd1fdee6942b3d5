"""Risk checks (风险核查) the finance bureau runs on demand and on a schedule.

Each check is SQL over the ledger (台账) and the registry that returns the irregular groups with their
evidence: the database does the finding, Python only shapes the (few) results into a worklist. No check
reads the whole ledger on a routine run: each starts from something small (residents flagged deceased,
cancelled or unactivated cards, the maintained who-was-paid-by-what tables of ``summary``) and looks up
the ledger rows of those candidates by index; the duplicate check reads the rows added since its
watermark. Registry facts (death, card status, categories, standards) are read as they are now, so a
fact recorded late still reaches old payments. Findings are kept across runs by (check_code, subject_key): a run that finds the same thing
again refreshes the evidence but never reopens what finance already confirmed or dismissed.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from onecard import audit, settings_store
from onecard.actors import Actor
from onecard.cards.models import Card
from onecard.db import date_of, string_agg, unindexed, upsert
from onecard.errors import Invalid, NotFound
from onecard.exclusions import service as exclusions
from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.oversight import reads
from onecard.oversight.models import (
    FINDING_STATES,
    AccountPayee,
    PayeeProject,
    ProxyWard,
    RiskFinding,
    RiskRun,
    RiskWatermark,
)
from onecard.payments.models import LedgerEntry
from onecard.people.models import CATEGORIES, Household, ProxyAppointment, Resident, ResidentCategory
from onecard.privacy import mask_name
from onecard.projects.models import Project
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow
from onecard.validation import format_yuan

permissions.register({
    "risk.run": {"finance", "admin"},
    "risk.read": {"finance", "admin", "auditor", "dept_operator", "dept_reviewer"},
    "risk.mark": {"finance"},
})

FINDING_MACHINE = StateMachine(
    name="risk_finding", state_attr="status",
    transitions={"open": frozenset({"confirmed", "dismissed"}), "confirmed": frozenset({"open", "dismissed"}),
                 "dismissed": frozenset({"open"})},
    labels=FINDING_STATES,
)

# Thresholds: defaults here, overridable per site (site_settings "risk.<name>") or per run.
DEFAULT_THRESHOLDS = {
    "account_max_households": 1,   # more distinct households than this on one account is a finding
    "proxy_max_wards": 5,          # more wards than this held by one proxy is a finding
}
MAX_EVIDENCE_IDS = 50


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    run: Callable[..., list[dict]]
    incremental: bool = False       # reads only ledger rows after its watermark: run(thresholds, since_id)


# A run reads the ledger rows after the last id an earlier run saw, less those that a transaction still
# open at that run's start could have added: ids seen by a run become "safe" only this long after it.
WATERMARK_MARGIN = timedelta(hours=1)


L = LedgerEntry
PAID = L.outcome == "paid"


def _among(column, candidates):
    """``column IN candidates`` with the (few) candidates fetched first. Estimating such a subquery,
    PostgreSQL planned a scan of the whole ledger; given the values it looks them up by index."""
    values = sorted(set(db.session.execute(candidates).scalars()))
    if not values:
        return sa.false()       # a constant: the database skips the query (an empty IN it did not)
    return column.in_(values) if len(values) <= 20_000 else column.in_(candidates)


def _ids(text) -> list[int]:
    ids = sorted({int(x) for x in str(text or "").split(",") if x})
    return ids[:MAX_EVIDENCE_IDS]


def _finding(code, subject, r, summary, evidence, *, department_id=None, project_id=None, resident_id=None,
             amount_fen=0) -> dict:
    return {"check_code": code, "subject_key": subject, "department_id": department_id, "project_id": project_id,
            "resident_id": resident_id, "town_id": getattr(r, "town_id", None),
            "village_id": getattr(r, "village_id", None), "amount_fen": int(amount_fen or 0),
            "summary": summary[:300], "evidence": json.dumps(evidence, ensure_ascii=False, default=str)}


def _person(r) -> dict:
    return {"resident_id": r.resident_id, "name": mask_name(r.name), "id_number": r.id_masked}


def _per_resident_project(where, *extra_joins):
    """Paid ledger rows matching ``where``, grouped per beneficiary and project, with the evidence ids."""
    stmt = sa.select(
        L.resident_id, L.project_id, sa.func.min(L.department_id).label("department_id"),
        sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
        sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
        sa.func.min(L.period).label("first_period"), sa.func.max(L.period).label("last_period"),
        string_agg(L.id).label("ledger_ids"),
    ).select_from(L)
    for target, on in extra_joins:
        stmt = stmt.join(target, on)
    grouped = stmt.where(PAID, *where).group_by(L.resident_id, L.project_id).subquery()
    return (sa.select(grouped, Resident.name, Resident.id_masked, Resident.deceased_on, Project.name.label("project"),
                      Project.standard_fen, Project.required_category)
            .join(Resident, Resident.id == grouped.c.resident_id)
            .join(Project, Project.id == grouped.c.project_id))


def _common(r) -> dict:
    return {**_person(r), "project": r.project, "payments": int(r.n), "amount_fen": int(r.fen),
            "amount_yuan": format_yuan(int(r.fen)), "periods": f"{r.first_period}～{r.last_period}",
            "ledger_ids": _ids(r.ledger_ids)}


# ---- the checks ---------------------------------------------------------------------

def _duplicate_candidates(since_id: int):
    """Beneficiaries who may hold a duplicate among the paid rows after ``since_id`` (None: everyone).

    A duplicate involving a new row is either two new rows (grouped among the new rows only) or a new row
    repeating an older one, which needs an older row of the same project and period to exist at all
    (usually none: new rows are mostly a new period); only those new rows are looked up one by one.
    """
    if not since_id:
        return None
    new = sa.and_(PAID, L.id > since_id)
    within = (sa.select(unindexed(L.resident_id)).where(new)
              .group_by(unindexed(L.resident_id), unindexed(L.project_id), unindexed(L.period))
              .having(sa.func.count() > 1))
    found = set(db.session.execute(within).scalars())
    old = aliased(LedgerEntry)
    touched = sa.select(unindexed(L.project_id).label("project_id"), unindexed(L.period).label("period")) \
        .where(new).distinct().subquery()
    with_old = db.session.execute(sa.select(touched).where(sa.exists().where(
        old.project_id == touched.c.project_id, old.period == touched.c.period, old.id <= since_id))).all()
    for project_id, period in with_old:      # a few (re-issues of an earlier month), usually none
        found.update(db.session.execute(sa.select(L.resident_id).where(
            new, L.project_id == project_id, L.period == period,
            sa.exists().where(old.resident_id == L.resident_id, old.project_id == project_id, old.period == period,
                              old.outcome == "paid", old.id <= since_id))).scalars())
    return found if len(found) <= 10_000 else None     # that many: one pass over everything is cheaper


def check_duplicate_payment(t: dict, since_id: int = 0) -> list[dict]:
    """同一人同一项目同一期间发放两次以上 (should be impossible: this checks the guarantees).

    Reads the ledger rows after ``since_id`` only: earlier rows were examined by earlier runs.
    """
    candidates = _duplicate_candidates(since_id)
    if candidates is not None and not candidates:
        return []
    where = [PAID] if candidates is None else [PAID, L.resident_id.in_(sorted(candidates))]
    grouped = (sa.select(L.resident_id, L.project_id, L.period, sa.func.min(L.department_id).label("department_id"),
                         sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
                         sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
                         string_agg(L.id).label("ledger_ids"))
               .where(*where).group_by(L.resident_id, L.project_id, L.period).having(sa.func.count() > 1).subquery())
    stmt = (sa.select(grouped, Resident.name, Resident.id_masked, Project.name.label("project"))
            .join(Resident, Resident.id == grouped.c.resident_id).join(Project, Project.id == grouped.c.project_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_person(r), "project": r.project, "period": r.period, "payments": int(r.n),
              "amount_yuan": format_yuan(int(r.fen)), "ledger_ids": _ids(r.ledger_ids)}
        out.append(_finding("duplicate_payment", f"{r.resident_id}:{r.project_id}:{r.period}", r,
                            f"{mask_name(r.name)} 在“{r.project}”{r.period} 期间被发放 {r.n} 次", ev,
                            department_id=r.department_id, project_id=r.project_id, resident_id=r.resident_id,
                            amount_fen=r.fen))
    return out


def check_shared_account(t: dict) -> list[dict]:
    """一个银行账户为多个不同家庭的人收款 (excluding legal proxies, which have their own check)."""
    base = sa.and_(PAID, L.account_bidx.is_not(None), L.route != "proxy")
    # Accounts paid for more than one person, from the maintained (account, beneficiary) pairs.
    candidates = (sa.select(AccountPayee.account_bidx).group_by(AccountPayee.account_bidx)
                  .having(sa.func.count() > 1))
    household = sa.func.coalesce(Resident.household_id, -Resident.id)
    stmt = (sa.select(L.account_bidx, sa.func.min(L.bank_id).label("bank_id"),
                      sa.func.max(L.account_last4).label("last4"),
                      sa.func.count(sa.distinct(household)).label("households"),
                      sa.func.count(sa.distinct(L.resident_id)).label("people"),
                      sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
                      sa.func.min(L.department_id).label("department_id"),
                      sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
                      string_agg(L.id).label("ledger_ids"))
            .join(Resident, Resident.id == L.resident_id)
            .where(base, _among(L.account_bidx, candidates))
            .group_by(L.account_bidx).having(sa.func.count(sa.distinct(household)) > t["account_max_households"]))
    found = db.session.execute(stmt).all()
    if not found:
        return []
    people = db.session.execute(
        sa.select(L.account_bidx, L.resident_id, Resident.name, Resident.id_masked, Resident.household_id,
                  sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"))
        .join(Resident, Resident.id == L.resident_id)
        .where(base, L.account_bidx.in_([r.account_bidx for r in found]))
        .group_by(L.account_bidx, L.resident_id, Resident.name, Resident.id_masked, Resident.household_id)).all()
    out = []
    for r in found:
        who = [{**_person(p), "household_id": p.household_id, "payments": int(p.n),
                "amount_yuan": format_yuan(int(p.fen))} for p in people if p.account_bidx == r.account_bidx]
        ev = {"account": "****" + (r.last4 or ""), "bank_id": r.bank_id, "households": int(r.households),
              "people": who[:MAX_EVIDENCE_IDS], "payments": int(r.n), "amount_yuan": format_yuan(int(r.fen)),
              "ledger_ids": _ids(r.ledger_ids)}
        out.append(_finding("shared_account", f"account:{r.account_bidx}", r,
                            f"尾号 {r.last4} 的账户为 {r.households} 个不同家庭的 {r.people} 人收款", ev,
                            amount_fen=r.fen))
    return out


def check_proxy_many_wards(t: dict) -> list[dict]:
    """一名代管代持人持有或代收超过阈值人数的社保卡 (appointments in force plus payments received as proxy)."""
    today = local_today()
    pairs = sa.union(
        sa.select(ProxyAppointment.proxy_resident_id.label("proxy_id"), ProxyAppointment.resident_id.label("ward_id"))
        .where(ProxyAppointment.revoked_at.is_(None),
               sa.or_(ProxyAppointment.valid_until.is_(None), ProxyAppointment.valid_until >= today)),
        sa.select(ProxyWard.proxy_resident_id.label("proxy_id"), ProxyWard.resident_id.label("ward_id")),
    ).subquery()
    grouped = (sa.select(pairs.c.proxy_id, sa.func.count(sa.distinct(pairs.c.ward_id)).label("wards"),
                         string_agg(pairs.c.ward_id).label("ward_ids"))
               .group_by(pairs.c.proxy_id).having(sa.func.count(sa.distinct(pairs.c.ward_id)) > t["proxy_max_wards"])
               .subquery())
    stmt = (sa.select(grouped, Resident.name, Resident.id_masked, Resident.town_id, Resident.village_id,
                      Resident.id.label("resident_id"))
            .join(Resident, Resident.id == grouped.c.proxy_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_person(r), "wards": int(r.wards), "ward_resident_ids": _ids(r.ward_ids),
              "threshold": t["proxy_max_wards"]}
        out.append(_finding("proxy_many_wards", f"proxy:{r.proxy_id}", r,
                            f"代管代持人 {mask_name(r.name)} 为 {r.wards} 人持卡或代收，超过 {t['proxy_max_wards']} 人", ev,
                            resident_id=r.proxy_id))
    return out


def check_paid_deceased(t: dict) -> list[dict]:
    """向已登记死亡的人发放（死亡日期不晚于发放日）。"""
    deceased = sa.select(Resident.id).where(Resident.deceased_on.is_not(None))   # few: ix_residents_deceased
    stmt = _per_resident_project(
        [_among(L.resident_id, deceased), Resident.deceased_on.is_not(None),
         Resident.deceased_on <= date_of(L.occurred_at)],
        (Resident, Resident.id == L.resident_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_common(r), "deceased_on": r.deceased_on}
        out.append(_finding("paid_deceased", f"{r.resident_id}:{r.project_id}", r,
                            f"{mask_name(r.name)} 已于 {r.deceased_on} 死亡，其后仍发放“{r.project}”{r.n} 笔", ev,
                            department_id=r.department_id, project_id=r.project_id, resident_id=r.resident_id,
                            amount_fen=r.fen))
    return out


def check_household_paid_twice(t: dict) -> list[dict]:
    """到户资金同一户同一期间发放两次以上（到户项目每户每期只发一份；户按受益人现在所属的户）。"""
    per_household = sa.select(Project.id).where(Project.per_household.is_(True))     # few projects
    grouped = (sa.select(Resident.household_id, L.project_id, L.period,
                         sa.func.min(L.department_id).label("department_id"),
                         sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
                         sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
                         string_agg(L.id).label("ledger_ids"), string_agg(L.resident_id).label("resident_ids"))
               .join(Resident, Resident.id == L.resident_id)
               .where(PAID, _among(L.project_id, per_household), Resident.household_id.is_not(None))
               .group_by(Resident.household_id, L.project_id, L.period).having(sa.func.count() > 1).subquery())
    stmt = (sa.select(grouped, Household.code, Household.head_id, Project.name.label("project"))
            .join(Household, Household.id == grouped.c.household_id)
            .join(Project, Project.id == grouped.c.project_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {"household_id": r.household_id, "household_code": r.code, "head_resident_id": r.head_id,
              "project": r.project, "period": r.period, "payments": int(r.n), "amount_yuan": format_yuan(int(r.fen)),
              "beneficiary_resident_ids": _ids(r.resident_ids), "ledger_ids": _ids(r.ledger_ids)}
        out.append(_finding("household_paid_twice", f"household:{r.household_id}:{r.project_id}:{r.period}", r,
                            f"户号 {r.code} 的“{r.project}”{r.period} 期间发放 {r.n} 笔（到户资金每户只发一份）", ev,
                            department_id=r.department_id, project_id=r.project_id, resident_id=r.head_id,
                            amount_fen=r.fen))
    return out


def check_paid_deceased_payee(t: dict) -> list[dict]:
    """发放到已死亡的收款人（户主、代管代持人）账户：收款人死亡日期不晚于发放日。"""
    payee = aliased(Resident)
    deceased = sa.select(Resident.id).where(Resident.deceased_on.is_not(None))   # few
    grouped = (sa.select(L.payee_resident_id, L.project_id, sa.func.min(L.department_id).label("department_id"),
                         sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
                         sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
                         sa.func.min(L.period).label("first_period"), sa.func.max(L.period).label("last_period"),
                         string_agg(L.id).label("ledger_ids"), string_agg(L.resident_id).label("resident_ids"))
               .join(payee, payee.id == L.payee_resident_id)
               .where(PAID, _among(L.payee_resident_id, deceased), payee.deceased_on <= date_of(L.occurred_at))
               .group_by(L.payee_resident_id, L.project_id).subquery())
    stmt = (sa.select(grouped, Resident.name, Resident.id_masked, Resident.deceased_on,
                      Resident.id.label("resident_id"), Project.name.label("project"))
            .join(Resident, Resident.id == grouped.c.payee_resident_id)
            .join(Project, Project.id == grouped.c.project_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_person(r), "deceased_on": r.deceased_on, "project": r.project, "payments": int(r.n),
              "amount_yuan": format_yuan(int(r.fen)), "periods": f"{r.first_period}～{r.last_period}",
              "beneficiary_resident_ids": _ids(r.resident_ids), "ledger_ids": _ids(r.ledger_ids)}
        out.append(_finding("paid_deceased_payee", f"payee:{r.payee_resident_id}:{r.project_id}", r,
                            f"收款人 {mask_name(r.name)} 已于 {r.deceased_on} 死亡，其后仍有“{r.project}”{r.n} 笔发放到其账户",
                            ev, department_id=r.department_id, project_id=r.project_id,
                            resident_id=r.payee_resident_id, amount_fen=r.fen))
    return out


def check_paid_cancelled_card(t: dict) -> list[dict]:
    """发放到已注销的社保卡：账户属于已注销的卡且无在用卡持有该账户；无账户索引的旧明细按本人无在用卡判断。"""
    cancelled = aliased(Card)
    live = aliased(Card)
    # IN over the (small) set of cancelled cards lets the database drive from them (a semi-join),
    # rather than probing the card table once per ledger row.
    dead_accounts = sa.select(cancelled.account_bidx).where(
        cancelled.status == "cancelled", cancelled.account_bidx.is_not(None),
        ~sa.exists().where(live.account_bidx == cancelled.account_bidx, live.status != "cancelled"))
    cardless = sa.select(cancelled.resident_id).where(
        cancelled.status == "cancelled",
        ~sa.exists().where(live.resident_id == cancelled.resident_id, live.status != "cancelled"))
    by_account = sa.and_(L.route != "passbook", L.account_bidx.in_(dead_accounts))
    by_person = sa.and_(
        L.route == "own_card", L.account_bidx.is_(None), L.resident_id.in_(cardless),
        sa.exists().where(cancelled.resident_id == L.resident_id, cancelled.status == "cancelled",
                          cancelled.cancelled_at <= L.occurred_at))
    # The beneficiaries concerned, first (few: found through the account index and the cancelled cards),
    # so the OR below is evaluated over their rows only rather than over the whole ledger.
    other = aliased(LedgerEntry)
    concerned = sa.union(sa.select(other.resident_id).where(other.account_bidx.in_(dead_accounts)), cardless)
    out = []
    for r in db.session.execute(_per_resident_project([_among(L.resident_id, concerned), sa.or_(by_account, by_person)])):
        out.append(_finding("paid_cancelled_card", f"{r.resident_id}:{r.project_id}", r,
                            f"{mask_name(r.name)} 的“{r.project}”{r.n} 笔发放到已注销的社保卡", _common(r),
                            department_id=r.department_id, project_id=r.project_id, resident_id=r.resident_id,
                            amount_fen=r.fen))
    return out


def check_above_standard(t: dict) -> list[dict]:
    """单笔金额高于项目标准。"""
    PP = PayeeProject
    # Candidates from the maintained largest amount per beneficiary and project; their rows decide.
    over = (sa.select(PP.resident_id).join(Project, Project.id == PP.project_id)
            .where(Project.standard_fen.is_not(None), PP.max_fen > Project.standard_fen))
    stmt = _per_resident_project([_among(L.resident_id, over), Project.standard_fen.is_not(None),
                                  L.amount_fen > Project.standard_fen],
                                 (Project, Project.id == L.project_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_common(r), "standard_yuan": format_yuan(int(r.standard_fen))}
        out.append(_finding("above_standard", f"{r.resident_id}:{r.project_id}", r,
                            f"{mask_name(r.name)} 的“{r.project}”有 {r.n} 笔高于标准 {format_yuan(int(r.standard_fen))}",
                            ev, department_id=r.department_id, project_id=r.project_id, resident_id=r.resident_id,
                            amount_fen=r.fen))
    return out


def check_category_mismatch(t: dict) -> list[dict]:
    """项目要求的身份（如低保金要求低保户）在发放日不成立。"""
    day = date_of(L.occurred_at)
    holds = sa.exists().where(
        ResidentCategory.resident_id == L.resident_id, ResidentCategory.category == Project.required_category,
        sa.or_(ResidentCategory.since.is_(None), ResidentCategory.since <= day),
        sa.or_(ResidentCategory.until.is_(None), ResidentCategory.until >= day))
    # Candidates: beneficiaries whose category does not cover their whole span of payments (first to last)
    # by the maintained table; their rows decide, date by date.
    PP, RC = PayeeProject, aliased(ResidentCategory)
    covered = sa.exists().where(
        RC.resident_id == PP.resident_id, RC.category == Project.required_category,
        sa.or_(RC.since.is_(None), RC.since <= date_of(PP.first_at)),
        sa.or_(RC.until.is_(None), RC.until >= date_of(PP.last_at)))
    uncovered = (sa.select(PP.resident_id).join(Project, Project.id == PP.project_id)
                 .where(Project.required_category.is_not(None), ~covered))
    stmt = _per_resident_project([_among(L.resident_id, uncovered), Project.required_category.is_not(None), ~holds],
                                 (Project, Project.id == L.project_id))
    out = []
    for r in db.session.execute(stmt):
        category = CATEGORIES.get(r.required_category, r.required_category)
        ev = {**_common(r), "required_category": category}
        out.append(_finding("category_mismatch", f"{r.resident_id}:{r.project_id}", r,
                            f"{mask_name(r.name)} 不是{category}，却领取“{r.project}”{r.n} 笔", ev,
                            department_id=r.department_id, project_id=r.project_id, resident_id=r.resident_id,
                            amount_fen=r.fen))
    return out


def check_unactivated_card(t: dict) -> list[dict]:
    """资金发放到尚未激活的社保卡上（已制卡/已发卡未激活），钱“趴”在卡上。"""
    card = Card
    on_card = sa.or_(
        sa.and_(L.account_bidx.is_not(None), L.account_bidx == card.account_bidx),
        sa.and_(L.account_bidx.is_(None), L.route == "own_card", L.resident_id == card.resident_id))
    grouped = (sa.select(card.id.label("card_id"), card.status, card.resident_id.label("holder_id"),
                         card.account_last4, sa.func.min(L.department_id).label("department_id"),
                         sa.func.min(L.town_id).label("town_id"), sa.func.min(L.village_id).label("village_id"),
                         sa.func.count().label("n"), sa.func.sum(L.amount_fen).label("fen"),
                         string_agg(L.id).label("ledger_ids"))
               .select_from(card).join(L, on_card)
               .where(card.status.in_(("ready", "issued")), PAID, L.route != "passbook")
               .group_by(card.id, card.status, card.resident_id, card.account_last4).subquery())
    stmt = (sa.select(grouped, Resident.name, Resident.id_masked, Resident.id.label("resident_id"))
            .join(Resident, Resident.id == grouped.c.holder_id))
    out = []
    for r in db.session.execute(stmt):
        ev = {**_person(r), "card_status": r.status, "account": "****" + (r.account_last4 or ""),
              "payments": int(r.n), "amount_yuan": format_yuan(int(r.fen)), "ledger_ids": _ids(r.ledger_ids)}
        out.append(_finding("unactivated_card", f"card:{r.card_id}", r,
                            f"{mask_name(r.name)} 的社保卡尚未激活，卡上已有 {format_yuan(int(r.fen))}", ev,
                            department_id=r.department_id, resident_id=r.holder_id, amount_fen=r.fen))
    return out


def check_excluded_subsidies(t: dict) -> list[dict]:
    """同一人（或同一户）同一期间领取了互斥的补贴（exclusions: rules recorded by the bureau), across departments."""
    out = []
    names = dict(db.session.execute(sa.select(Project.id, Project.name)).all())
    for c in exclusions.paid_conflicts():
        person = db.session.get(Resident, c["resident_id"])
        projects = "、".join(f"“{names.get(p, p)}”" for p in c["project_ids"])
        ev = {"resident_id": c["resident_id"], "name": mask_name(person.name), "id_number": person.id_masked,
              "rule": c["rule"], "source": c["source"], "period": c["period"], "projects": projects,
              "department_ids": c["department_ids"], "amount_yuan": format_yuan(c["amount_fen"]),
              "ledger_ids": c["ledger_ids"][:MAX_EVIDENCE_IDS]}
        who = "同一户" if c["scope"] == "household" else ""
        out.append({"check_code": "excluded_subsidies", "subject_key": f"{c['rule_id']}:{c['who']}:{c['period']}",
                    "department_id": None, "project_id": None, "resident_id": c["resident_id"],
                    "town_id": c["town_id"], "village_id": c["village_id"], "amount_fen": c["amount_fen"],
                    "summary": f"{mask_name(person.name)}{who}在{c['period']}同时领取互斥的{projects}"[:300],
                    "evidence": json.dumps(ev, ensure_ascii=False, default=str)})
    return out


CHECKS = [
    Check("duplicate_payment", "同一人同一项目同一期间重复发放", check_duplicate_payment, incremental=True),
    Check("shared_account", "一个账户为多个无关人员收款", check_shared_account),
    Check("proxy_many_wards", "代管代持人数超过阈值", check_proxy_many_wards),
    Check("paid_deceased", "向已死亡人员发放", check_paid_deceased),
    Check("paid_deceased_payee", "发放到已死亡的户主或代管代持人账户", check_paid_deceased_payee),
    Check("household_paid_twice", "到户资金同一户同一期间重复发放", check_household_paid_twice),
    Check("paid_cancelled_card", "发放到已注销的社保卡", check_paid_cancelled_card),
    Check("above_standard", "金额高于项目标准", check_above_standard),
    Check("category_mismatch", "不符合项目要求的身份类别", check_category_mismatch),
    Check("unactivated_card", "资金滞留在未激活的社保卡", check_unactivated_card),
    Check("excluded_subsidies", "同一期间领取互斥的补贴", check_excluded_subsidies),
]
CHECK_TITLES = {c.code: c.title for c in CHECKS}


def thresholds(overrides: dict | None = None) -> dict:
    values = dict(DEFAULT_THRESHOLDS)
    for name in values:
        stored = settings_store.get(f"risk.{name}")
        if stored is not None and stored.isdigit():
            values[name] = int(stored)
    for name, value in (overrides or {}).items():
        if name not in values:
            raise Invalid(f"未知的阈值：{name}", code="threshold_unknown", field=name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
            raise Invalid("阈值应为 1 至 10000 之间的整数", code="threshold_invalid", field=name)
        values[name] = value
    return values


def run_all_checks(actor: Actor, *, trigger: str = "manual", overrides: dict | None = None,
                   only: list[str] | None = None) -> RiskRun:
    """Run every risk check (or ``only`` some) and store the worklist; one transaction, audited.

    Finance or the bureau on demand; the scheduler with the system actor. Refuses other roles.
    """
    permissions.require(actor, "risk.run")
    for code in only or []:
        if code not in CHECK_TITLES:
            raise Invalid(f"未知的核查项：{code}", code="check_unknown", field="checks")
    t = thresholds(overrides)
    run = RiskRun(trigger=trigger, actor_label=(actor.label or "")[:100], actor_id=actor.id if actor.kind == "staff"
                  else None, params=json.dumps(t), started_at=utcnow())
    db.session.add(run)
    db.session.flush()
    counts = {}
    table = RiskFinding.__table__
    top_id = db.session.execute(sa.select(sa.func.max(L.id))).scalar() or 0
    for check in CHECKS:
        if only and check.code not in only:
            continue
        found = check.run(t, _advance_watermark(check.code, top_id, run.started_at)) if check.incremental \
            else check.run(t)
        counts[check.code] = len(found)
        if not found:
            continue
        stmt = upsert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.check_code, table.c.subject_key],
            set_={"last_run_id": stmt.excluded.last_run_id, "evidence": stmt.excluded.evidence,
                  "summary": stmt.excluded.summary, "amount_fen": stmt.excluded.amount_fen})
        now = utcnow()
        db.session.execute(stmt, [{**f, "first_run_id": run.id, "last_run_id": run.id, "status": "open",
                                   "created_at": now} for f in found])
    run.counts = json.dumps(counts)
    run.new_findings = db.session.execute(
        sa.select(sa.func.count()).where(RiskFinding.first_run_id == run.id)).scalar()
    run.finished_at = utcnow()
    audit.record("risk.run", actor=actor, entity_type="risk_run", entity_id=run.id,
                 after={"trigger": trigger, "counts": counts, "thresholds": t, "new_findings": run.new_findings})
    db.session.commit()
    return run


def _advance_watermark(code: str, top_id: int, started_at) -> int:
    """The id after which ``code`` must read in this run; records ``top_id`` to become safe later."""
    mark = db.session.get(RiskWatermark, code)
    if mark is None:
        mark = RiskWatermark(check_code=code, safe_id=0)
        db.session.add(mark)
    if mark.pending_at is not None and mark.pending_at <= started_at - WATERMARK_MARGIN:
        mark.safe_id, mark.pending_id, mark.pending_at = mark.pending_id, None, None
    since = mark.safe_id
    if mark.pending_at is None:     # an unripe pending mark is kept, or frequent runs would never ripen one
        mark.pending_id, mark.pending_at = top_id, started_at
    return since


def run_dict(run: RiskRun) -> dict:
    counts = json.loads(run.counts or "{}")
    return {"id": run.id, "trigger": run.trigger, "actor": run.actor_label, "thresholds": json.loads(run.params),
            "counts": counts, "checks": [{"code": c, "title": CHECK_TITLES.get(c, c), "findings": n}
                                         for c, n in counts.items()],
            "new_findings": run.new_findings, "started_at": run.started_at, "finished_at": run.finished_at}


def list_runs(actor: Actor, *, page=None, per_page=None) -> dict:
    permissions.require(actor, "risk.read")
    page, per_page = reads.page_args(page, per_page)
    reads.audit_read(actor, "risk_runs", {"page": page})
    total, rows = reads.paged(sa.select(RiskRun).order_by(RiskRun.id.desc()), page, per_page)
    return {"total": total, "page": page, "per_page": per_page, "items": [run_dict(r[0]) for r in rows]}


def finding_dict(f: RiskFinding) -> dict:
    return {"id": f.id, "check": f.check_code, "check_title": CHECK_TITLES.get(f.check_code, f.check_code),
            "subject_key": f.subject_key if not f.subject_key.startswith("account:") else "account",
            "department_id": f.department_id, "project_id": f.project_id, "resident_id": f.resident_id,
            "town_id": f.town_id, "village_id": f.village_id, "amount_fen": f.amount_fen,
            "amount_yuan": format_yuan(f.amount_fen), "summary": f.summary, "evidence": json.loads(f.evidence),
            "status": f.status, "status_label": FINDING_STATES[f.status], "note": f.note,
            "first_run_id": f.first_run_id, "last_run_id": f.last_run_id, "decided_at": f.decided_at}


def list_findings(actor: Actor, *, check: str | None = None, status: str | None = None, page=None,
                  per_page=None) -> dict:
    """The worklist; departments see findings about their own projects, finance/auditor everything."""
    permissions.require(actor, "risk.read")
    page, per_page = reads.page_args(page, per_page)
    reads.audit_read(actor, "risk_findings", {"check": check, "status": status, "page": page})
    stmt = sa.select(RiskFinding).where(permissions.scope_filter(actor, RiskFinding))
    if check:
        stmt = stmt.where(RiskFinding.check_code == check)
    if status:
        stmt = stmt.where(RiskFinding.status == status)
    total, rows = reads.paged(stmt.order_by(RiskFinding.id), page, per_page)
    return {"total": total, "page": page, "per_page": per_page, "items": [finding_dict(r[0]) for r in rows]}


def mark_finding(actor: Actor, finding_id: int, *, status: str, note: str | None = None) -> dict:
    """Finance marks a finding confirmed (a real problem), dismissed (explained) or open again; audited."""
    permissions.require(actor, "risk.mark")
    finding = db.session.get(RiskFinding, finding_id)
    if finding is None:
        raise NotFound("疑点记录不存在", code="finding_not_found")
    if status not in FINDING_STATES:
        raise Invalid("状态应为 open、confirmed 或 dismissed", code="status_invalid", field="status")
    note = (note or "").strip() or None
    if status == "dismissed" and not note:
        raise Invalid("排除疑点必须填写核查说明", code="note_required", field="note")
    if note and len(note) > 500:
        raise Invalid("说明不能超过500字", code="note_too_long", field="note")
    FINDING_MACHINE.transition(finding, status, actor, action=f"risk_finding.{status}", note=note,
                               extra_values={"note": note, "decided_by": actor.id, "decided_at": utcnow()})
    db.session.commit()
    return finding_dict(finding)
