"""Oversight pages (监督): statistics with drill-down, pilot progress, risk checks, 公示, the audit trail;
and the department's complaints (投诉咨询) and the bank's card applications (制卡申请).

Each view parses with the same schemas as the JSON door (the domain's, e.g. onecard/cards/schemas.py) and
calls the same service function as staff_api/oversight.py, staff_api/complaints.py and
staff_api/card_applications.py.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Response, render_template, request, url_for
from marshmallow import EXCLUDE, ValidationError

from onecard.cards import applications as card_applications
from onecard.cards import schemas as card_schemas
from onecard.cards.lifecycle import APPLICATION_LABELS, APPLICATION_MACHINE
from onecard.complaints import cases as complaint_cases
from onecard.complaints import schemas as complaint_schemas
from onecard.complaints import service as complaint_service
from onecard.oversight import auditlog, disclosure, progress, risks, stats
from onecard.oversight.schemas import (
    AuditArgs,
    DisclosureWithdrawArgs,
    FindingArgs,
    MarkArgs,
    ProgressArgs,
    PublishArgs,
    StatsRowsArgs,
)
from onecard.projects import service as projects_service
from onecard.staff import permissions
from onecard.timeutil import SHANGHAI, local_today
from onecard.validation import parse_date
from onecard.web import send_xlsx
from onecard.web.http import form_int

from . import bp, charts
from .core import error_page, page
from .guard import guarded_post

# Evidence keys of risk findings, in words (unknown keys are shown as they are).
EVIDENCE_LABELS = {"resident_id": "居民编号", "name": "姓名", "id_number": "身份证号", "project": "项目", "period": "期间",
                   "periods": "期间", "payments": "发放次数", "amount_yuan": "金额", "ledger_ids": "台账记录编号",
                   "account": "账户", "households": "户数", "household_id": "户编号", "people": "人数",
                   "wards": "被代管人数", "ward_resident_ids": "被代管人编号", "threshold": "阈值",
                   "deceased_on": "死亡日期", "card_status": "卡状态", "standard_yuan": "标准金额",
                   "required_category": "要求的身份类别", "bank_id": "银行编号", "town_id": "镇街编号",
                   "village_id": "村（社区）编号", "counts": "次数"}
MEASURE_LABELS = {**stats.LIST_MEASURES, **stats.LEDGER_MEASURES}
# Which figure of a report row is which drill-down measure (the table's columns).
COLUMNS = [("recipients", "recipients", "名单人数"), ("matched_usable", "matched", "比对可用"),
           ("activated", "activated", "已激活"), ("paid_count", "paid", "发放成功笔数"),
           ("paid_yuan", "paid", "发放金额"), ("failed_count", "failed", "失败笔数"),
           ("reissued_paid", "reissued", "补发成功"), ("avg_days_to_arrival", "arrival", "平均到账天数")]


FIELD_LABELS = {"dimension": "统计维度", "key": "编号", "measure": "指标", "failure_code": "失败代码", "page": "页码",
                "per_page": "每页条数", "year": "年份", "today": "日期", "check": "核查项目", "status": "状态",
                "note": "说明", "project_id": "补贴项目", "period": "发放期间", "reason": "撤回原因",
                "entity": "对象类型", "entity_id": "对象编号", "actor": "操作人账号编号", "actor_kind": "操作人类型",
                "action": "操作", "since": "开始时间", "until": "结束时间", "reply": "答复内容",
                "account": "金融账户账号", "card_number": "社保卡号"}


def _parse(schema_cls, source):
    """Load query/form values with the API's schema; a bad value is a 422 page (never a 500)."""
    try:
        # The guard fields (csrf_token, form_nonce) ride along in every form: not the schema's business.
        return schema_cls(unknown=EXCLUDE).load({k: v for k, v in source.items() if v != ""}), None
    except ValidationError as exc:
        fields = "、".join(FIELD_LABELS.get(f, f) for f in exc.messages)
        return None, error_page(422, f"填写的内容不正确：{fields}。请检查后重新提交。")


def _yuan(fen: float) -> str:
    return f"{fen / 100:,.2f}"


# ------------------------------------------------------------------------------------ 统计

@bp.get("/stats")
@page("oversight.stats")
def oversight_stats(actor):
    dim = request.args.get("dimension") or "department"
    if dim not in stats.DIMENSIONS:
        return error_page(422, f"不支持的统计维度：{dim}")
    wanted = [dim] if dim == "month" else [dim, "month"]
    report = stats.report(actor, wanted)["dimensions"]
    months = report["month"]
    paid_chart = charts.bar("按月发放金额（元）", "每月发放成功的金额",
                            [(r["label"], r["paid_fen"]) for r in months], fmt=_yuan)
    reasons: dict[str, int] = {}
    for r in months:
        for f in r["failures"]:
            reasons[f["reason"] or f["code"] or "未说明"] = reasons.get(f["reason"] or f["code"] or "未说明", 0) \
                + f["count"]
    fail_chart = (charts.bar("发放失败原因（笔）", "各失败原因的笔数", sorted(reasons.items(), key=lambda x: -x[1]))
                  if reasons else charts.empty("发放失败原因（笔）", "暂无发放失败"))
    return render_template("console/oversight_stats.html", dimensions=stats.DIMENSIONS, dim=dim,
                           rows=report[dim], columns=COLUMNS, paid_chart=paid_chart, fail_chart=fail_chart)


@bp.get("/stats/rows")
@page("oversight.stats")
def oversight_stats_rows(actor):
    args, refusal = _parse(StatsRowsArgs, request.args)
    if refusal:
        return refusal
    found = stats.rows(actor, **args)
    return render_template("console/oversight_stats_rows.html", args=args, found=found,
                           dimension_label=stats.DIMENSIONS[args["dimension"]],
                           measure_label=MEASURE_LABELS[args["measure"]])


@bp.get("/stats.xlsx")
@page("oversight.stats")
def oversight_stats_xlsx(actor):
    return send_xlsx(stats.export_xlsx(actor), "oversight-stats.xlsx")


# ------------------------------------------------------------------------------------ 试点进度

@bp.get("/progress")
@page("oversight.progress")
def oversight_progress(actor):
    args, refusal = _parse(ProgressArgs, request.args)
    if refusal:
        return refusal
    return render_template("console/oversight_progress.html", report=progress.evaluate(actor, **args))


# ------------------------------------------------------------------------------------ 风险检查

@bp.get("/risk")
@page("risk.read")
def oversight_risk(actor):
    args, refusal = _parse(FindingArgs, request.args)
    if refusal:
        return refusal
    found = risks.list_findings(actor, **args)
    return render_template("console/oversight_risk.html", found=found, args=args, checks=risks.CHECKS,
                           states=risks.FINDING_STATES, machine=risks.FINDING_MACHINE,
                           evidence_labels=EVIDENCE_LABELS, can_run=permissions.can(actor, "risk.run"),
                           can_mark=permissions.can(actor, "risk.mark"))


@bp.post("/risk/run")
@page("risk.run")
def oversight_risk_run(actor):
    return guarded_post(actor, lambda: risks.run_all_checks(actor, trigger="manual"),
                        done=lambda run: f"风险核查已完成（第 {run.id} 次运行）。",
                        then=url_for("console.oversight_risk"))


@bp.post("/risk/<int:finding_id>/mark")
@page("risk.mark")
def oversight_risk_mark(actor, finding_id):
    then = url_for("console.oversight_risk")
    args, refusal = _parse(MarkArgs, request.form)
    if refusal:
        return refusal
    return guarded_post(actor, lambda: risks.mark_finding(actor, finding_id, **args),
                        done=lambda f: f"疑点 {f['id']} 已标记为“{f['status_label']}”。", then=then)


# ------------------------------------------------------------------------------------ 公示

@bp.get("/disclosure")
@page("disclosure.read")
def oversight_disclosure(actor):
    can_publish = permissions.can(actor, "disclosure.publish")
    projects = projects_service.list_projects(actor) if can_publish else []
    return render_template("console/oversight_disclosure.html", items=disclosure.list_for_staff(actor),
                           projects=projects, can_publish=can_publish,
                           can_withdraw=permissions.can(actor, "disclosure.withdraw"))


@bp.post("/disclosure/publish")
@page("disclosure.publish")
def oversight_disclosure_publish(actor):
    args, refusal = _parse(PublishArgs, request.form)
    if refusal:
        return refusal
    return guarded_post(actor, lambda: disclosure.publish(actor, **args),
                        done=lambda d: f"已发布公示：{d.title}。", then=url_for("console.oversight_disclosure"))


@bp.post("/disclosure/<int:disclosure_id>/withdraw")
@page("disclosure.withdraw")
def oversight_disclosure_withdraw(actor, disclosure_id):
    args, refusal = _parse(DisclosureWithdrawArgs, request.form)
    if refusal:
        return refusal
    return guarded_post(actor, lambda: disclosure.withdraw(actor, disclosure_id, **args),
                        done=lambda d: f"已撤回公示：{d.title}。", then=url_for("console.oversight_disclosure"))


# ------------------------------------------------------------------------------------ 审计

def _local_to_utc(value: str) -> str:
    """A datetime-local value (Asia/Shanghai, as staff read the clock) as the API's naive UTC ISO text."""
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return value      # the schema refuses it with a message
    return local.replace(tzinfo=SHANGHAI).astimezone(UTC).replace(tzinfo=None).isoformat()


@bp.get("/audit")
@page("audit.read")
def oversight_audit(actor):
    raw = dict(request.args)
    for key in ("since", "until"):
        if raw.get(key):
            raw[key] = _local_to_utc(raw[key])
    args, refusal = _parse(AuditArgs, raw)
    if refusal:
        return refusal
    found = auditlog.list_entries(
        actor, entity_type=args["entity"], entity_id=args["entity_id"], actor_id=args["actor"],
        actor_kind=args["actor_kind"], action=args["action"], since=args["since"], until=args["until"],
        page=args["page"], per_page=args["per_page"])
    return render_template("console/oversight_audit.html", found=found, q=request.args)


# ------------------------------------------------------------------------------------ 投诉咨询

@bp.get("/complaints")
@page("complaint.read")
def oversight_complaints(actor):
    args, refusal = _parse(complaint_schemas.ListArgs, request.args)
    if refusal:
        return refusal
    return render_template("console/oversight_complaints.html",
                           items=complaint_service.staff_complaints(actor, args["status"]), status=args["status"],
                           can_reply=permissions.can(actor, "complaint.reply"),
                           can_manage_calendar=permissions.can(actor, "holiday.manage"))


@bp.post("/complaints/<int:complaint_id>/reply")
@page("complaint.reply")
def oversight_complaint_reply(actor, complaint_id):
    args, refusal = _parse(complaint_schemas.ReplyArgs, request.form)
    if refusal:
        return refusal
    return guarded_post(actor, lambda: complaint_service.reply_complaint(actor, complaint_id, args["reply"]),
                        done="答复已发送，居民可在手机上查看。", then=url_for("console.oversight_complaints"))


# ------------------------------------------------------------------------------------ 办理时限与节假日

HOLIDAY_KINDS = {"holiday": "放假", "workday": "调休上班"}
WEEKDAYS = "一二三四五六日"


def _calendar_page(actor, year: int, *, error: dict | None = None, status: int = 200):
    """The answer deadline and one year's calendar, as the complaints' deadlines read them (onecard.complaints.cases)."""
    days = complaint_cases.deadline_days()
    today = local_today()
    listed = [{**h, "weekday": WEEKDAYS[date.fromisoformat(h["day"]).weekday()]}
              for h in complaint_cases.list_holidays(year)]
    return render_template("console/complaint_calendar.html", year=year, deadline_days=days, holidays=listed,
                           kinds=HOLIDAY_KINDS, today=today.isoformat(),
                           due_today=complaint_cases.add_working_days(today, days).isoformat(),
                           error=error or {}), status


def _calendar_year(raw) -> int | None:
    """The year asked for (this year when none); None when it is not a year the calendar can hold."""
    if raw in (None, ""):
        return local_today().year
    year = form_int(raw)
    low, high = complaint_cases.CALENDAR_YEARS
    return year if year is not None and low <= year <= high else None


@bp.get("/complaints/calendar")
@page("holiday.manage")
def complaint_calendar(actor):
    year = _calendar_year(request.args.get("year"))
    if year is None:
        low, high = complaint_cases.CALENDAR_YEARS
        return error_page(422, f"填写的内容不正确：年份。请填写{low}至{high}之间的年份。")
    return _calendar_page(actor, year)


def _calendar_refused(actor, year: int, form: str, values: dict):
    """A refusal from the core, shown beside the form it came from with what was typed (the service's status)."""
    return lambda exc: _calendar_page(actor, year, status=exc.status,
                                      error={"form": form, "field": exc.field, "message": exc.message, **values})


@bp.post("/complaints/calendar/deadline")
@page("holiday.manage")
def complaint_deadline_set(actor):
    raw = request.form.get("working_days", "")
    # Not a whole number is 0 here, so the core's own range check refuses it with its own words.
    return guarded_post(actor, lambda: complaint_cases.set_deadline_days(actor, form_int(raw) or 0),
                        done=lambda n: f"答复期限已改为 {n} 个工作日，此后登记或重新办理的投诉咨询按新期限计算。",
                        then=url_for("console.complaint_calendar"),
                        on_error=_calendar_refused(actor, local_today().year, "deadline", {"working_days": raw}))


@bp.post("/complaints/calendar/days")
@page("holiday.manage")
def complaint_holiday_put(actor):
    f = request.form
    values = {"day": f.get("day", ""), "kind": f.get("kind", ""), "name": f.get("name", "")}
    year = _calendar_year(f.get("year")) or local_today().year

    def put():
        return complaint_cases.put_holiday(actor, parse_date(values["day"], field="day"), values["kind"],
                                           values["name"])
    # After the change, the year of the day entered (every date format parse_date reads begins with the year).
    then_year = _calendar_year(values["day"].strip()[:4]) or year
    return guarded_post(actor, put,
                        done=lambda h: f"已登记 {h['day']}：{h['name']}（{HOLIDAY_KINDS[h['kind']]}）。",
                        then=url_for("console.complaint_calendar", year=then_year),
                        on_error=_calendar_refused(actor, year, "day", values))


@bp.post("/complaints/calendar/days/<day>/delete")
@page("holiday.manage")
def complaint_holiday_delete(actor, day):
    year = _calendar_year(request.form.get("year")) or local_today().year

    def delete():
        when = parse_date(day, field="day")
        complaint_cases.delete_holiday(actor, when)
        return when
    return guarded_post(actor, delete, done=lambda when: f"已删除 {when.isoformat()} 的节假日安排。",
                        then=url_for("console.complaint_calendar", year=year),
                        on_error=_calendar_refused(actor, year, "delete", {"deleted_day": day}))


# ------------------------------------------------------------------------------------ 制卡申请

MOVE_LABELS = {"accept": "受理", "in_production": "制卡", "ready": "待领取", "posted": "已邮寄", "collected": "已领取",
               "reject": "退回"}


@bp.get("/card-applications")
@page("card_application.read")
def oversight_card_applications(actor):
    args, refusal = _parse(card_schemas.ListArgs, request.args)
    if refusal:
        return refusal
    return render_template("console/oversight_card_applications.html",
                           items=card_applications.staff_list_applications(actor, args["status"]),
                           status=args["status"],
                           labels=APPLICATION_LABELS, moves=card_applications.STAFF_MOVES, move_labels=MOVE_LABELS,
                           machine=APPLICATION_MACHINE,
                           can_process=permissions.can(actor, "card_application.process"),
                           can_see_applicant=permissions.can(actor, "card_application.applicant"),
                           applicant_visible=card_applications.APPLICANT_VISIBLE)


@bp.post("/card-applications/<int:application_id>/move")
@page("card_application.process")
def oversight_card_application_move(actor, application_id):
    args, refusal = _parse(card_schemas.MoveArgs, request.form)
    if refusal:
        return refusal
    return guarded_post(actor, lambda: card_applications.process_application(
        actor, application_id, args["action"], account=args["account"], card_number=args["card_number"],
        note=args["note"]), done=lambda a: f"申领 {a['id']} 现为“{a['status_label']}”。",
        then=url_for("console.oversight_card_applications"))


@bp.get("/card-applications/<int:application_id>")
@page("card_application.applicant")
def oversight_card_application_applicant(actor, application_id):
    """The bank clerk's 制卡 view of one application: who the applicant is (decrypted, audited)."""
    return render_template("console/card_application_applicant.html",
                           a=card_applications.applicant_for_bank(actor, application_id))


@bp.get("/card-applications/<int:application_id>/photo")
@page("card_application.applicant")
def oversight_card_application_photo(actor, application_id):
    data, mimetype = card_applications.applicant_photo(actor, application_id)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})
