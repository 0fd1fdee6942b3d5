"""Projects and lists pages (项目目录, 名单上传, 比对结果, 跟进名单, 制卡数据导入).

Each view parses the form, calls the same service function as staff_api/projects.py,
lists.py and registry.py, and renders. Refusals come back from the services; the
upload's ``sheet_invalid`` details are shown inline as a table next to the annotated
xlsx report.
"""
from __future__ import annotations

import json

from flask import redirect, render_template, request, url_for

from onecard.errors import DomainError
from onecard.extensions import db
from onecard.lists import matching
from onecard.lists import service as lists
from onecard.lists.models import MATCH_RESULTS
from onecard.people.models import CATEGORIES
from onecard.projects import service as projects
from onecard.projects import sheets
from onecard.projects.models import CYCLES, LEVELS, PROJECT_STATES
from onecard.registry import service as registry
from onecard.staff import permissions
from onecard.validation import format_fen
from onecard.web import send_xlsx
from onecard.web.http import form_int

from . import bp
from .core import notify, page
from .guard import ALREADY_DONE, _give_back_nonce, guarded_post, spend_nonce
from .reference_pages import scope_choices

PROJECT_FIELDS = ("category", "name", "cycle", "level", "standard", "required_category", "eligibility",
                  "policy_basis")
PAGE_SIZE = 50


def _int_arg(source, name: str) -> int | None:
    return form_int(source.get(name))


def _act_then(actor, action, *, done, then, on_error, used_then):
    """guarded_post whose redirect target depends on the result (e.g. the new list's page)."""
    status = spend_nonce(actor)
    if status != "ok":
        if status == "used":
            notify("info", ALREADY_DONE)
            return redirect(used_then)
        return render_template("console/error.html", status=400, title="请求被拒绝",
                               message="页面已过期，请刷新页面后重新操作。"), 400
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        _give_back_nonce()
        return on_error(exc)
    notify("success", done(result))
    return redirect(then(result))


# ---------------------------------------------------------------- 项目目录 (attachment 2)

def _project_values(form, *, with_department: bool) -> dict:
    values = {k: (form.get(k) or "").strip() or None for k in PROJECT_FIELDS}
    values["bank_id"] = _int_arg(form, "bank_id")
    values["via_passbook"] = form.get("via_passbook") == "是"
    values["per_household"] = form.get("per_household") == "是"
    if with_department:
        values["department_id"] = _int_arg(form, "department_id")
    return values


def _projects_page(actor, *, form=None, error=None, import_errors=None, status=200):
    status_filter = request.args.get("status") or None
    return render_template(
        "console/projects_list.html",
        projects=projects.list_projects(actor, status=status_filter if status_filter in PROJECT_STATES else None),
        states=PROJECT_STATES, cycles=CYCLES, levels=LEVELS, categories=CATEGORIES, choices=scope_choices(),
        status_filter=status_filter, fmt=format_fen, form=form or {}, error=error, import_errors=import_errors,
        can_register=permissions.can(actor, "project.register"), can_code=permissions.can(actor, "project.code"),
        can_retire=permissions.can(actor, "project.retire"), can_import=permissions.can(actor, "project.import"),
        can_edit=permissions.can(actor, "project.edit"), is_dept=actor.role == "dept_operator"), status


@bp.get("/projects")
@page("project.read")
def projects_list(actor):
    return _projects_page(actor)


@bp.post("/projects")
@page("project.register")
def project_register(actor):
    values = _project_values(request.form, with_department=True)
    return guarded_post(
        actor, lambda: projects.register_project(actor, values),
        done=lambda p: f"已登记项目“{p.name}”，待人社局赋码",
        then=url_for("console.projects_list"),
        on_error=lambda exc: _projects_page(actor, form={**values, "error_field": exc.field}, error=exc.message,
                                            status=exc.status))


@bp.get("/projects/<int:project_id>")
@page("project.read")
def project_detail(actor, project_id):
    return render_template("console/projects_detail.html", project=projects.get_project(actor, project_id),
                           states=PROJECT_STATES, cycles=CYCLES, levels=LEVELS, categories=CATEGORIES,
                           choices=scope_choices(), fmt=format_fen,
                           can_edit=permissions.can(actor, "project.edit"),
                           can_code=permissions.can(actor, "project.code"),
                           can_retire=permissions.can(actor, "project.retire"))


@bp.post("/projects/<int:project_id>")
@page("project.edit")
def project_edit(actor, project_id):
    values = _project_values(request.form, with_department=False)
    return guarded_post(actor, lambda: projects.update_project(actor, project_id, values),
                        done=lambda p: f"项目“{p.name}”已修改",
                        then=url_for("console.project_detail", project_id=project_id))


@bp.post("/projects/<int:project_id>/code")
@page("project.code")
def project_code(actor, project_id):
    return guarded_post(actor, lambda: projects.code_project(actor, project_id),
                        done=lambda p: f"已赋予统一编码 {p.code}（{p.name}）",
                        then=url_for("console.projects_list"))


@bp.post("/projects/<int:project_id>/retire")
@page("project.retire")
def project_retire(actor, project_id):
    note = (request.form.get("note") or "").strip()[:200] or None
    return guarded_post(actor, lambda: projects.retire_project(actor, project_id, note=note),
                        done=lambda p: f"项目“{p.name}”已停用，编码 {p.code} 保留不再使用",
                        then=url_for("console.project_detail", project_id=project_id))


@bp.get("/projects/export.xlsx")
@page("project.read")
def projects_export(actor):
    return send_xlsx(projects.export_projects(actor), "附件2_补贴项目目录.xlsx")


@bp.get("/projects/template.xlsx")
@page("project.read")
def projects_template(actor):
    return send_xlsx(sheets.template_xlsx(), "附件2_补贴项目目录_模板.xlsx")


@bp.post("/projects/import")
@page("project.import")
def projects_import(actor):
    upload = request.files.get("file")
    department_id = _int_arg(request.form, "department_id")

    def refused(exc: DomainError):
        errors = (exc.details or {}).get("errors") if isinstance(exc.details, dict) else None
        return _projects_page(actor, error=exc.message, import_errors=errors, status=exc.status)

    if upload is None or not upload.filename:
        notify("error", "请选择要导入的附件2文件")
        return redirect(url_for("console.projects_list"))
    return guarded_post(actor, lambda: projects.import_projects(actor, upload.stream, upload.filename,
                                                                department_id=department_id),
                        done=lambda created: f"已导入 {len(created)} 个项目，待人社局赋码",
                        then=url_for("console.projects_list"), on_error=refused)


# ---------------------------------------------------------------- 名单上传 (attachment 3)

def _upload_page(actor, *, form=None, error=None, errors=None, error_count=0, report_id=None, status=200):
    return render_template("console/upload_form.html",
                           projects=projects.list_projects(actor, status="coded"),
                           recent=[lists.describe(x) for x in lists.list_lists(actor)[:10]],
                           cycles=CYCLES, form=form or {}, error=error, errors=errors or [],
                           error_count=error_count, report_id=report_id), status


@bp.get("/upload")
@page("list.upload")
def upload(actor):
    return _upload_page(actor)


@bp.get("/upload/template.xlsx")
@page("list.upload")
def upload_template(actor):
    return send_xlsx(lists.template_xlsx(), "附件3-补贴发放名单模板.xlsx")


@bp.post("/upload")
@page("list.upload")
def upload_post(actor):
    project_id = _int_arg(request.form, "project_id")
    period = (request.form.get("period") or "").strip()
    file = request.files.get("file")
    form = {"project_id": project_id, "period": period}

    def refused(exc: DomainError):
        details = exc.details if isinstance(exc.details, dict) else {}
        return _upload_page(actor, form=form, error=exc.message, errors=details.get("errors"),
                            error_count=details.get("error_count", 0), report_id=details.get("report_id"),
                            status=exc.status)

    if project_id is None or file is None or not file.filename:
        return _upload_page(actor, form=form, error="请选择补贴项目、填写发放期间并选择名单文件", status=422)
    return _act_then(actor, lambda: lists.upload(actor, project_id=project_id, period=period,
                                                 file_name=file.filename, stream=file.stream),
                     done=_saved_message,
                     then=lambda x: url_for("console.list_detail", list_id=x.id), on_error=refused,
                     used_then=url_for("console.upload"))


def _saved_message(recipient_list) -> str:
    notes = lists.describe(recipient_list)
    extra = "".join([f"；{len(notes['warnings'])} 处提醒（见名单页）" if notes["warnings"] else "",
                     f"；已跳过 {len(notes['skipped_rows'])} 行空行或注释" if notes["skipped_rows"] else ""])
    return f"名单已保存：{recipient_list.row_count} 人，合计 {format_fen(recipient_list.total_fen)} 元{extra}"


@bp.get("/upload/reports/<report_id>.xlsx")
@page("list.report.read")
def upload_report(actor, report_id):
    name, data = lists.report_xlsx(actor, report_id)
    return send_xlsx(data, name)


# ---------------------------------------------------------------- 比对结果

@bp.get("/lists")
@page("list.read")
def lists_index(actor):
    return render_template("console/matching_lists.html",
                           lists=[lists.describe(x) for x in lists.list_lists(actor)],
                           can_import_registry=permissions.can(actor, "registry.import"))


@bp.get("/lists/<int:list_id>")
@page("list.read")
def list_detail(actor, list_id):
    described = lists.describe(lists.load_list(actor, list_id))
    match_result = request.args.get("result") or None
    match_result = match_result if match_result in MATCH_RESULTS else None
    page_no = max(_int_arg(request.args, "page") or 1, 1)
    rows = lists.list_rows(actor, list_id, page=page_no, page_size=PAGE_SIZE, match_result=match_result)
    summary = matching.summary(actor, list_id) if described["status"] == "matched" else None
    pages = max((rows.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template("console/matching_detail.html", lst=described, rows=rows, pages=pages,
                           summary=summary, results=MATCH_RESULTS, match_result=match_result, fmt=format_fen,
                           can_match=permissions.can(actor, "match.run") and described["status"] != "withdrawn",
                           can_followup=permissions.can(actor, "followup.read"))


@bp.post("/lists/<int:list_id>/match")
@page("match.run")
def list_match(actor, list_id):
    def done(outcome):
        usable = outcome.counts.get("usable", 0)
        return f"比对完成：{outcome.rows} 人，其中可正常发放 {usable} 人，本次结果变化 {outcome.changed} 行"
    return guarded_post(actor, lambda: matching.match_list(actor, list_id), done=done,
                        then=url_for("console.list_detail", list_id=list_id))


# ---------------------------------------------------------------- 跟进名单

def _followup_filters() -> dict:
    return {k: _int_arg(request.args, k) for k in ("village_id", "town_id", "bank_id")
            if _int_arg(request.args, k) is not None}


@bp.get("/followup")
@page("followup.read")
def followup(actor):
    choices = [lists.describe(x) for x in matching.followup_lists(actor)]
    list_id = _int_arg(request.args, "list_id")
    data = matching.followup(actor, list_id, **_followup_filters()) if list_id else None
    return render_template("console/followup.html", choices=choices, list_id=list_id, data=data,
                           can_assist=permissions.can(actor, "resident.assist"))


@bp.get("/followup/<int:list_id>.xlsx")
@page("followup.read")
def followup_xlsx(actor, list_id):
    name, data = matching.followup_xlsx(actor, list_id, **_followup_filters())
    return send_xlsx(data, name)


# ---------------------------------------------------------------- 制卡数据导入 (bureau)

@bp.get("/registry")
@page("registry.import")
def registry_imports(actor):
    return render_template("console/registry_imports.html", imports=registry.list_imports(actor))


@bp.get("/registry/template.xlsx")
@page("registry.import")
def registry_template(actor):
    return send_xlsx(registry.template_xlsx(), "社保卡制卡数据_模板.xlsx")


@bp.post("/registry")
@page("registry.import")
def registry_import(actor):
    file = request.files.get("file")
    if file is None or not file.filename:
        notify("error", "请选择制卡数据文件")
        return redirect(url_for("console.registry_imports"))
    return _act_then(actor, lambda: registry.import_registry(actor, file.stream, file.filename),
                     done=lambda r: f"导入完成：共 {r.rows_total} 行，已处理 {r.rows_applied} 行，错误 {r.error_count} 行；"
                                   f"已重新比对本期和下期名单，{_rematch_changed(r)} 行比对结果变化",
                     then=lambda r: url_for("console.registry_import_detail", import_id=r.id),
                     on_error=lambda exc: (notify("error", exc.message),
                                           redirect(url_for("console.registry_imports")))[1],
                     used_then=url_for("console.registry_imports"))


def _rematch_changed(record) -> int:
    return json.loads(record.rematch_detail or "{}").get("changed", 0)


@bp.get("/registry/<int:import_id>")
@page("registry.import")
def registry_import_detail(actor, import_id):
    record = registry.get_import(actor, import_id)
    return render_template("console/registry_detail.html", record=record,
                           detail=json.loads(record.status_change_detail or "{}"),
                           errors=json.loads(record.errors or "[]")[:500])
