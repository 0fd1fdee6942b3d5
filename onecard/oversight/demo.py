"""Oversight's demo step: synthetic payments when none exist, a few PLANTED irregularities for finance's
risk run to find, and one published 公示. Everything here is synthetic (the database is marked so).

Planted (see PLANTS): a payment after the recipient's death, two unrelated people paid into one account,
an amount above the project standard, 低保金 to someone not recognised as 低保户, a proxy holding cards
for more people than the threshold, and money sitting on a card that was never activated.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from onecard import audit
from onecard.actors import cli_actor
from onecard.cards.models import Card
from onecard.db import bulk_insert
from onecard.extensions import db
from onecard.lists.models import RecipientList, RecipientRow
from onecard.oversight import disclosure
from onecard.payments import ledger
from onecard.payments.models import LedgerEntry
from onecard.people.models import ProxyAppointment, Resident, ResidentCategory
from onecard.projects.models import Project
from onecard.staff.models import StaffAccount
from onecard.staff.service import actor_for
from onecard.timeutil import local_today

SYNTHETIC_BATCH_BASE = 9_000_000      # batch and line ids of rows this step writes straight into the ledger
FAILURE = ("E101", "账户状态异常，银行退回")
# (project name, how many people at most, amount in fen or None for the project standard)
PAY_PLAN = [("高龄津贴", 300, None), ("城乡居民基础养老金", 400, None), ("最低生活保障金", 200, 65000)]
# The demo lists' rows, already matched (plain tuples in this order).
_LIST_ROW_COLUMNS = ("list_id", "project_id", "period", "row_no", "name", "id_number", "id_bidx", "ethnicity",
                     "town_id", "village_id", "bank_id", "account_last4", "amount_fen", "match_result",
                     "resident_id", "card_id", "matched_at")


def _months(n: int = 3) -> list[str]:
    first = local_today().replace(day=1)
    out = []
    for _ in range(n):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(f"{first.year:04d}-{first.month:02d}")
    return list(reversed(out))


def _next_ids() -> tuple[int, int]:
    line = db.session.execute(sa.select(sa.func.max(LedgerEntry.line_id))).scalar() or 0
    batch = db.session.execute(sa.select(sa.func.max(LedgerEntry.batch_id))).scalar() or 0
    return max(line, SYNTHETIC_BATCH_BASE) + 1, max(batch, SYNTHETIC_BATCH_BASE) + 1


def _eligible(project: Project, limit: int):
    """Residents with a card who plausibly qualify (age for the pensions, category for 低保), oldest first."""
    stmt = (sa.select(Resident.id, Resident.name, Resident.id_number, Resident.id_bidx, Resident.town_id,
                      Resident.village_id, Card.id.label("card_id"), Card.bank_id, Card.status, Card.account_bidx,
                      Card.account_last4)
            .join(Card, sa.and_(Card.resident_id == Resident.id, Card.status != "cancelled"))
            .where(Resident.deceased_on.is_(None)))
    today = local_today()
    if project.name == "高龄津贴":
        stmt = stmt.where(Resident.birth_year <= today.year - 80)
    elif project.name == "城乡居民基础养老金":
        stmt = stmt.where(Resident.birth_year <= today.year - 60)
    if project.required_category:
        stmt = stmt.where(sa.exists().where(ResidentCategory.resident_id == Resident.id,
                                            ResidentCategory.category == project.required_category),
                          Resident.relation_to_head == "户主")
    return db.session.execute(stmt.order_by(Resident.birth_year, Resident.id).limit(limit)).all()


def _synthetic_payments(ctx) -> None:
    """Lists and ledger rows for three projects over the last three months (only into an empty ledger)."""
    rng = ctx.rng
    months = _months()
    line, batch = _next_ids()
    lists_empty = not db.session.execute(sa.select(sa.func.count(RecipientList.id))).scalar()
    ledger_rows, list_rows = [], []
    for name, limit, amount in PAY_PLAN:
        project = db.session.execute(sa.select(Project).where(Project.name == name)).scalars().first()
        if project is None:
            continue
        people = _eligible(project, limit)
        if not people:
            continue
        for period in months:
            y, m = (int(x) for x in period.split("-"))
            approved = datetime(y, m, 10, 2, 0) + timedelta(days=25)
            if lists_empty:
                lst = RecipientList(project_id=project.id, period=period, department_id=project.department_id,
                                    file_name=f"{name}{period}发放名单（演示）.xlsx", file_sha256="0" * 64,
                                    row_count=len(people), status="matched", matched_at=approved - timedelta(days=5),
                                    total_fen=sum(amount or project.standard_fen or 0 for _ in people))
                db.session.add(lst)
                db.session.flush()
            for i, p in enumerate(people, start=1):
                fen = amount or project.standard_fen
                match = {"active": "usable", "issued": "not_activated", "ready": "not_issued",
                         "applied": "not_issued", "lost": "lost_or_cancelled"}.get(p.status, "not_in_registry")
                if lists_empty:
                    list_rows.append((lst.id, project.id, period, i, p.name, p.id_number, p.id_bidx, "01",
                                      p.town_id, p.village_id, p.bank_id, p.account_last4, fen, match, p.id,
                                      p.card_id, approved - timedelta(days=5)))
                if match != "usable":
                    continue
                row = {"batch_id": batch, "project_id": project.id, "department_id": project.department_id,
                       "period": period, "resident_id": p.id, "payee_resident_id": None, "route": "own_card",
                       "bank_id": p.bank_id, "account_last4": p.account_last4 or "0000",
                       "account_bidx": p.account_bidx, "town_id": p.town_id, "village_id": p.village_id,
                       "amount_fen": fen, "approved_at": approved, "reissue_of_line_id": None,
                       "occurred_at": approved + timedelta(days=rng.choice([1, 1, 2, 3]), hours=rng.randint(0, 8))}
                if rng.random() < 0.03:
                    ledger_rows.append({**row, "line_id": line, "outcome": "failed", "failure_code": FAILURE[0],
                                        "failure_reason": FAILURE[1]})
                    failed_line, line = line, line + 1
                    row = {**row, "batch_id": batch + 1, "reissue_of_line_id": failed_line,
                           "occurred_at": row["occurred_at"] + timedelta(days=6)}
                ledger_rows.append({**row, "line_id": line, "outcome": "paid", "failure_code": None,
                                    "failure_reason": None})
                line += 1
            batch += 2
    bulk_insert(RecipientRow.__table__, _LIST_ROW_COLUMNS, list_rows, convert=True)
    ledger.append_entries(ledger_rows)
    db.session.commit()


def _paid_sample(where=(), order=LedgerEntry.id):
    return db.session.execute(sa.select(LedgerEntry).where(LedgerEntry.outcome == "paid", *where)
                              .order_by(order).limit(1)).scalars().first()


def _insert_synthetic(rows: list[dict]) -> bool:
    """Write planted rows straight into the ledger, in a savepoint: skipped if the schema refuses them."""
    line, batch = _next_ids()
    try:
        with db.session.begin_nested():
            ledger.append_entries([
                {"line_id": line + i, "batch_id": batch, "payee_resident_id": None, "route": "own_card",
                 "outcome": "paid", "failure_code": None, "failure_reason": None, "reissue_of_line_id": None, **r}
                for i, r in enumerate(rows)])
        return True
    except sa.exc.IntegrityError:
        return False


def _copy_of(entry: LedgerEntry, **changes) -> dict:
    keep = ("project_id", "department_id", "period", "bank_id", "account_last4", "account_bidx", "town_id",
            "village_id", "amount_fen", "approved_at", "occurred_at", "resident_id")
    return {**{k: getattr(entry, k) for k in keep}, **changes}


def _plant(ctx) -> dict:
    planted: dict[str, object] = {}
    # 1. Paid after death: a paid resident is recorded as having died two weeks before the payment.
    e = _paid_sample(order=LedgerEntry.occurred_at.desc())
    if e is not None:
        r = db.session.get(Resident, e.resident_id)
        r.deceased_on = (e.occurred_at - timedelta(days=14)).date()
        planted["paid_deceased"] = r.id
    # 2. 低保金 to someone not (any longer) recognised as 低保户.
    dibao = db.session.execute(sa.select(Project.id).where(Project.required_category == "dibao")).scalars().all()
    e = _paid_sample([LedgerEntry.project_id.in_(dibao)] if dibao else [sa.false()])
    if e is not None:
        db.session.execute(sa.delete(ResidentCategory).where(ResidentCategory.resident_id == e.resident_id,
                                                             ResidentCategory.category == "dibao"))
        planted["category_mismatch"] = e.resident_id
    # 3. Money on a card that was never activated: a paid resident's card goes back to 已发卡未激活.
    e = _paid_sample([LedgerEntry.route == "own_card", LedgerEntry.account_bidx.is_not(None),
                      LedgerEntry.resident_id.not_in(list(planted.values()) or [0])], order=LedgerEntry.id.desc())
    if e is not None:
        db.session.execute(sa.update(Card).where(Card.resident_id == e.resident_id, Card.status == "active",
                                                 Card.account_bidx == e.account_bidx)
                           .values(status="issued", activated_at=None))
        planted["unactivated_card"] = e.resident_id
    db.session.commit()
    # 4. Two unrelated people paid into one account, and 5. an amount above the project's standard.
    standard = db.session.execute(sa.select(Project.id).where(Project.standard_fen.is_not(None))).scalars().all()
    base = _paid_sample([LedgerEntry.project_id.in_(standard or [0]), LedgerEntry.account_bidx.is_not(None),
                         LedgerEntry.resident_id.not_in(list(planted.values()) or [0])])
    if base is not None:
        owner = db.session.get(Resident, base.resident_id)
        stranger = db.session.execute(
            sa.select(Resident).where(Resident.household_id != owner.household_id, Resident.deceased_on.is_(None),
                                      Resident.id.not_in(list(planted.values()) or [0]))
            .order_by(Resident.id.desc()).limit(1)).scalars().first()
        project = db.session.get(Project, base.project_id)
        rows = [_copy_of(base, resident_id=stranger.id, town_id=stranger.town_id, village_id=stranger.village_id,
                         period=base.period)]
        if _insert_synthetic(rows):
            planted["shared_account"] = [owner.id, stranger.id]
        above = _copy_of(base, amount_fen=project.standard_fen * 3 // 2, resident_id=stranger.id, account_bidx=None,
                         town_id=stranger.town_id, village_id=stranger.village_id, period=_other_period(base.period))
        if _insert_synthetic([above]):
            planted["above_standard"] = stranger.id
    # 6. One proxy holding the cards of seven protected people (threshold 5).
    wards = db.session.execute(
        sa.select(ResidentCategory.resident_id, ResidentCategory.category)
        .where(ResidentCategory.category.in_(("tekun", "disabled", "minor"))).order_by(ResidentCategory.id).limit(7)
    ).all()
    proxy = db.session.execute(
        sa.select(Resident.id).where(Resident.id.not_in([w.resident_id for w in wards] or [0]),
                                     Resident.birth_year < 1980, Resident.deceased_on.is_(None))
        .order_by(Resident.id).limit(1)).scalar()
    if proxy and len(wards) >= 6:
        db.session.execute(sa.insert(ProxyAppointment), [
            {"resident_id": w.resident_id, "proxy_resident_id": proxy, "category": w.category,
             "legal_basis": f"（演示）代管代持认定书第{i + 1}号", "appointed_by": "村民委员会",
             "valid_from": date(2026, 1, 1)} for i, w in enumerate(wards)])
        planted["proxy_many_wards"] = proxy
    audit.record("demo.oversight_planted", actor=cli_actor("演示数据生成"), entity_type="site",
                 after={"planted": planted, "synthetic": True})
    db.session.commit()
    return planted


def _other_period(period: str) -> str:
    # The above-standard plant must not collide with (resident, project, period) of another payment.
    y, m = (int(x) for x in period.split("-")) if len(period) == 7 and period[4] == "-" else (2026, 1)
    return f"{y - 1:04d}-{m:02d}"


def _publish_one(ctx) -> None:
    """The project and period with the most payments is published as the demo 公示, by the finance account."""
    top = db.session.execute(
        sa.select(LedgerEntry.project_id, LedgerEntry.period, sa.func.count().label("n"))
        .where(LedgerEntry.outcome == "paid").group_by(LedgerEntry.project_id, LedgerEntry.period)
        .order_by(sa.desc("n"), LedgerEntry.project_id).limit(1)).first()
    account_id = ctx.staff.get("finance")
    if top is None or account_id is None:
        return
    actor = actor_for(db.session.get(StaffAccount, account_id))
    disclosure.publish(actor, project_id=top.project_id, period=top.period)


def run(ctx) -> None:
    if not db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar():
        _synthetic_payments(ctx)
    ctx.oversight_planted = _plant(ctx)
    _publish_one(ctx)
