"""Disbursement pages (资金发放): 代发协议, 发放批次 with their approval steps, 银行文件, 失败重发, 台账.

The same service calls as staff_api/payments.py. Every unsafe call passes the spent
one-time form nonce as its idempotency key, so a double click, the back button or a
stale page never acts twice (the guard refuses the second submit; the service would
replay the first answer even if it got through).
"""
from __future__ import annotations

import hashlib
import io
from datetime import date

from flask import render_template, request, url_for

from onecard.errors import DomainError, Invalid
from onecard.payments import agreements, batches, exports, ledger, reissues, results
from onecard.payments.schemas import BATCH_STATUS_LABELS as BATCH_LABELS
from onecard.payments.schemas import LINE_STATUS_LABELS as LINE_LABELS
from onecard.privacy import mask_name
from onecard.projects import service as projects_service
from onecard.staff import permissions
from onecard.validation import format_yuan
from onecard.web import send_download, send_xlsx
from onecard.web.http import form_int, form_ints

from . import bp
from .core import page
from .guard import guarded_post
from .reference_pages import scope_choices

PAGE_SIZE = 50
STEP_LABELS = {"submit": "提交审核", "review": "审核通过", "approve": "审批通过", "return": "退回修改",
               "cancel": "作废", "reconcile": "对账", "close": "归档"}
TRAIL_LABELS = {"batch.created": "生成批次", "batch.reissue_created": "生成补发批次", "batch.line_removed": "移出明细"}
STEP_ACTIONS = {"submit": "batch.submit", "review": "batch.review", "approve": "batch.approve",
                "cancel": "batch.cancel", "reconcile": "batch.reconcile", "close": "batch.close"}
STEP_DONE = {"submit": "批次已提交，合计已固定", "review": "批次已审核，待财政审批", "approve": "批次已审批，待银行导出代发文件",
             "cancel": "批次已作废", "reconcile": "对账平衡，批次已对账", "close": "批次已归档"}


@bp.app_template_filter("pay_mask_name")
def _mask_name(value) -> str:
    return mask_name(value) or ""


@bp.app_template_filter("pay_yuan")
def _yuan(fen) -> str:
    return "" if fen is None else format_yuan(fen)


def _key() -> str:
    """The idempotency key of this submit: the form's one-time nonce, spent by guarded_post before acting."""
    return "console:" + request.environ.get("onecard.console.nonce", "")


def _int_arg(name: str, source=None) -> int | None:
    return form_int((source or request.args).get(name))


def _text_arg(name: str, source=None) -> str | None:
    return ((source or request.args).get(name) or "").strip() or None


# ---------------------------------------------------------------- 代发协议

def _render_agreements(actor, *, form=None, error=None, status=200):
    can_manage = permissions.can(actor, "agreement.manage")
    projects = projects_service.list_projects(actor, status="coded") if can_manage else []
    choices = scope_choices()
    return render_template("console/payments_agreements.html", agreements=agreements.list_agreements(actor),
                           can_manage=can_manage, projects=projects, choices=choices,
                           banks={b.id: b.name for b in choices["banks"]},
                           departments={d.id: d.name for d in choices["departments"]},
                           form=form or {}, error=error), status


@bp.get("/agreements")
@page("agreement.read")
def pay_agreements(actor):
    return _render_agreements(actor)


def _date_field(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise Invalid("请填写日期（年-月-日）", code="date_invalid", field=name) from None


@bp.post("/agreements")
@page("agreement.manage")
def pay_agreement_create(actor):
    form = request.form
    shown = {k: form.get(k, "") for k in ("number", "bank_id", "department_id", "payment_schedule",
                                          "feedback_method", "fund_supervision", "reconciliation_method",
                                          "valid_from", "valid_until")}
    shown["project_ids"] = form_ints(form.getlist("project_ids"))

    def create():
        return agreements.create_agreement(actor, {
            "number": form.get("number", ""), "department_id": _int_arg("department_id", form),
            "bank_id": _int_arg("bank_id", form) or 0, "project_ids": shown["project_ids"],
            "payment_schedule": form.get("payment_schedule", ""), "feedback_method": form.get("feedback_method", "file"),
            "fund_supervision": form.get("fund_supervision", ""),
            "reconciliation_method": form.get("reconciliation_method", ""),
            "valid_from": _date_field("valid_from"), "valid_until": _date_field("valid_until")})
    return guarded_post(actor, create, done=lambda a: f"已登记代发协议 {a.number}", then=url_for("console.pay_agreements"),
                        on_error=lambda exc: _render_agreements(actor, form={**shown, "error_field": exc.field},
                                                                error=exc.message, status=exc.status))


# ---------------------------------------------------------------- 发放批次

def _render_batches(actor, *, error=None, status=200):
    filters = {"status": _text_arg("status"), "project_id": _int_arg("project_id"), "period": _text_arg("period")}
    can_create = permissions.can(actor, "batch.create")
    return render_template("console/payments_batches.html", batches=batches.list_batches(actor, **filters),
                           filters=filters, labels=BATCH_LABELS, can_create=can_create,
                           lists=batches.batchable_lists(actor) if can_create else [],
                           can_agreements=permissions.can(actor, "agreement.read"), error=error), status


@bp.get("/batches")
@page("batch.read")
def pay_batches(actor):
    return _render_batches(actor)


@bp.post("/batches")
@page("batch.create")
def pay_batch_create(actor):
    list_id = _int_arg("list_id", request.form) or 0
    return guarded_post(
        actor, lambda: batches.create_batch_from_list(actor, list_id, idempotency_key=_key()),
        done=lambda b: f"已生成发放批次 {b['number']}：{b['line_count']} 笔，{b['total_yuan']} 元，暂缓 {b['held_count']} 人",
        then=url_for("console.pay_batches"),
        on_error=lambda exc: _render_batches(actor, error=exc.message, status=exc.status))


@bp.get("/batches/<int:batch_id>")
@page("batch.read")
def pay_batch(actor, batch_id):
    offset = max(_int_arg("offset") or 0, 0)
    data = batches.batch_page(actor, batch_id, limit=PAGE_SIZE, offset=offset)
    return render_template("console/payments_batch.html", **data, offset=offset, page_size=PAGE_SIZE,
                           step_labels=STEP_LABELS, labels=BATCH_LABELS, line_labels=LINE_LABELS,
                           trail_labels=TRAIL_LABELS)


@bp.post("/batches/<int:batch_id>/<any(submit, review, approve, cancel, reconcile, close):step>")
@page("batch.read")
def pay_batch_step(actor, batch_id, step):
    permissions.require(actor, STEP_ACTIONS[step])      # a role without the step gets the 403 page
    call = batches.KEYED_STEPS[step]
    return guarded_post(actor, lambda: call(actor, batch_id, idempotency_key=_key()), done=STEP_DONE[step],
                        then=url_for("console.pay_batch", batch_id=batch_id))


@bp.post("/batches/<int:batch_id>/return")
@page("batch.return")
def pay_batch_return(actor, batch_id):
    reason = request.form.get("reason", "")
    return guarded_post(actor, lambda: batches.return_batch(actor, batch_id, reason, idempotency_key=_key()),
                        done="批次已退回修改", then=url_for("console.pay_batch", batch_id=batch_id))


# ---------------------------------------------------------------- 银行文件

def _render_bank_files(actor, *, report=None, report_batch=None, status=200):
    return render_template("console/payments_bank_files.html",
                           to_export=batches.list_batches(actor, status="approved"),
                           awaiting=batches.list_batches(actor, status="sent"),
                           report=report, report_batch=report_batch), status


@bp.get("/bank-files")
@page("batch.export")
def pay_bank_files(actor):
    return _render_bank_files(actor)


@bp.post("/batches/<int:batch_id>/export")
@page("batch.export")
def pay_batch_export(actor, batch_id):
    return guarded_post(actor, lambda: exports.export_bank_file(actor, batch_id, idempotency_key=_key()),
                        done=lambda b: f"批次 {b['number']} 已导出代发文件并标记为已发送银行，请下载文件",
                        then=url_for("console.pay_bank_files", ready=batch_id))


@bp.get("/batches/<int:batch_id>/bank-file")
@page("batch.export")
def pay_bank_file_download(actor, batch_id):
    data, name = exports.sent_file(actor, batch_id)
    return send_download(data, name, "text/csv")


@bp.post("/batches/<int:batch_id>/results")
@page("batch.results")
def pay_batch_results(actor, batch_id):
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""

    def run():
        if not data:
            raise Invalid("请选择银行回盘文件", code="file_required", field="file")
        return results.import_result_file(actor, batch_id, io.BytesIO(data),
                                           file_sha256=hashlib.sha256(data).hexdigest(), idempotency_key=_key())

    def refused(exc: DomainError):
        report = {"message": exc.message, "problems": (exc.details or {}).get("problems", [])}
        return _render_bank_files(actor, report=report, report_batch=batch_id, status=exc.status)
    return guarded_post(actor, run,
                        done=lambda b: f"回盘已导入：成功 {b['paid_count']} 笔，失败 {b['failed_count']} 笔",
                        then=url_for("console.pay_batch", batch_id=batch_id), on_error=refused)


# ---------------------------------------------------------------- 失败重发

@bp.get("/reissue")
@page("payment.reissue")
def pay_reissue(actor):
    failures = reissues.failures(actor, project_id=_int_arg("project_id"), period=_text_arg("period"))
    groups: dict[tuple, list] = {}
    for line in failures:
        groups.setdefault((line["project_id"], line["period"]), []).append(line)
    return render_template("console/payments_reissue.html", groups=groups,
                           projects={p.id: p.name for p in projects_service.list_projects(actor)})


@bp.post("/reissue")
@page("payment.reissue")
def pay_reissue_create(actor):
    form = request.form
    line_ids = form_ints(form.getlist("line_ids"))
    project_id, period = _int_arg("project_id", form) or 0, form.get("period", "")

    def run():
        if not line_ids:
            raise Invalid("请勾选要补发的失败明细", code="lines_required", field="line_ids")
        return reissues.reissue(actor, project_id, period, line_ids=line_ids, idempotency_key=_key())

    def done(b):
        blocked = f"；{len(b['blocked'])} 笔账户问题仍未解决，留在清单中" if b.get("blocked") else ""
        return f"已生成补发批次 {b['number']}：{b['line_count']} 笔{blocked}"
    return guarded_post(actor, run, done=done, then=url_for("console.pay_reissue"))


@bp.post("/reissue/<int:line_id>/allow-resend")
@page("payment.reissue")
def pay_reissue_allow(actor, line_id):
    reason = request.form.get("reason", "")
    return guarded_post(actor, lambda: reissues.allow_resend(actor, line_id, reason=reason),
                        done=lambda x: f"已登记 {x['name']} 可再次发放到原账户的理由，可勾选补发",
                        then=url_for("console.pay_reissue"))


# ---------------------------------------------------------------- 台账

@bp.get("/ledger")
@page("ledger.export")
def pay_ledger(actor):
    month = _text_arg("month")
    can_supervise = permissions.can(actor, "ledger.supervise")
    rows = ledger.supervision_rows(actor, month=month) if can_supervise else []
    return render_template("console/payments_ledger.html", rows=rows, month=month or "",
                           can_supervise=can_supervise,
                           projects=projects_service.list_projects(actor))


@bp.get("/ledger/export.xlsx")
@page("ledger.export")
def pay_ledger_export(actor):
    data = ledger.department_ledger(actor, project_id=_int_arg("project_id"), period=_text_arg("period"))
    return send_xlsx(data, "台账.xlsx")


@bp.get("/ledger/supervision.xlsx")
@page("ledger.supervise")
def pay_supervision_export(actor):
    data = ledger.supervision_report(actor, month=_text_arg("month"))
    return send_xlsx(data, "资金监管报表.xlsx")

