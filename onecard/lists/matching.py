"""Matching (比对) of recipient lists against the card registry, its summaries and the follow-up lists.

A list is matched by one set-based UPDATE ... FROM (SQLite >= 3.33 and PostgreSQL): each
row joins its resident by the ID's blind index and the resident's live card (any status
but cancelled; failing that the most recent cancelled one) and gets one of
``MATCH_RESULTS``. Only rows whose result, resident or card differ from the last run are
written (their ``matched_at`` is when that match was set; the list's ``matched_at`` is the
last run), and ``match_changed_at`` moves only where the result changed, so a re-run after
a registry import is cheap and reports exactly what changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.cards import applications as card_applications
from onecard.cards.models import Card
from onecard.errors import Conflict, NotFound
from onecard.extensions import db
from onecard.lists import service
from onecard.lists.models import MATCH_RESULTS, RecipientList, RecipientRow
from onecard.privacy import mask_id
from onecard.reference.models import Bank, Town, Village
from onecard.sheets import write_xlsx
from onecard.staff import permissions
from onecard.timeutil import local_str, utcnow

FOLLOWUP_HINTS = {
    "not_applied": "未申领社保卡：请通知本人带身份证到合作银行网点申领（绿色通道），行动不便的安排上门服务",
    "not_issued": "社保卡已申领尚未领取：请通知本人到申领网点领取",
    "not_activated": "社保卡已发放未激活：请通知本人到银行网点激活金融功能，或安排上门激活",
    "lost_or_cancelled": "社保卡已挂失或注销：请通知本人到银行网点办理补换卡",
    "name_mismatch": "名单姓名与社保卡登记不一致：请核实身份证上的姓名，由主管部门更正名单",
    "not_in_registry": "制卡信息中无此人：请核对身份证号，或通知本人申领社保卡",
}
# Staff who telephone people need the number; everyone else sees the last four digits.
FULL_MOBILE_ROLES = frozenset({"village_staff", "town_staff", "bank_operator"})

_MATCH_SQL = """
UPDATE recipient_rows SET
    resident_id = m.rid,
    card_id = m.cid,
    matched_at = :now,
    match_changed_at = CASE WHEN recipient_rows.match_result IS NULL OR recipient_rows.match_result <> m.res
                            THEN :now ELSE recipient_rows.match_changed_at END,
    match_result = m.res
FROM (
    SELECT b.row_id, b.rid, b.cid,
        CASE WHEN b.rid IS NULL THEN 'not_in_registry'
             WHEN b.rname <> b.lname THEN 'name_mismatch'
             WHEN b.cid IS NULL THEN 'not_applied'
             WHEN b.status = 'active' THEN 'usable'
             WHEN b.status IN ('applied', 'ready') THEN 'not_issued'
             WHEN b.status = 'issued' THEN 'not_activated'
             WHEN b.status IN ('lost', 'cancelled') THEN 'lost_or_cancelled'
             ELSE 'not_applied' END AS res
    FROM (
        SELECT rr.id AS row_id, rr.name AS lname, r.id AS rid, r.name AS rname,
               COALESCE(lc.id, (SELECT max(cx.id) FROM cards cx
                                WHERE cx.resident_id = r.id AND cx.status = 'cancelled')) AS cid,
               COALESCE(lc.status, 'cancelled') AS status
        FROM recipient_rows rr
        LEFT JOIN residents r ON r.id_bidx = rr.id_bidx
        LEFT JOIN cards lc ON lc.resident_id = r.id AND lc.status <> 'cancelled'
        WHERE rr.list_id = :list_id
    ) b
) m
WHERE recipient_rows.id = m.row_id
  AND (recipient_rows.match_result IS NULL OR recipient_rows.match_result <> m.res
       OR COALESCE(recipient_rows.resident_id, 0) <> COALESCE(m.rid, 0)
       OR COALESCE(recipient_rows.card_id, 0) <> COALESCE(m.cid, 0))
"""
# The live card's status comes from the same join that found it; with no live card, the status only
# matters when a cancelled one exists (cid not null), hence 'cancelled' as the fallback.


@dataclass
class MatchOutcome:
    list_id: int
    counts: dict[str, int]
    changed: int
    rows: int

    def to_dict(self) -> dict:
        return {"list_id": self.list_id, "rows": self.rows, "changed": self.changed, "counts": self.counts}


def _result_counts(list_id: int, changed_at=None) -> dict[str, int]:
    """Rows per result; with ``changed_at``, also under ``"changed"`` the rows whose result moved then
    (one pass over the list's rows for both)."""
    counts = dict.fromkeys(MATCH_RESULTS, 0)
    changed = 0
    moved = (sa.func.sum(sa.case((RecipientRow.match_changed_at == changed_at, 1), else_=0))
             if changed_at is not None else sa.literal(0))
    for result, n, m in db.session.execute(
            sa.select(RecipientRow.match_result, sa.func.count(), moved).where(RecipientRow.list_id == list_id)
            .group_by(RecipientRow.match_result)):
        if result is not None:
            counts[result] = n
        changed += int(m or 0)
    if changed_at is not None:
        counts["changed"] = changed
    return counts


def _run(recipient_list: RecipientList, actor: Actor) -> MatchOutcome:
    """Match one list inside the caller's transaction."""
    now = utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        # JIT compiling this statement took longer than running it (one pass of index look-ups).
        db.session.execute(sa.text("SET LOCAL jit = off"))
    db.session.execute(sa.text(_MATCH_SQL), {"now": now, "list_id": recipient_list.id})
    counts = _result_counts(recipient_list.id, changed_at=now)
    changed = counts.pop("changed")
    if recipient_list.status == "uploaded":
        service.LIST_MACHINE.transition(recipient_list, "matched", actor, action="list.match",
                                        audit_after={"changed": changed, "counts": counts})
    else:
        db.session.execute(sa.update(RecipientList).where(RecipientList.id == recipient_list.id)
                           .values(matched_at=now).execution_options(synchronize_session=False))
        db.session.expire(recipient_list, ["matched_at"])
        audit.record("list.match", actor=actor, entity_type="recipient_list", entity_id=recipient_list.id,
                     after={"changed": changed, "counts": counts})
    return MatchOutcome(recipient_list.id, counts, changed, recipient_list.row_count)


def match_list(actor: Actor, list_id: int) -> MatchOutcome:
    """Match one list against the card registry (the department's operator or the bureau).

    Returns the count per result and how many rows' results changed since the last run.
    Refuses a withdrawn list.
    """
    recipient_list = service.load_list(actor, list_id, "match.run")
    if recipient_list.status == "withdrawn":
        raise Conflict("该名单已撤回，不能比对", code="list_withdrawn", field="status")
    outcome = _run(recipient_list, actor)
    db.session.commit()
    return outcome


def current_and_next_periods(today: date) -> list[str]:
    """The periods (in every cycle's form: month, quarter, half-year, year) that contain ``today`` or follow
    the one that does: the lists a registry change can still make payable."""
    year, month = today.year, today.month
    quarter, half = (month - 1) // 3 + 1, 1 if month <= 6 else 2
    next_month = f"{year + 1}-01" if month == 12 else f"{year}-{month + 1:02d}"
    next_quarter = f"{year + 1}-Q1" if quarter == 4 else f"{year}-Q{quarter + 1}"
    next_half = f"{year + 1}-H1" if half == 2 else f"{year}-H2"
    out = {f"{year}-{month:02d}", next_month, f"{year}-Q{quarter}", next_quarter, f"{year}-H{half}", next_half,
           str(year), str(year + 1)}
    return sorted(out)


def rematch_all(actor: Actor, *, periods: list[str] | None = None, commit: bool = True) -> dict:
    """Re-run matching for every list not withdrawn (or only those of ``periods``), after the registry changed.

    Reports only what changed: the lists whose rows changed result and how many rows each.
    ``commit=False`` lets a registry import include it in its own transaction.
    """
    permissions.require(actor, "match.rematch_all")
    stmt = sa.select(RecipientList).where(RecipientList.status != "withdrawn")
    if periods is not None:
        stmt = stmt.where(RecipientList.period.in_(periods))
    lists = db.session.execute(stmt.order_by(RecipientList.id)).scalars().all()
    changed_lists = []
    total = 0
    for recipient_list in lists:
        outcome = _run(recipient_list, actor)
        total += outcome.changed
        if outcome.changed:
            changed_lists.append(outcome.to_dict())
    if commit:
        db.session.commit()
    out = {"lists_checked": len(lists), "changed": total, "lists": changed_lists}
    if periods is not None:
        out["periods"] = periods
    return out


def changed_rows(actor: Actor, list_id: int, since) -> list[int]:
    """Ids of a list's rows whose result changed at or after ``since`` (for a registry import's report)."""
    recipient_list = service.load_list(actor, list_id)
    return [r for (r,) in db.session.execute(
        sa.select(RecipientRow.id).where(RecipientRow.list_id == recipient_list.id,
                                         RecipientRow.match_changed_at >= since))]


# ---------------------------------------------------------------- summaries

def summary(actor: Actor, list_id: int) -> dict:
    """Counts by result, and by town, village and bank (开户行 as listed), each split by result."""
    recipient_list = service.load_list(actor, list_id)
    result = {"list_id": recipient_list.id, "status": recipient_list.status, "rows": recipient_list.row_count,
              "matched_at": local_str(recipient_list.matched_at, "%Y-%m-%d %H:%M:%S") or None,
              "counts": _result_counts(recipient_list.id)}
    groups = {
        "by_town": (RecipientRow.town_id, Town.name, Town, Town.id == RecipientRow.town_id),
        "by_village": (RecipientRow.village_id, Village.name, Village, Village.id == RecipientRow.village_id),
        "by_bank": (RecipientRow.bank_id, Bank.name, Bank, Bank.id == RecipientRow.bank_id),
    }
    for key, (id_col, name_col, model, on) in groups.items():
        stmt = (sa.select(id_col, name_col, RecipientRow.match_result, sa.func.count(),
                          sa.func.sum(RecipientRow.amount_fen))
                .select_from(RecipientRow).outerjoin(model, on)
                .where(RecipientRow.list_id == recipient_list.id)
                .group_by(id_col, name_col, RecipientRow.match_result).order_by(id_col))
        merged: dict = {}
        for group_id, name, match_result, n, fen in db.session.execute(stmt):
            entry = merged.setdefault(group_id, {"id": group_id, "name": name or "未填写", "rows": 0,
                                                 "amount_fen": 0, "counts": dict.fromkeys(MATCH_RESULTS, 0)})
            entry["rows"] += n
            entry["amount_fen"] += int(fen or 0)
            if match_result is not None:
                entry["counts"][match_result] += n
        result[key] = list(merged.values())
    return result


# ---------------------------------------------------------------- follow-up lists (绿色通道 / 上门服务)

def followup(actor: Actor, list_id: int, *, village_id: int | None = None, town_id: int | None = None,
             bank_id: int | None = None, export: str = "json") -> dict:
    """Rows of a matched list that cannot be paid yet, for the staff who will call or visit the people.

    Scope: a department sees its own lists; village and town staff only their village's or town's rows;
    a bank operator rows whose 开户行 or card bank is theirs; the bureau, finance and auditors everything.
    IDs are always masked; the full mobile number is shown only to village, town and bank staff.
    Every export is audited (who, which list, how many rows).
    """
    permissions.require(actor, "followup.read")
    recipient_list = db.session.get(RecipientList, list_id)
    dept_role = actor.role in ("dept_operator", "dept_reviewer")
    if recipient_list is None or (dept_role and not permissions.in_scope(actor, recipient_list)):
        raise NotFound("发放名单不存在", code="list_not_found")
    if recipient_list.status == "uploaded":
        raise Conflict("该名单尚未比对，请先运行比对", code="list_not_matched", field="status")
    if recipient_list.status == "withdrawn":
        raise Conflict("该名单已撤回", code="list_withdrawn", field="status")
    card_bank = sa.orm.aliased(Bank)
    conditions = [RecipientRow.list_id == recipient_list.id, RecipientRow.match_result != "usable"]
    if not dept_role:
        conditions.append(sa.or_(permissions.scope_filter(actor, RecipientRow),
                                 permissions.scope_filter(actor, Card, bank_col=Card.bank_id)))
    if village_id is not None:
        conditions.append(RecipientRow.village_id == village_id)
    if town_id is not None:
        conditions.append(RecipientRow.town_id == town_id)
    if bank_id is not None:
        conditions.append(sa.or_(RecipientRow.bank_id == bank_id, Card.bank_id == bank_id))
    stmt = (sa.select(RecipientRow.row_no, RecipientRow.name, RecipientRow.id_number, RecipientRow.mobile,
                      RecipientRow.mobile_last4, Town.name, Village.name, Bank.name, card_bank.name,
                      RecipientRow.match_result, RecipientRow.resident_id, RecipientRow.matched_at)
            .select_from(RecipientRow)
            .join(Town, Town.id == RecipientRow.town_id)
            .outerjoin(Village, Village.id == RecipientRow.village_id)
            .join(Bank, Bank.id == RecipientRow.bank_id)
            .outerjoin(Card, Card.id == RecipientRow.card_id)
            .outerjoin(card_bank, card_bank.id == Card.bank_id)
            .where(*conditions)
            .order_by(RecipientRow.town_id, RecipientRow.village_id, RecipientRow.row_no))
    full_mobile = actor.role in FULL_MOBILE_ROLES
    items = []
    fetched = db.session.execute(stmt).all()
    # What happened since the match (an application made, a card now usable), so nobody chases it again.
    changes = card_applications.progress_since(
        {r.resident_id: r.matched_at or recipient_list.matched_at for r in fetched if r.resident_id})
    for (row_no, name, id_number, mobile, mobile_last4, town, village, bank, card_bank_name, result, resident_id,
         _) in fetched:
        items.append({
            "since_match": changes.get(resident_id),
            "row_no": row_no, "name": name, "id_number": mask_id(id_number),
            "mobile": mobile if full_mobile else ("*******" + mobile_last4 if mobile_last4 else None),
            "town": town, "village": village, "bank": bank, "card_bank": card_bank_name,
            "match_result": result, "match_label": MATCH_RESULTS.get(result), "action": FOLLOWUP_HINTS.get(result),
        })
    audit.record("list.followup_export", actor=actor, entity_type="recipient_list", entity_id=recipient_list.id,
                 after={"format": export, "rows": len(items), "full_mobile": full_mobile,
                        "village_id": village_id, "town_id": town_id, "bank_id": bank_id})
    db.session.commit()
    return {"list_id": recipient_list.id, "period": recipient_list.period, "full_mobile": full_mobile,
            "count": len(items), "items": items}


def followup_xlsx(actor: Actor, list_id: int, **filters) -> tuple[str, bytes]:
    """The follow-up list as xlsx, for printing and calling (see ``followup``)."""
    data = followup(actor, list_id, export="xlsx", **filters)
    headers = {"序号": 6, "原表行号": 8, "姓名": 10, "身份证号": 22, "手机号": 14, "镇街": 12, "村（社区）": 14,
               "开户行": 14, "社保卡开户行": 14, "比对结果": 18, "需办理事项": 60}
    rows = ([str(i), str(item["row_no"]), item["name"], item["id_number"], item["mobile"], item["town"],
             item["village"], item["bank"], item["card_bank"], item["match_label"], item["action"]]
            for i, item in enumerate(data["items"], start=1))
    xlsx = write_xlsx(list(headers), rows, sheet_name="待跟进名单", widths=headers, text_columns=False)
    scope = "全部"
    if filters.get("village_id"):
        scope = f"村{filters['village_id']}"
    elif filters.get("town_id"):
        scope = f"镇{filters['town_id']}"
    elif filters.get("bank_id"):
        scope = f"银行{filters['bank_id']}"
    return f"待跟进名单-{list_id}-{scope}.xlsx", xlsx


def followup_lists(actor: Actor) -> list[RecipientList]:
    """Matched lists that hold follow-up rows the actor may see (the follow-up page's list picker), newest first.

    A department sees its own matched lists; village, town and bank staff only lists with a row
    to follow up in their village, town or bank (the same scope as ``followup``).
    """
    permissions.require(actor, "followup.read")
    stmt = sa.select(RecipientList).where(RecipientList.status == "matched")
    if actor.role in ("dept_operator", "dept_reviewer"):
        stmt = stmt.where(permissions.scope_filter(actor, RecipientList))
    else:
        rows = (sa.select(RecipientRow.id).select_from(RecipientRow)
                .outerjoin(Card, Card.id == RecipientRow.card_id)
                .where(RecipientRow.list_id == RecipientList.id, RecipientRow.match_result != "usable",
                       sa.or_(permissions.scope_filter(actor, RecipientRow),
                              permissions.scope_filter(actor, Card, bank_col=Card.bank_id))))
        stmt = stmt.where(rows.exists())
    return db.session.execute(stmt.order_by(RecipientList.id.desc())).scalars().all()
