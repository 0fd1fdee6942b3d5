"""The dashboard (工作台首页): each role's figures as SVG charts, from onecard.dashboard."""
from __future__ import annotations

from flask import render_template

from onecard import dashboard
from onecard.validation import format_yuan

from . import bp, charts
from .core import page


def short_yuan(fen: float) -> str:
    """Compact money for chart labels: 8,300 / 12.5万 (yuan)."""
    yuan = fen / 100
    if abs(yuan) >= 10_000:
        return f"{yuan / 10_000:.1f}万"
    return f"{yuan:,.0f}"


def _count(n: float) -> str:
    return f"{int(n):,}"


@bp.get("/")
@page()
def home(actor):
    board = dashboard.for_actor(actor)
    figures = []
    if board.cards_by_town is not None:
        statuses = board.card_statuses
        rows = [(r["town"], [r["counts"].get(s, 0) for s, _ in statuses]) for r in board.cards_by_town]
        figures.append({
            "title": "各镇街社保卡状态",
            "svg": charts.stacked_bar("各镇街社保卡状态（张）",
                                      "按镇街统计的社保卡数量，按状态分段；每行末尾为合计。", rows,
                                      [label for _, label in statuses], fmt=_count),
            "table": {"head": ["镇街", *[label for _, label in statuses], "合计"],
                      "rows": [[r["town"], *[_count(r["counts"].get(s, 0)) for s, _ in statuses],
                                _count(r["total"])] for r in board.cards_by_town]},
        })
    if board.paid_by_month is not None:
        paid = board.paid_by_month
        months = paid["months"]
        figures.append({
            "title": "按月、按项目发放金额",
            "svg": charts.stacked_columns("近12个月按项目发放金额（元）",
                                          "每月成功发放的金额，按补贴项目分段；柱顶为当月合计。", months,
                                          paid["projects"], fmt=short_yuan),
            "table": {"head": ["项目", *months],
                      "rows": [[name, *[format_yuan(v) for v in values]] for name, values in paid["projects"]]},
        })
        totals = [sum(values[i] for _, values in paid["projects"]) for i in range(len(months))]
        figures.append({
            "title": "每月发放合计",
            "svg": charts.line("每月发放合计（元）", "近12个月每月成功发放金额合计的走势。", months,
                               [("发放合计", totals)] if any(totals) else [], fmt=short_yuan),
            "table": None,
        })
        failures = board.failures or []
        figures.append({
            "title": "发放失败原因",
            "svg": charts.bar("发放失败原因（笔）", "银行退回的失败明细按原因统计的笔数。",
                              [(f["reason"], f["count"]) for f in failures], fmt=_count),
            "table": {"head": ["失败原因", "笔数", "金额"],
                      "rows": [[f["reason"], _count(f["count"]), format_yuan(f["amount_fen"])] for f in failures]},
        })
    matching = dashboard.matching_progress_by_town(actor)
    if matching:      # shown once lists exist: before the first upload there is no progress to chart
        from onecard.lists.models import MATCH_RESULTS
        series = [*MATCH_RESULTS.items(), (None, "未比对")]
        figures.append({
            "title": "比对进度（按镇街）",
            "svg": charts.stacked_bar("比对进度（按镇街，人）",
                                      "有效发放名单中各镇街人员的比对结果，按结果分段；每行末尾为合计。",
                                      [(r["town"], [r["counts"].get(k, 0) for k, _ in series]) for r in matching],
                                      [label for _, label in series], fmt=_count),
            "table": {"head": ["镇街", *[label for _, label in series], "合计"],
                      "rows": [[r["town"], *[_count(r["counts"].get(k, 0)) for k, _ in series], _count(r["total"])]
                               for r in matching]},
        })
    if board.overdue_complaints:
        figures.append({
            "title": "逾期未答复的投诉咨询", "svg": "",
            "table": {"head": ["编号", "主管部门", "项目", "答复期限", "已提级"],
                      "rows": [[c["id"], c["department"], c["project"] or "—", c["due_date"],
                                "是" if c["escalated"] else "否"] for c in board.overdue_complaints]},
        })
    tiles = []
    if "overdue_complaints" in board.totals:
        tiles.append(("逾期投诉（件）", _count(board.totals["overdue_complaints"])))
    if "cards" in board.totals:
        rate = board.totals["active_rate"]
        tiles += [("社保卡（张）", _count(board.totals["cards"])),
                  ("激活率", f"{rate}%" if rate is not None else "—")]
    if "paid_fen" in board.totals:
        tiles += [("近12个月发放", format_yuan(board.totals["paid_fen"])),
                  ("失败明细（笔）", _count(board.totals["failed"]))]
    return render_template("console/home.html", figures=figures, tiles=tiles)
