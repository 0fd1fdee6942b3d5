"""Owed payments (应发未发): lines a batch could not pay, until they are paid late or given up.

Owed: 暂缓 (held: no usable card, no head, ...), 待随下一批发放 (released: the reason went away), 失败 and 已退汇
(the bank failed it or sent it back: re-issued by reissues.reissue). This module is the one place of the rules:

- ``release(session, resident_ids)``: re-evaluate with the routing rules the held (and released) lines of these
  residents, of the households they head and of the wards they hold as legal proxy; a line that can now be routed
  becomes 待随下一批发放, one that cannot (any more) stays or goes back to 暂缓 with the new reason. Called when a card
  becomes active (cards.service / cards.applications / the registry import) and when a household head or proxy is
  registered.
- ``join_batch``: the project's next regular batch pays every owed held or released line of its earlier periods
  that routes now, as a late payment (补发往期) in the line's own period (``late_of_line_id``); the original moves
  to 已并入新批次 by compare-and-set, and the never-twice index on (resident, project, period) refuses a second
  payment of that period in the database, whatever the code does.
- ``cancel``: only the owning department gives an owed line up, with a reason (audited).
- the follow-up list and summary (by town, village and reason, with age), and the resident's own owed lines.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import SYSTEM, Actor
from onecard.cards.lifecycle import NEXT_STEP
from onecard.cards.models import Card
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.lists.models import RecipientRow
from onecard.payments import idempotency, routing
from onecard.payments.common import _lines, insert_lines, line_view
from onecard.payments.lifecycle import LINE_MACHINE, move_lines
from onecard.payments.models import Batch, BatchLine, PaymentReturn
from onecard.people import events as people_events
from onecard.people.models import Household, ProxyAppointment, Resident
from onecard.projects.models import Project
from onecard.reference.models import Town, Village
from onecard.staff import permissions
from onecard.timeutil import local_day_start, local_today, to_local
from onecard.validation import format_yuan, normalize_text, parse_period

permissions.register({
    "payment.owed.read": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer", "town_staff",
                          "village_staff"},
    "payment.owed.cancel": {"dept_operator", "dept_reviewer"},
})

OWED_STATES = ("held", "released", "failed", "returned")
WAITING = ("held", "released")           # never routed or no longer routable: joined by the next batch
# Batches whose held lines are owed for good: the batch went ahead without them (a draft's are still its own).
_SETTLED_BATCH = ("submitted", "reviewed", "approved", "sent", "feedback_received", "reconciled", "closed")

# What a resident is told to do about a hold, by the words of its reason (routing's hold reasons).
HOLD_ADVICE = (
    ("户主", "请户主到村（社区）或镇街便民服务中心登记户主信息，或办理、激活户主的社保卡。"),
    ("死亡", "如信息有误，请家属带身份证明到村（社区）核实。"),
    ("姓名", "请带身份证到村（社区）或主管部门核对姓名信息。"),
    ("未匹配", "请带身份证到村（社区）或主管部门核对身份信息。"),
)


def _audit_actor(actor: Actor | None) -> Actor:
    return actor if actor is not None else SYSTEM


def _affected_lines(resident_ids: list[int]):
    """Waiting lines (held, released) for these residents, for members of households they head, and for
    wards whose legal proxy they are (a head's or proxy's card pays those lines too)."""
    heads = sa.select(Resident.id).join(Household, Household.id == Resident.household_id).where(
        Household.head_id.in_(resident_ids))
    wards = sa.select(ProxyAppointment.resident_id).where(ProxyAppointment.proxy_resident_id.in_(resident_ids),
                                                          ProxyAppointment.revoked_at.is_(None))
    return (sa.select(BatchLine.id, BatchLine.status, BatchLine.resident_id, BatchLine.project_id, BatchLine.name,
                      BatchLine.amount_fen, BatchLine.recipient_row_id, BatchLine.period, RecipientRow.match_result)
            .join(Batch, Batch.id == BatchLine.batch_id)
            .outerjoin(RecipientRow, RecipientRow.id == BatchLine.recipient_row_id)
            .where(BatchLine.status.in_(WAITING), Batch.status.in_(_SETTLED_BATCH),
                   sa.or_(BatchLine.resident_id.in_(resident_ids), BatchLine.resident_id.in_(heads),
                          BatchLine.resident_id.in_(wards)))
            .order_by(BatchLine.id))


def _source(row) -> dict:
    return {"resident_id": row.resident_id, "name": row.name, "amount_fen": row.amount_fen,
            "recipient_row_id": row.recipient_row_id, "match_result": row.match_result or "usable",
            "period": row.period, "late_of_line_id": row.id}


def release(session, resident_ids, *, actor: Actor | None = None, today: date | None = None) -> dict:
    """Re-evaluate the owed (held or released) lines of ``resident_ids`` with the routing rules, in the caller's
    transaction (the caller commits). Returns {"released": n, "held": n} (lines that changed)."""
    ids = sorted({int(i) for i in resident_ids if i})
    if not ids:
        return {"released": 0, "held": 0}
    today = today or local_today()
    rows = session.execute(_affected_lines(ids)).all()
    by_project: dict[int, list] = defaultdict(list)
    for r in rows:
        by_project[r.project_id].append(r)
    released = held = 0
    for project_id, part in by_project.items():
        project = session.get(Project, project_id)
        routed = routing.route_rows(project, [_source(r) for r in part], today)
        for r, decision in zip(part, routed, strict=True):
            if decision["status"] == "pending" and r.status == "held":
                if move_lines("released", _lines.c.id == r.id, only_from=("held",)):
                    released += 1
                    audit.record("payment.owed_released", actor=_audit_actor(actor), entity_type="batch_line",
                                 entity_id=r.id, before={"status": "held"},
                                 after={"status": "released", "route": decision["route"]})
            elif decision["status"] != "pending":
                # still (or again) not payable: the reason as it is now
                if move_lines("held", _lines.c.id == r.id, only_from=("released",),
                              route_reason=decision["route_reason"]):
                    held += 1
                    audit.record("payment.owed_held_again", actor=_audit_actor(actor), entity_type="batch_line",
                                 entity_id=r.id, before={"status": "released"},
                                 after={"status": "held", "reason": decision["route_reason"]})
                elif r.status == "held":
                    session.execute(sa.update(_lines).where(_lines.c.id == r.id, _lines.c.status == "held")
                                    .values(route_reason=decision["route_reason"]))
    return {"released": released, "held": held}


def join_batch(batch: Batch, project: Project, today: date, now) -> int:
    """Pay late in ``batch`` (a regular batch of ``project``) every waiting line of the project's earlier periods
    that routes now; each keeps its own period. Returns the number of late lines added."""
    if batch.kind != "regular":
        return 0
    rows = db.session.execute(
        sa.select(BatchLine.id, BatchLine.status, BatchLine.resident_id, BatchLine.project_id, BatchLine.name,
                  BatchLine.amount_fen, BatchLine.recipient_row_id, BatchLine.period, RecipientRow.match_result)
        .join(Batch, Batch.id == BatchLine.batch_id)
        .outerjoin(RecipientRow, RecipientRow.id == BatchLine.recipient_row_id)
        .where(BatchLine.project_id == project.id, BatchLine.status.in_(WAITING), BatchLine.period < batch.period,
               BatchLine.resident_id.is_not(None), Batch.status.in_(_SETTLED_BATCH))
        .order_by(BatchLine.id)).all()
    if not rows:
        return 0
    source = [_source(r) for r in rows]
    routed = routing.route_rows(project, source, today)
    ready = [(s, d) for s, d in zip(source, routed, strict=True) if d["status"] == "pending"]
    if not ready:
        return 0
    ids = [s["late_of_line_id"] for s, _ in ready]
    if move_lines("rejoined", _lines.c.id.in_(ids), only_from=WAITING) != len(ids):
        db.session.rollback()
        raise Conflict("待发放明细已被其他批次并入，请刷新后重试", code="already_in_batch")
    try:
        insert_lines(batch, project, [s for s, _ in ready], [d for _, d in ready], now)
        db.session.flush()
    except IntegrityError:
        # the period was paid meanwhile (never-twice index) or the line joined another batch (one late payment)
        db.session.rollback()
        raise Conflict("待发放明细已在其他批次中发放，请刷新后重试", code="already_in_batch") from None
    for s, d in ready:
        audit.record("payment.owed_joined", actor=SYSTEM, entity_type="batch_line", entity_id=s["late_of_line_id"],
                     after={"batch_id": batch.id, "period": s["period"], "route": d["route"]})
    return len(ready)


def restore_late(cancelled_line_ids: list[int] | None, batch_id: int | None) -> None:
    """A late payment taken out of its draft (or its batch cancelled): the owed line waits again."""
    src = sa.select(_lines.c.late_of_line_id).where(_lines.c.late_of_line_id.is_not(None),
                                                    _lines.c.status == "cancelled")
    src = src.where(_lines.c.id.in_(cancelled_line_ids)) if cancelled_line_ids else src.where(
        _lines.c.batch_id == batch_id)
    move_lines("released", _lines.c.id.in_(src), only_from=("rejoined",))


def cancel(actor: Actor, line_id: int, reason: str, *, idempotency_key: str | None) -> dict:
    """The owning department gives an owed line up, with the reason: 暂缓/待随下一批发放 → 已移出,
    失败/已退汇 → 已核销. Anyone else is refused; a line not owed (paid, already in a batch) is refused."""
    permissions.require(actor, "payment.owed.cancel")
    reason = normalize_text(reason, field="reason", max_len=200)

    def work():
        line = db.session.get(BatchLine, line_id)
        if line is None or not permissions.in_scope(actor, line):
            raise NotFound("明细不存在", code="line_not_found", field="line_id")
        if line.status not in OWED_STATES:
            raise Conflict(f"该明细状态为“{LINE_MACHINE.label(line.status)}”，不是待发放的明细，不能取消",
                           code="line_not_owed", field="line_id")
        target = "cancelled" if line.status in WAITING else "written_off"
        before = line.status
        if move_lines(target, _lines.c.id == line.id, only_from=(before,)) != 1:
            raise Conflict("该明细已被他人处理，请刷新后核对", code="line_concurrent_change", field="line_id")
        audit.record("payment.owed_cancelled", actor=actor, entity_type="batch_line", entity_id=line.id,
                     before={"status": before}, after={"status": target}, note=reason)
        db.session.refresh(line)
        return line_view(line)
    return idempotency.run(actor, "payment.owed_cancel", idempotency_key, {"line_id": line_id, "reason": reason},
                           work)


# ---------------------------------------------------------------- follow-up lists and statistics

def _since():
    """When a line became owed: its return, its failure, or its batch (held)."""
    returned_at = (sa.select(PaymentReturn.created_at).where(PaymentReturn.line_id == BatchLine.id)
                   .scalar_subquery())
    return sa.case((BatchLine.status == "returned", returned_at), (BatchLine.status == "failed", BatchLine.result_at),
                   else_=BatchLine.created_at)


def _reason():
    return sa.case((BatchLine.status.in_(WAITING), BatchLine.route_reason), else_=BatchLine.failure_reason)


def _owed_where(actor: Actor, project_id, period, town_id, village_id, reason):
    where = [BatchLine.status.in_(OWED_STATES), BatchLine.resident_id.is_not(None),
             permissions.scope_filter(actor, BatchLine)]
    if project_id:
        where.append(BatchLine.project_id == project_id)
    if period:
        where.append(BatchLine.period == parse_period(period))
    if town_id:
        where.append(BatchLine.town_id == town_id)
    if village_id:
        where.append(BatchLine.village_id == village_id)
    if reason:
        where.append(_reason() == reason)
    return where


def _age_days(since, today: date) -> int | None:
    return (today - to_local(since).date()).days if since else None


def owed_list(actor: Actor, *, project_id=None, period=None, town_id=None, village_id=None, reason=None,
              limit: int = 500, offset: int = 0) -> list[dict]:
    """应发未发 follow-up list: each owed line with its reason and age (days since it became owed), oldest first."""
    permissions.require(actor, "payment.owed.read")
    since = _since().label("since")
    stmt = (sa.select(BatchLine, since, Town.name, Village.name)
            .outerjoin(Town, Town.id == BatchLine.town_id).outerjoin(Village, Village.id == BatchLine.village_id)
            .where(*_owed_where(actor, project_id, period, town_id, village_id, reason))
            .order_by(since, BatchLine.id).limit(min(limit, 1000)).offset(offset))
    today = local_today()
    return [{**line_view(x), "status_label": LINE_MACHINE.label(x.status), "reason": _reason_of(x),
             "owed_since": to_local(s).date().isoformat() if s else None, "age_days": _age_days(s, today),
             "town_name": town, "village_name": village}
            for x, s, town, village in db.session.execute(stmt)]


def _reason_of(x: BatchLine) -> str | None:
    return x.route_reason if x.status in WAITING else x.failure_reason


GROUPS = {"town": (BatchLine.town_id, Town.name), "village": (BatchLine.village_id, Village.name),
          "reason": None}
# How long money has been owed (days since the line became owed, as ``age_days``): one small record per band,
# youngest first; the last is open-ended. The summary, the API's schema and the console all read this list.
AGE_BANDS = (("under_30", "不满30天", 0, 29), ("30_90", "30至90天", 30, 90), ("91_180", "91至180天", 91, 180),
             ("over_180", "180天以上", 181, None))


def _band_conditions(since, today: date) -> list:
    """Per AGE_BANDS, the SQL condition on ``since`` (naive UTC) for an age in the band on local ``today``: an
    age of at most N days is owed since the start of local day today − N, so each band is a range of timestamps."""
    def start(days: int):
        return local_day_start(today - timedelta(days=days))
    conditions = []
    for _, _, low, high in AGE_BANDS:
        cond = [since < start(low - 1)] if low > 0 else []
        if high is not None:
            cond.append(since >= start(high))
        conditions.append(sa.and_(*cond))
    return conditions


def owed_summary(actor: Actor, *, by: str = "town", project_id=None, period=None) -> list[dict]:
    """应发未发 statistics per town, village or reason, in the actor's scope: count, money, the oldest age, and the
    count and money in each AGE_BANDS band (one aggregate query; a line whose owed date is unknown is in no band)."""
    permissions.require(actor, "payment.owed.read")
    if by not in GROUPS:
        raise Invalid("分组只能是 town、village 或 reason", code="group_invalid", field="by")
    reason = _reason()
    key, label = GROUPS[by] if by != "reason" else (reason, reason)
    owed_lines = (sa.select(key.label("key"), label.label("label"), BatchLine.amount_fen.label("fen"),
                            _since().label("since"))
                  .select_from(BatchLine)
                  .outerjoin(Town, Town.id == BatchLine.town_id)
                  .outerjoin(Village, Village.id == BatchLine.village_id)
                  .where(*_owed_where(actor, project_id, period, None, None, None))).subquery()
    today = local_today()
    bands = []
    for i, cond in enumerate(_band_conditions(owed_lines.c.since, today)):
        bands += [sa.func.sum(sa.case((cond, 1), else_=0)).label(f"n{i}"),
                  sa.func.sum(sa.case((cond, owed_lines.c.fen), else_=0)).label(f"fen{i}")]
    stmt = (sa.select(owed_lines.c.key, owed_lines.c.label, sa.func.count().label("n"),
                      sa.func.sum(owed_lines.c.fen).label("fen"), sa.func.min(owed_lines.c.since).label("oldest"),
                      *bands)
            .group_by(owed_lines.c.key, owed_lines.c.label).order_by(sa.func.count().desc(), owed_lines.c.label))
    out = []
    for row in db.session.execute(stmt).mappings():
        fen = int(row["fen"] or 0)
        out.append({"key": row["key"], "label": row["label"] or "（未填写）", "count": int(row["n"]), "fen": fen,
                    "yuan": format_yuan(fen), "oldest_age_days": _age_days(row["oldest"], today),
                    "age_bands": [{"band": band, "label": text, "count": int(row[f"n{i}"] or 0),
                                   "fen": int(row[f"fen{i}"] or 0), "yuan": format_yuan(int(row[f"fen{i}"] or 0))}
                                  for i, (band, text, _, _) in enumerate(AGE_BANDS)]})
    return out


# ---------------------------------------------------------------- the resident's own page

def _hold_advice(reason: str, card_status: str) -> str:
    for word, advice in HOLD_ADVICE:
        if word in reason:
            return advice
    return NEXT_STEP.get(card_status, NEXT_STEP["not_applied"])


def for_resident(resident_id: int) -> list[dict]:
    """My owed payments (待发放): what is waiting, why, and what to do; once payable, "将随下一批发放"."""
    rows = db.session.execute(
        sa.select(BatchLine.id, BatchLine.status, BatchLine.period, BatchLine.amount_fen, BatchLine.route_reason,
                  Project.name).join(Project, Project.id == BatchLine.project_id)
        .where(BatchLine.resident_id == resident_id, BatchLine.status.in_(WAITING))
        .order_by(BatchLine.period, BatchLine.id)).all()
    if not rows:
        return []
    card = db.session.execute(sa.select(Card.status).where(Card.resident_id == resident_id,
                                                           Card.status != "cancelled")).scalar()
    out = []
    for id_, status, period, fen, reason, project in rows:
        text = (reason or "").removeprefix("暂缓：")
        released = status == "released"
        out.append({"id": id_, "project_name": project, "period": period, "amount_fen": fen,
                    "amount": format_yuan(fen), "status": status,
                    "status_label": "将随下一批发放" if released else "待发放",
                    "reason": None if released else text,
                    "what_to_do": ("原因已消除，这笔钱将随本项目下一批发放，发放后会短信通知您。" if released
                                   else _hold_advice(text, card or "not_applied"))})
    return out


def release_all(*, today: date | None = None) -> dict:
    """Re-evaluate every owed held or released line (the nightly catch-all beside the card hooks); commits."""
    ids = db.session.execute(sa.select(BatchLine.resident_id).where(BatchLine.status.in_(WAITING),
                                                                    BatchLine.resident_id.is_not(None))
                             .distinct()).scalars().all()
    totals = {"released": 0, "held": 0}
    for i in range(0, len(ids), 900):
        got = release(db.session, ids[i:i + 900], today=today)
        totals = {k: totals[k] + got[k] for k in totals}
    db.session.commit()
    return totals


# Residents re-evaluated per statement: under SQLite's bound-parameter limit, and a county's household import
# (600,000 members) becomes a few hundred statements.
RELEASE_CHUNK = 900


@people_events.subscribe
def _on_payee_change(changes: list[people_events.PayeeChange]) -> None:
    """Heads or proxies registered or lost, or deaths, change who can receive: re-evaluate the owed lines they
    concern (a released line whose new payee is gone goes back to 暂缓), all the residents of one published list
    together, in chunks, one commit.

    The master-data change is already committed (events are published after commit), so this is its own unit of
    work; if it fails, the nightly ``release_all`` re-checks every owed line.
    """
    by_actor: dict[int, tuple] = {}      # by identity: an Actor holds a dict, so it is not hashable
    for change in changes:
        by_actor.setdefault(id(change.actor), (change.actor, set()))[1].update(change.resident_ids)
    for actor, ids in by_actor.values():
        ordered = sorted(ids)
        for start in range(0, len(ordered), RELEASE_CHUNK):
            release(db.session, ordered[start:start + RELEASE_CHUNK], actor=actor)
    db.session.commit()
