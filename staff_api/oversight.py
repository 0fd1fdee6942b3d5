"""Oversight doors: statistics, pilot progress, risk checks, disclosures (公示), the audit trail; and the
public 公示 pages (no login) under /public."""
from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import jsonify, render_template, request

from onecard.errors import DomainError
from onecard.oversight import auditlog, disclosure, progress, risks, stats
from onecard.oversight.disclosure import Gone
from onecard.oversight.schemas import (
    AuditArgs,
    DisclosureWithdrawArgs,
    FindingArgs,
    MarkArgs,
    PageArgs,
    ProgressArgs,
    PublishArgs,
    RiskRunArgs,
    StatsArgs,
    StatsRowsArgs,
)
from onecard.web import send_xlsx
from onecard.web.files import XLSX
from onecard.web.http import Blueprint
from staff_api.common import SECURITY, current_actor


def _answers(status: int, content_type: str = "application/json", *, many: bool = False) -> dict:
    """The success answer of a view that renders its own JSON (or file): documented, so clients and the
    schemathesis conformance checks know the status (issue #16)."""
    schema = {"type": "array" if many else "object"}
    if content_type != "application/json":
        schema = {"type": "string", "format": "binary"}
    return {str(status): {"description": "成功", "content": {content_type: {"schema": schema}}}}

bp = Blueprint("staff_oversight", __name__, url_prefix="/api/staff/v1", description="统计监督、风险核查、公示与审计")
public_bp = FlaskBlueprint("public_disclosures", __name__, url_prefix="/public")



@bp.get("/oversight/stats")
@bp.arguments(StatsArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_stats(args):
    """统计报表：按部门、项目、镇街、村、银行、月份的名单人数、比对可用与激活比例、发放与失败、补发、到账用时。"""
    return jsonify(stats.report(current_actor(), args["dimension"]))


@bp.get("/oversight/stats.xlsx")
@bp.doc(security=SECURITY, responses=_answers(200, XLSX))
def get_stats_xlsx():
    """统计报表导出（xlsx）。"""
    return send_xlsx(stats.export_xlsx(current_actor()), "oversight-stats.xlsx")


@bp.get("/oversight/stats/rows")
@bp.arguments(StatsRowsArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_stats_rows(args):
    """某个统计数字背后的明细（脱敏、分页）。"""
    return jsonify(stats.rows(current_actor(), **args))


@bp.get("/oversight/progress")
@bp.arguments(ProgressArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_progress(args):
    """试点进度：各部门按方案时间表的完成、逾期、未到期情况。"""
    return jsonify(progress.evaluate(current_actor(), year=args["year"], today=args["today"]))


@bp.post("/oversight/risk-runs")
@bp.arguments(RiskRunArgs, required=False)   # no body: every check, today
@bp.doc(security=SECURITY, responses=_answers(201))
def post_risk_run(args):
    """运行全部风险核查，生成疑点清单。"""
    run = risks.run_all_checks(current_actor(), trigger="manual", overrides=args["thresholds"], only=args["checks"])
    return jsonify(risks.run_dict(run)), 201


@bp.get("/oversight/risk-runs")
@bp.arguments(PageArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_risk_runs(args):
    """风险核查运行记录。"""
    return jsonify(risks.list_runs(current_actor(), **args))


@bp.get("/oversight/risk-findings")
@bp.arguments(FindingArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_risk_findings(args):
    """疑点清单（含证据）。"""
    return jsonify(risks.list_findings(current_actor(), **args))


@bp.post("/oversight/risk-findings/<int:finding_id>/mark")
@bp.arguments(MarkArgs)
@bp.doc(security=SECURITY, responses=_answers(200))
def post_mark_finding(args, finding_id):
    """财政局标记疑点：确认、排除（须说明）或重新打开。"""
    return jsonify(risks.mark_finding(current_actor(), finding_id, **args))


@bp.get("/oversight/disclosures")
@bp.doc(security=SECURITY, responses=_answers(200, many=True))
def get_disclosures():
    """公示列表（本人范围内）。"""
    return jsonify(disclosure.list_for_staff(current_actor()))


@bp.post("/oversight/disclosures")
@bp.arguments(PublishArgs)
@bp.doc(security=SECURITY, responses=_answers(201))
def post_disclosure(args):
    """发布公示：财政局或项目主管部门审核岗，台账中已有发放记录时。"""
    d = disclosure.publish(current_actor(), **args)
    return jsonify(disclosure.to_dict(d)), 201


@bp.post("/oversight/disclosures/<int:disclosure_id>/withdraw")
@bp.arguments(DisclosureWithdrawArgs)
@bp.doc(security=SECURITY, responses=_answers(200))
def post_withdraw(args, disclosure_id):
    """撤回公示（须填写原因）。"""
    return jsonify(disclosure.to_dict(disclosure.withdraw(current_actor(), disclosure_id, **args)))


@bp.get("/audit/entries")
@bp.arguments(AuditArgs, location="query")
@bp.doc(security=SECURITY, responses=_answers(200))
def get_audit_entries(args):
    """审计日志查询（审计岗的每次查询本身也记入审计日志）。"""
    return jsonify(auditlog.list_entries(
        current_actor(), entity_type=args["entity"], entity_id=args["entity_id"], actor_id=args["actor"],
        actor_kind=args["actor_kind"], action=args["action"], since=args["since"], until=args["until"],
        page=args["page"], per_page=args["per_page"]))


# ---- public pages (no login) -------------------------------------------------------------

def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _village() -> int | None:
    raw = request.args.get("village", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10**9 else None


def _big() -> bool:
    """长辈版 of the public pages: ?big=1, or the resident's 长辈版 choice on the H5 pages (its cookie)."""
    return request.args.get("big", request.cookies.get("oc_elderly", "0")) == "1"


@public_bp.get("/disclosures")
def public_index():
    return render_template("public/disclosures.html", items=disclosure.public_list(), big=_big())


@public_bp.get("/disclosures/<int:disclosure_id>")
def public_page(disclosure_id):
    try:
        view = disclosure.public_view(disclosure_id, page=_page_number(), village_id=_village())
    except Gone as exc:
        return render_template("public/withdrawn.html", message=exc.message, big=_big()), 410
    except DomainError as exc:
        return render_template("public/withdrawn.html", message=exc.message, big=_big()), exc.status
    return render_template("public/disclosure.html", d=view, big=_big())


@public_bp.get("/disclosures/<int:disclosure_id>.json")
def public_json(disclosure_id):
    return jsonify(disclosure.public_view(disclosure_id, page=_page_number(), village_id=_village()))


@public_bp.get("/disclosures/<int:disclosure_id>.xlsx")
def public_download(disclosure_id):
    filename, data = disclosure.public_xlsx(disclosure_id)
    return send_xlsx(data, filename)
