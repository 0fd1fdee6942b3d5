"""Statistics for the leading group and the finance bureau (统计): per department, project, town, village,
bank and month.

Every figure is computed by the database, and read from the maintained summaries of ``summary``: the
report costs about a few hundred summary rows, not a pass over the ledger. What each figure means:

- 名单人数 (recipients): rows of recipient lists not withdrawn, i.e. person-periods (one person listed in
  twelve months counts twelve times), as listed; 比对可用 (matched): those whose last match was "usable";
  已激活 (activated): those whose person has an active card now. The list side is per list: a list whose
  stored summary no longer holds (re-matched, withdrawn, or a card of its people changed) is aggregated
  directly in the same report, so none of these is ever stale.
- 发放成功/失败 (paid/failed), 金额, 补发成功 (paid re-issues), failures by code and reason: ledger rows
  (outcomes), grown in each import's transaction; month is the local (Asia/Shanghai) month of the outcome.
- 批次数 (batches): distinct batches with ledger rows under the key.
- 退汇 (returned): reversal entries of the ledger, money paid and later sent back by the bank; it stays in
  发放成功 (the bank did pay it) and is shown beside it, so paid − returned is what residents kept.
- 审批至到账平均天数: mean of (outcome time - approval time) over paid rows with an approval, computed from
  whole seconds.

``compute(..., source="direct")`` aggregates the same figures straight from the tables with the same SQL.
``rows()`` returns the rows behind any figure (masked, paged): every number is traceable.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from onecard.actors import Actor
from onecard.cards.models import Card
from onecard.db import local_month
from onecard.errors import Invalid
from onecard.extensions import db
from onecard.lists.models import MATCH_RESULTS, RecipientList, RecipientRow
from onecard.oversight import reads, summary
from onecard.oversight.models import LedgerStat, LedgerStatBatch, ListStat
from onecard.payments.models import LedgerEntry
from onecard.people.models import Resident
from onecard.privacy import mask_id, mask_name
from onecard.sheets import REPORT_STYLE, Sheet, write_workbook
from onecard.staff import permissions
from onecard.timeutil import local_str
from onecard.validation import format_yuan

permissions.register({
    "oversight.stats": {"admin", "finance", "auditor", "dept_operator", "dept_reviewer"},
})

DIMENSIONS = {"department": "部门", "project": "项目", "town": "镇街", "village": "村（社区）", "bank": "银行",
              "month": "月份"}
LIST_MEASURES = {"recipients": "名单人数", "matched": "比对可用", "activated": "已激活"}
LEDGER_MEASURES = {"ledger": "发放明细", "paid": "发放成功", "failed": "发放失败", "reissued": "补发成功",
                   "arrival": "到账用时", "returned": "退汇"}
NONE_KEY = summary.NONE_KEY   # the key of rows with no village (or any null grouping value)


def _ledger_scope(actor: Actor):
    return permissions.scope_filter(actor, LedgerEntry)


def _list_scope(actor: Actor):
    return permissions.scope_filter(actor, RecipientRow, department_col=RecipientList.department_id)


def _scope(actor: Actor, source):
    """Statistics are scoped by department only (the roles allowed to read them are scoped no other way)."""
    return permissions.scope_filter(actor, None, department_col=source.c.department_id)


def _ledger_statements(actor: Actor, dimensions, source: str):
    """Measures, batch counts and failures per (dimension, key), from the summary or straight from the ledger."""
    if source == "summary":
        sums, batches = LedgerStat.__table__, LedgerStatBatch.__table__
    else:
        direct_sums, direct_batches = summary.ledger_marginals()
        sums, batches = direct_sums.subquery(), direct_batches.subquery()
    measures = (sa.select(sums.c.dimension, sums.c.key, *[sa.func.sum(sums.c[m]).label(m) for m in summary.LEDGER_SUMS])
                .where(_scope(actor, sums), sums.c.dimension.in_(dimensions)).group_by(sums.c.dimension, sums.c.key))
    counts = (sa.select(batches.c.dimension, batches.c.key, sa.func.count().label("batches"))
              .where(_scope(actor, batches), batches.c.dimension.in_(dimensions))
              .group_by(batches.c.dimension, batches.c.key))
    failures = (sa.select(sums.c.dimension, sums.c.key, sums.c.failure_code, sa.func.sum(sums.c.failed_n).label("n"),
                          sa.func.min(sums.c.reason).label("reason"))
                .where(_scope(actor, sums), sums.c.dimension.in_(dimensions), sums.c.failed_n > 0)
                .group_by(sums.c.dimension, sums.c.key, sums.c.failure_code))
    return measures, counts, failures


def _list_statements(actor: Actor, dimensions, source: str):
    """List-side figures per (dimension, key): stored per-list summaries where they still hold, the rest direct."""
    fresh = sorted(summary.fresh_lists()) if source == "summary" else []
    sources = []
    if not fresh:
        sources.append((summary.list_marginals().subquery(), []))
    else:
        stale = sorted({r.id for r in summary.current_lists()} - set(fresh))
        if stale:    # by list id: the rows of the (few) changed lists only
            sources.append((summary.list_marginals((RecipientList.id.in_(stale),)).subquery(), []))
        stored = ListStat.__table__
        sources.append((stored, [stored.c.list_id.in_(fresh)]))
    return [sa.select(src.c.dimension, src.c.key, *[sa.func.sum(src.c[m]).label(m) for m in summary.LIST_SUMS])
            .where(_scope(actor, src), src.c.dimension.in_(dimensions), *where).group_by(src.c.dimension, src.c.key)
            for src, where in sources]


def _blank_row(dim: str, key: str, names: dict) -> dict:
    label = key if dim == "month" else names.get(dim, {}).get(int(key)) if key != NONE_KEY else None
    return {"key": key, "label": label or ("（未填写）" if key == NONE_KEY else key), "recipients": 0,
            "matched_usable": 0, "matched_share": None, "activated": 0, "activated_share": None, "listed_fen": 0,
            "batches": 0, "paid_count": 0, "paid_fen": 0, "failed_count": 0, "reissued_paid": 0,
            "returned_count": 0, "returned_fen": 0,
            "avg_days_to_arrival": None, "failures": []}


def compute(actor: Actor, dimensions: list[str] | None = None, *, source: str = "summary") -> dict[str, list[dict]]:
    """The statistics report: {dimension: [row per key]}; no audit (see ``report`` for the door's version).

    ``source="direct"`` aggregates the ledger and the lists afresh with the same SQL that builds the
    summaries: the same figures, slowly (tests and ``oversight-rebuild-summary --check`` compare them).
    """
    dimensions = dimensions or list(DIMENSIONS)
    names = reads.labels()
    table: dict[str, dict[str, dict]] = {d: {} for d in dimensions}

    def row(dim, key):
        if key not in table[dim]:
            table[dim][key] = _blank_row(dim, key, names)
        return table[dim][key]

    for stmt in _list_statements(actor, dimensions, source):
        for r in db.session.execute(stmt):
            out = row(r.dimension, r.key)
            out["recipients"] += int(r.recipients or 0)
            out["matched_usable"] += int(r.matched or 0)
            out["activated"] += int(r.activated or 0)
            out["listed_fen"] += int(r.listed_fen or 0)
    measures, counts, failures = _ledger_statements(actor, dimensions, source)
    for r in db.session.execute(measures):
        days_n = int(r.days_n or 0)
        row(r.dimension, r.key).update(
            paid_count=int(r.paid_n or 0), paid_fen=int(r.paid_fen or 0), failed_count=int(r.failed_n or 0),
            reissued_paid=int(r.reissued_n or 0), returned_count=int(r.returned_n or 0),
            returned_fen=int(r.returned_fen or 0),
            avg_days_to_arrival=round(int(r.days_seconds) / 86400 / days_n, 2) if days_n else None)
    for r in db.session.execute(counts):
        row(r.dimension, r.key)["batches"] = int(r.batches)
    for r in db.session.execute(failures):
        row(r.dimension, r.key)["failures"].append(
            {"code": r.failure_code or "", "reason": r.reason or "", "count": int(r.n)})
    result = {}
    for dim in dimensions:
        rows = sorted(table[dim].values(), key=lambda x: (x["key"] == NONE_KEY, x["key"].zfill(12)))
        for out in rows:
            if out["recipients"]:
                out["matched_share"] = round(out["matched_usable"] / out["recipients"], 4)
                out["activated_share"] = round(out["activated"] / out["recipients"], 4)
            out["failures"].sort(key=lambda f: (-f["count"], f["code"]))
            out["paid_yuan"] = format_yuan(out["paid_fen"])
        result[dim] = rows
    return result


def report(actor: Actor, dimensions: list[str] | None = None) -> dict:
    """统计报表 for the leading group and finance; a department sees its own projects only (scope)."""
    permissions.require(actor, "oversight.stats")
    for d in dimensions or []:
        if d not in DIMENSIONS:
            raise Invalid(f"不支持的统计维度：{d}（可选：{'、'.join(DIMENSIONS)}）", code="dimension_invalid",
                          field="dimension")
    reads.audit_read(actor, "stats", {"dimensions": ",".join(dimensions or [])})
    return {"dimensions": compute(actor, dimensions)}


EXPORT_COLUMNS = [("label", "名称"), ("key", "编号"), ("recipients", "名单人数"), ("matched_usable", "比对可用人数"),
                  ("matched_share", "比对可用比例"), ("activated", "已激活人数"), ("activated_share", "激活比例"),
                  ("batches", "批次数"), ("paid_count", "发放成功笔数"), ("paid_fen", "发放金额（元）"),
                  ("failed_count", "失败笔数"), ("reissued_paid", "补发成功笔数"), ("returned_count", "退汇笔数"),
                  ("returned_fen", "退汇金额（元）"), ("avg_days_to_arrival", "审批至到账平均天数")]


def export_xlsx(actor: Actor) -> bytes:
    """The whole report as a workbook: one sheet per dimension plus failures by reason."""
    permissions.require(actor, "oversight.stats")
    reads.audit_read(actor, "stats.xlsx")
    data = compute(actor)
    sheets = []
    failures = []
    for dim, rows in data.items():
        body = []
        for r in rows:
            line = []
            for field, _ in EXPORT_COLUMNS:
                value = r[field]
                line.append(value / 100 if field in ("paid_fen", "returned_fen") else value)
            body.append(line)
            for f in r["failures"]:
                failures.append([DIMENSIONS[dim], r["label"], f["code"], f["reason"], f["count"]])
        sheets.append(Sheet(DIMENSIONS[dim], [h for _, h in EXPORT_COLUMNS], body, **REPORT_STYLE))
    sheets.append(Sheet("失败原因", ["维度", "名称", "失败代码", "失败原因", "笔数"], failures, **REPORT_STYLE))
    return write_workbook(sheets)


# ---- drill-down: the rows behind a figure ------------------------------------------

def _key_condition(dim: str, key: str, side: str):
    if dim not in DIMENSIONS:
        raise Invalid(f"不支持的统计维度：{dim}", code="dimension_invalid", field="dimension")
    if side == "ledger":
        col = local_month(LedgerEntry.occurred_at) if dim == "month" else getattr(LedgerEntry, f"{dim}_id")
    else:
        col = {"department": RecipientList.department_id, "month": RecipientRow.period}.get(dim) \
            or getattr(RecipientRow, f"{dim}_id")
    if key == NONE_KEY:
        return col.is_(None)
    if dim == "month":
        return col == key
    try:
        return col == int(key)
    except ValueError:
        raise Invalid("统计键应为编号", code="key_invalid", field="key") from None


def rows(actor: Actor, *, dimension: str, key: str, measure: str, failure_code: str | None = None,
         page: int | None = None, per_page: int | None = None) -> dict:
    """The rows (masked, paged) behind one figure of the report, e.g. town 3's failed payments."""
    permissions.require(actor, "oversight.stats")
    page, per_page = reads.page_args(page, per_page)
    reads.audit_read(actor, "stats.rows", {"dimension": dimension, "key": key, "measure": measure,
                                           "failure_code": failure_code, "page": page})
    if measure in LIST_MEASURES:
        return _list_rows(actor, dimension, key, measure, page, per_page)
    if measure in LEDGER_MEASURES:
        return _ledger_rows(actor, dimension, key, measure, failure_code, page, per_page)
    raise Invalid(f"不支持的指标：{measure}（可选：{'、'.join([*LIST_MEASURES, *LEDGER_MEASURES])}）",
                  code="measure_invalid", field="measure")


def _list_rows(actor, dim, key, measure, page, per_page) -> dict:
    R, RL = RecipientRow, RecipientList
    stmt = (sa.select(R.id, R.list_id, R.row_no, R.project_id, R.period, R.name, R.id_number, R.town_id,
                      R.village_id, R.bank_id, R.account_last4, R.amount_fen, R.match_result, R.resident_id,
                      Card.status.label("card_status"))
            .join(RL, RL.id == R.list_id)
            .outerjoin(Card, sa.and_(Card.resident_id == R.resident_id, Card.status == "active"))
            .where(RL.status != "withdrawn", _list_scope(actor), _key_condition(dim, key, "list")))
    if measure == "matched":
        stmt = stmt.where(R.match_result == "usable")
    elif measure == "activated":
        stmt = stmt.where(Card.id.is_not(None))
    total, found = reads.paged(stmt.order_by(R.id), page, per_page)
    items = [{
        "row_id": r.id, "list_id": r.list_id, "row_no": r.row_no, "project_id": r.project_id, "period": r.period,
        "name": mask_name(r.name), "id_number": mask_id(r.id_number), "town_id": r.town_id,
        "village_id": r.village_id, "bank_id": r.bank_id,
        "account": ("****" + r.account_last4) if r.account_last4 else None, "amount_fen": r.amount_fen,
        "amount_yuan": format_yuan(r.amount_fen), "match_result": r.match_result,
        "match_label": MATCH_RESULTS.get(r.match_result or "", "未比对"), "card_active": r.card_status == "active",
    } for r in found]
    return {"source": "recipient_rows", "total": total, "page": page, "per_page": per_page, "items": items}


def _ledger_rows(actor, dim, key, measure, failure_code, page, per_page) -> dict:
    L = LedgerEntry
    stmt = (sa.select(L.id, L.line_id, L.batch_id, L.project_id, L.department_id, L.period, L.resident_id,
                      Resident.name, Resident.id_masked, L.route, L.bank_id, L.account_last4, L.town_id,
                      L.village_id, L.amount_fen, L.outcome, L.failure_code, L.failure_reason,
                      L.reissue_of_line_id, L.approved_at, L.occurred_at)
            .join(Resident, Resident.id == L.resident_id)
            .where(_ledger_scope(actor), _key_condition(dim, key, "ledger")))
    if measure in ("paid", "reissued", "arrival"):
        stmt = stmt.where(L.outcome == "paid")
    if measure == "reissued":
        stmt = stmt.where(L.reissue_of_line_id.is_not(None))
    if measure == "returned":
        stmt = stmt.where(L.outcome == "returned")
    if measure == "arrival":
        stmt = stmt.where(L.approved_at.is_not(None))
    if measure == "failed":
        stmt = stmt.where(L.outcome == "failed")
        if failure_code is not None:
            stmt = stmt.where(sa.func.coalesce(L.failure_code, "") == failure_code)
    total, found = reads.paged(stmt.order_by(L.id), page, per_page)
    items = [{
        "ledger_id": r.id, "line_id": r.line_id, "batch_id": r.batch_id, "project_id": r.project_id,
        "department_id": r.department_id, "period": r.period, "name": mask_name(r.name),
        "id_number": r.id_masked, "route": r.route, "bank_id": r.bank_id, "account": "****" + r.account_last4,
        "town_id": r.town_id, "village_id": r.village_id, "amount_fen": r.amount_fen,
        "amount_yuan": format_yuan(r.amount_fen), "outcome": r.outcome, "failure_code": r.failure_code,
        "failure_reason": r.failure_reason, "reissue_of_line_id": r.reissue_of_line_id,
        "approved_at": local_str(r.approved_at), "occurred_at": local_str(r.occurred_at),
        "days_to_arrival": _days(r.approved_at, r.occurred_at) if r.outcome == "paid" else None,
    } for r in found]
    return {"source": "ledger_entries", "total": total, "page": page, "per_page": per_page, "items": items}


def _days(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 86400, 2)
