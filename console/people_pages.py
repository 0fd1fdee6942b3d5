"""Master data pages (基础信息): households and heads, protected groups, legal proxies, residents and deaths,
towns and villages. Each view parses the form, calls the same service as staff_api/people.py and
staff_api/reference.py, and renders the one template ``console/people_page.html``; refusals come back from
the services (an import's ``sheet_invalid`` rows are shown inline).
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import render_template, request, url_for

from onecard.errors import DomainError
from onecard.extensions import db
from onecard.imports import ImportKind
from onecard.people import access, groups, households, kinds, proxies, residents
from onecard.people.models import CATEGORIES, Resident
from onecard.privacy import mask_last4
from onecard.reference import places as place_service
from onecard.reference.models import Department, Town, Village
from onecard.staff import permissions
from onecard.web import send_xlsx
from onecard.web.http import form_int

from . import bp
from .core import notify, page
from .guard import guarded_post
from .reference_pages import scope_choices

PAGE_SIZE = 50


def F(name: str, label: str, kind: str = "text", *, required: bool = False, options: str | None = None,
      hint: str | None = None) -> dict:
    return {"name": name, "label": label, "kind": kind, "required": required, "options": options, "hint": hint}


def _options() -> dict:
    choices = scope_choices()
    return {
        "towns": [(t.id, t.name) for t in choices["towns"]],
        "villages": [(v.id, f"{t.name} {v.name}") for t, vs in choices["villages_by_town"] for v in vs],
        "groups": [(code, CATEGORIES[code]) for code in groups.RECORDED],
        "all_groups": list(CATEGORIES.items()),
        "departments": [(d.id, d.name) for d in choices["departments"]],
        "death_sources": list(residents.DEATH_SOURCES.items()),
    }


def _page_no() -> int:
    return max(form_int(request.args.get("page")) or 1, 1)


def _pager(endpoint: str, total: int, page_no: int, **args) -> dict:
    return {"total": total,
            "prev": url_for(endpoint, page=page_no - 1, **args) if page_no > 1 else None,
            "next": url_for(endpoint, page=page_no + 1, **args) if page_no * PAGE_SIZE < total else None}


def _render(title: str, *, intro: str = "", tables=(), forms=(), search=None, error=None, import_errors=None,
            values=None, status: int = 200):
    return render_template("console/people_page.html", title=title, intro=intro, tables=list(tables),
                           forms=list(forms), search=search, error=error, import_errors=import_errors,
                           entered=values or {}, options=_options()), status


def _form_values() -> dict:
    return {k: (v.strip() or None) for k, v in request.form.items() if k not in ("csrf_token", "form_nonce")}


def _post(actor, action, *, done, then: str, again):
    """guarded_post whose refusal re-renders the page with the message, the inline row errors and the input."""
    def refused(exc: DomainError):
        errors = exc.details.get("errors") if isinstance(exc.details, dict) else None
        return again(actor, error=exc.message, import_errors=errors, values=_form_values(), status=exc.status)
    return guarded_post(actor, action, done=done, then=then, on_error=refused)


# ---------------------------------------------------------------- spreadsheet imports
def _import_endpoint(kind: ImportKind, action: str) -> str:
    """``people_households_import``: named after the URL its routes hang below (see IMPORT_PAGES)."""
    return IMPORT_PAGES[kind.key][0].strip("/").replace("/", "_") + "_" + action


def _import_form(actor, kind: ImportKind) -> dict:
    """The upload form for one kind (onecard.people.kinds); a by-department kind asks for the department,
    except of a department's own operator (the service takes the operator's department)."""
    department = ([F("department_id", "认定部门", "select", required=True, options="departments")]
                  if kind.by_department and actor.role != "dept_operator" else [])
    return {"key": f"{kind.key}-import", "title": f"导入{kind.title}", "button": "导入", "hint": kind.hint,
            "action": url_for("console." + _import_endpoint(kind, "import")),
            "template": url_for("console." + _import_endpoint(kind, "template")),
            "fields": [F("file", "文件", "file", required=True), *department]}


def _add_import_routes(kind: ImportKind) -> None:
    """POST <url>/import and GET <url>/template.xlsx for one kind, guarded by the kind's permissions."""
    url, host, again = IMPORT_PAGES[kind.key]

    def upload(actor):
        file = request.files.get("file")
        if file is None or not file.filename:
            notify("error", "请选择要导入的文件")
            return again(actor, error="请选择要导入的文件", status=422)
        options = {"department_id": form_int(request.form.get("department_id"))} if kind.by_department else {}
        return _post(actor, lambda: kind.run(actor, file.stream, file.filename, **options), done=kind.summary,
                     then=url_for(f"console.{host}"), again=again)

    def template(actor):
        return send_xlsx(kind.template(), kind.template_filename)

    bp.add_url_rule(f"{url}/import", _import_endpoint(kind, "import"), page(kind.permission)(upload),
                    methods=["POST"])
    bp.add_url_rule(f"{url}/template.xlsx", _import_endpoint(kind, "template"),
                    page(kind.template_permission)(template), methods=["GET"])


_SPLIT = re.compile(r"[,，\s]+")


def _lines(text: str | None, keys: tuple[str, ...]) -> list[dict]:
    """A textarea with one member a line ("身份证号,姓名,关系" ...) as dicts."""
    out = []
    for line in (text or "").splitlines():
        parts = [p for p in _SPLIT.split(line.strip()) if p]
        if parts:
            out.append(dict(zip(keys, parts + [None] * (len(keys) - len(parts)), strict=False)))
    return out


def _names(model, ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(model.id, model.name).where(model.id.in_(ids))).all())


def _people(ids) -> dict[int, Resident]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    return {r.id: r for r in db.session.execute(sa.select(Resident).where(Resident.id.in_(ids))).scalars()}


def _who(person: Resident | None) -> str:
    return f"{person.name}（{person.id_masked}）" if person else "—"


# ---------------------------------------------------------------- households
def _households_page(actor, *, error=None, import_errors=None, values=None, status=200):
    code = (request.args.get("code") or "").strip() or None
    town_id = form_int(request.args.get("town_id"))
    without_head = request.args.get("without_head") == "1"
    page_no = _page_no()
    rows, total = households.list_households(actor, code=code, town_id=town_id, without_head=without_head,
                                             page=page_no, per_page=PAGE_SIZE)
    towns = _names(Town, [h.town_id for h in rows])
    villages = _names(Village, [h.village_id for h in rows])
    heads = _people([h.head_id for h in rows])
    table = {"id": "households-table", "caption": "家庭户", "headers": ["户号", "镇街", "村（社区）", "户主", "地址"],
             "rows": [[{"link": url_for("console.people_household", household_id=h.id), "text": h.code},
                       towns.get(h.town_id), villages.get(h.village_id),
                       _who(heads.get(h.head_id)) if h.head_id else "待登记户主", h.address] for h in rows],
             "pager": _pager("console.people_households", total, page_no, code=code or "", town_id=town_id or "",
                             without_head="1" if without_head else "")}
    forms = []
    if permissions.can(actor, "household.manage"):
        forms = [
            {"key": "create", "title": "建户", "action": url_for("console.people_household_create"), "button": "建户",
             "fields": [F("code", "户号", required=True), F("town_id", "镇街", "select", required=True, options="towns"),
                        F("village_id", "村（社区）", "select", options="villages"), F("address", "地址"),
                        F("members", "成员（每行一人：身份证号,姓名,与户主关系；一人为“户主”）", "textarea", required=True)]},
            _import_form(actor, kinds.HOUSEHOLDS),
        ]
    search = {"action": url_for("console.people_households"), "current": {"code": code, "town_id": town_id},
              "fields": [F("code", "户号"), F("town_id", "镇街", "select", options="towns")]}
    return _render("家庭户与户主", intro="到户资金发放至户主的社保卡；户主死亡或迁出后，该户的发放待登记新户主。",
                   tables=[table], forms=forms, search=search, error=error, import_errors=import_errors,
                   values=values, status=status)


@bp.get("/people/households")
@page("people.read")
def people_households(actor):
    return _households_page(actor)


@bp.post("/people/households")
@page("household.manage")
def people_household_create(actor):
    form = request.form
    values = {"code": form.get("code"), "town_id": form_int(form.get("town_id")),
              "village_id": form_int(form.get("village_id")), "address": form.get("address"),
              "members": _lines(form.get("members"), ("id_number", "name", "relation"))}
    return _post(actor, lambda: households.create_household(actor, values)[0],
                 done=lambda h: f"已建户：户号{h.code}", then=url_for("console.people_households"),
                 again=_households_page)


def _household_page(actor, household_id, *, error=None, import_errors=None, values=None, status=200):
    h = households.get_household(actor, household_id)
    members = households.members_of(h)
    history = households.history(actor, household_id)
    people = _people([m.resident_id for m in history])
    tables = [
        {"id": "members-table", "caption": f"户号{h.code}的现有成员", "headers": ["姓名", "身份证号", "与户主关系"],
         "rows": [[m.name, m.id_masked, m.relation_to_head] for m in members]},
        {"id": "history-table", "caption": "成员变动历史", "headers": ["成员", "关系", "起", "止", "原因"],
         "rows": [[_who(people.get(m.resident_id)), m.relation, m.since, m.until or "",
                   m.start_reason + (f" → {m.end_reason}" if m.end_reason else "")] for m in history]},
    ]
    forms = []
    if permissions.can(actor, "household.manage"):
        def act(name):
            return url_for(f"console.people_household_{name}", household_id=household_id)
        forms = [
            {"key": "add", "title": "成员迁入", "action": act("add"), "button": "迁入",
             "fields": [F("id_number", "身份证号", required=True), F("name", "姓名", hint="尚未登记的居民必填"),
                        F("relation", "与户主关系", required=True), F("since", "迁入日期", "date")]},
            {"key": "remove", "title": "成员迁出", "action": act("remove"), "button": "迁出",
             "fields": [F("member", "身份证号", required=True), F("on", "迁出日期", "date"), F("reason", "原因")]},
            {"key": "head", "title": "变更户主", "action": act("head"), "button": "变更",
             "fields": [F("new_head", "新户主身份证号", required=True),
                        F("former_head_relation", "原户主的新关系", hint="原户主仍在户内时必填"),
                        F("on", "变更日期", "date"), F("reason", "原因")]},
            {"key": "split", "title": "分户", "action": act("split"), "button": "分户",
             "fields": [F("code", "新户号", required=True), F("address", "地址"),
                        F("members", "分出的成员（每行一人：身份证号,在新户中与户主关系；一人为“户主”）", "textarea",
                          required=True)]},
        ]
    head = _people([h.head_id]).get(h.head_id)
    return _render(f"家庭户 {h.code}", intro=f"户主：{_who(head) if head else '待登记户主（到户资金暂缓发放）'}；地址：{h.address or '—'}",
                   tables=tables, forms=forms, error=error, import_errors=import_errors, values=values, status=status)


@bp.get("/people/households/<int:household_id>")
@page("people.read")
def people_household(actor, household_id):
    return _household_page(actor, household_id)


def _household_post(actor, household_id, action, done):
    return _post(actor, action, done=done, then=url_for("console.people_household", household_id=household_id),
                 again=lambda a, **kw: _household_page(a, household_id, **kw))


@bp.post("/people/households/<int:household_id>/add")
@page("household.manage")
def people_household_add(actor, household_id):
    values = _form_values()
    return _household_post(actor, household_id, lambda: households.add_member(actor, household_id, values),
                           "成员已迁入")


@bp.post("/people/households/<int:household_id>/remove")
@page("household.manage")
def people_household_remove(actor, household_id):
    values = _form_values()
    return _household_post(actor, household_id, lambda: households.remove_member(actor, household_id, values),
                           "成员已迁出")


@bp.post("/people/households/<int:household_id>/head")
@page("household.manage")
def people_household_head(actor, household_id):
    values = _form_values()
    return _household_post(actor, household_id, lambda: households.change_head(actor, household_id, values),
                           "户主已变更")


@bp.post("/people/households/<int:household_id>/split")
@page("household.manage")
def people_household_split(actor, household_id):
    values = {**_form_values(), "members": _lines(request.form.get("members"), ("member", "relation"))}
    return _post(actor, lambda: households.split_household(actor, household_id, values)[0],
                 done=lambda h: f"已分户：新户号{h.code}",
                 then=url_for("console.people_household", household_id=household_id),
                 again=lambda a, **kw: _household_page(a, household_id, **kw))


# ---------------------------------------------------------------- protected groups
def _groups_page(actor, *, error=None, import_errors=None, values=None, status=200):
    category = request.args.get("category") or None
    category = category if category in groups.RECORDED else None
    page_no = _page_no()
    rows, total = groups.list_groups(actor, category=category, page=page_no, per_page=PAGE_SIZE)
    people = _people([r.resident_id for r in rows])
    depts = _names(Department, [r.department_id for r in rows])
    can_manage = permissions.can(actor, "group.manage")
    table = {"id": "groups-table", "caption": "特殊群体认定", "headers": ["居民", "类别", "认定部门", "认定文号", "起", "止",
                                                                     "状态", "撤销"],
             "rows": [[_who(people.get(r.resident_id)), CATEGORIES.get(r.category), depts.get(r.department_id),
                       r.certificate_no, r.since, r.until or "长期",
                       f"已撤销：{r.revoke_reason}" if r.revoked_at else "有效",
                       {"action": url_for("console.people_group_revoke", record_id=r.id), "label": "撤销",
                        "id": f"revoke-{r.id}"} if can_manage and not r.revoked_at else ""] for r in rows],
             "pager": _pager("console.people_groups", total, page_no, category=category or "")}
    forms = []
    if can_manage:
        dept_field = [] if actor.role == "dept_operator" else [F("department_id", "认定部门", "select", required=True,
                                                                options="departments")]
        forms = [
            {"key": "record", "title": "登记认定", "action": url_for("console.people_group_record"), "button": "登记",
             "hint": "低保、特困由民政局登记，残疾人由残联登记，脱贫户由农业农村局登记；未成年人由出生日期确定，无需登记。",
             "fields": [F("id_number", "身份证号", required=True), F("name", "姓名"),
                        F("category", "类别", "select", required=True, options="groups"),
                        F("certificate_no", "认定文号或证件编号", required=True), F("since", "起始日期", "date", required=True),
                        F("until", "截止日期", "date"), *dept_field]},
            _import_form(actor, kinds.GROUPS),
        ]
    search = {"action": url_for("console.people_groups"), "current": {"category": category},
              "fields": [F("category", "类别", "select", options="groups")]}
    return _render("特殊群体", tables=[table], forms=forms, search=search, error=error, import_errors=import_errors,
                   values=values, status=status)


@bp.get("/people/groups")
@page("people.read")
def people_groups(actor):
    return _groups_page(actor)


@bp.post("/people/groups")
@page("group.manage")
def people_group_record(actor):
    values = {**_form_values(), "department_id": form_int(request.form.get("department_id"))}
    return _post(actor, lambda: groups.record_group(actor, values), done="认定已登记",
                 then=url_for("console.people_groups"), again=_groups_page)


@bp.post("/people/groups/<int:record_id>/revoke")
@page("group.manage")
def people_group_revoke(actor, record_id):
    values = _form_values()
    return _post(actor, lambda: groups.revoke_group(actor, record_id, values), done="认定已撤销",
                 then=url_for("console.people_groups"), again=_groups_page)


# ---------------------------------------------------------------- proxies
def _proxies_page(actor, *, error=None, import_errors=None, values=None, status=200):
    page_no = _page_no()
    rows, total = proxies.list_appointments(actor, page=page_no, per_page=PAGE_SIZE)
    people = _people([a.resident_id for a in rows] + [a.proxy_resident_id for a in rows])
    can_manage = permissions.can(actor, "proxy.manage")
    table = {"id": "proxies-table", "caption": "代管代持", "headers": ["被代管人", "代管人", "依据群体", "法律依据", "指定机关",
                                                                 "有效期", "收款账户", "状态", "撤销"],
             "rows": [[_who(people.get(a.resident_id)), _who(people.get(a.proxy_resident_id)),
                       CATEGORIES.get(a.category), a.legal_basis, a.appointed_by,
                       f"{a.valid_from} 至 {a.valid_until or '长期'}",
                       mask_last4(a.account_last4) or "代管人本人社保卡",
                       f"已撤销：{a.revoke_reason}" if a.revoked_at else "有效",
                       {"action": url_for("console.people_proxy_revoke", appointment_id=a.id), "label": "撤销",
                        "id": f"revoke-{a.id}"} if can_manage and not a.revoked_at else ""] for a in rows],
             "pager": _pager("console.people_proxies", total, page_no)}
    forms = []
    if can_manage:
        forms = [
            {"key": "appoint", "title": "登记代管代持", "action": url_for("console.people_proxy_appoint"), "button": "登记",
             "hint": "仅限认定有效的低保户、特困供养人员、残疾人、脱贫户或未成年人；每人只能有一项有效指定。",
             "fields": [F("ward_id_number", "被代管人身份证号", required=True), F("ward_name", "被代管人姓名"),
                        F("proxy_id_number", "代管人身份证号", required=True),
                        F("proxy_name", "代管人姓名", hint="代管人尚未登记时必填"),
                        F("category", "依据群体", "select", options="all_groups"),
                        F("legal_basis", "法律依据（文书编号）", required=True), F("appointed_by", "指定机关", required=True),
                        F("valid_from", "起始日期", "date"), F("valid_until", "截止日期", "date"),
                        F("account", "收款账号", hint="不填则发放至代管人本人社保卡"), F("bank", "开户银行")]},
            _import_form(actor, kinds.PROXIES),
        ]
    return _render("代管代持", tables=[table], forms=forms, error=error, import_errors=import_errors, values=values,
                   status=status)


@bp.get("/people/proxies")
@page("people.read")
def people_proxies(actor):
    return _proxies_page(actor)


@bp.post("/people/proxies")
@page("proxy.manage")
def people_proxy_appoint(actor):
    values = _form_values()
    return _post(actor, lambda: proxies.appoint(actor, values), done="代管代持已登记",
                 then=url_for("console.people_proxies"), again=_proxies_page)


@bp.post("/people/proxies/<int:appointment_id>/revoke")
@page("proxy.manage")
def people_proxy_revoke(actor, appointment_id):
    values = _form_values()
    return _post(actor, lambda: proxies.revoke(actor, appointment_id, values), done="代管代持已撤销",
                 then=url_for("console.people_proxies"), again=_proxies_page)


# ---------------------------------------------------------------- residents and deaths
def _residents_page(actor, *, error=None, import_errors=None, values=None, status=200):
    name = (request.args.get("name") or "").strip() or None
    town_id = form_int(request.args.get("town_id"))
    page_no = _page_no()
    rows, total = residents.list_residents(actor, name=name, town_id=town_id, page=page_no, per_page=PAGE_SIZE)
    towns = _names(Town, [r.town_id for r in rows])
    table = {"id": "residents-table", "caption": "居民", "headers": ["姓名", "身份证号", "镇街", "与户主关系", "死亡日期"],
             "rows": [[r.name, r.id_masked, towns.get(r.town_id), r.relation_to_head, r.deceased_on or ""]
                      for r in rows],
             "pager": _pager("console.people_residents", total, page_no, name=name or "", town_id=town_id or "")}
    forms = []
    if permissions.can(actor, "resident.register"):
        forms.append({"key": "register", "title": "登记居民（尚未在社保卡库中的）",
                      "action": url_for("console.people_resident_register"), "button": "登记",
                      "fields": [F("name", "姓名", required=True), F("id_number", "身份证号", required=True),
                                 F("town_id", "镇街", "select", required=True, options="towns"),
                                 F("village_id", "村（社区）", "select", options="villages"), F("mobile", "手机号")]})
    if permissions.can(actor, "death.record") and (actor.role != "dept_operator"
                                                     or access.department_code(actor) in access.DEATH_RECORDERS):
        forms += [
            {"key": "death", "title": "登记死亡", "action": url_for("console.people_death_record"), "button": "登记",
             "hint": "死者名下的发放暂缓；户主死亡则该户待登记新户主；相关代管代持终止。",
             "fields": [F("id_number", "身份证号", required=True), F("name", "姓名"),
                        F("died_on", "死亡日期", "date", required=True),
                        F("source", "来源", "select", required=True, options="death_sources"),
                        F("document", "文书编号", required=True)]},
            _import_form(actor, kinds.DEATHS),
        ]
    search = {"action": url_for("console.people_residents"), "current": {"name": name, "town_id": town_id},
              "fields": [F("name", "姓名"), F("town_id", "镇街", "select", options="towns")]}
    return _render("居民与死亡登记", tables=[table], forms=forms, search=search, error=error,
                   import_errors=import_errors, values=values, status=status)


@bp.get("/people/residents")
@page("people.read")
def people_residents(actor):
    return _residents_page(actor)


@bp.post("/people/residents")
@page("resident.register")
def people_resident_register(actor):
    values = {**_form_values(), "town_id": form_int(request.form.get("town_id")),
              "village_id": form_int(request.form.get("village_id"))}
    return _post(actor, lambda: residents.register_resident(actor, values), done=lambda r: f"已登记居民{r.name}",
                 then=url_for("console.people_residents"), again=_residents_page)


@bp.post("/people/deaths")
@page("death.record")
def people_death_record(actor):
    values = _form_values()
    return _post(actor, lambda: residents.record_death(actor, values),
                 done=lambda r: "死亡已登记" + ("，该户待登记新户主" if r.headless_household_id else ""),
                 then=url_for("console.people_residents"), again=_residents_page)


# ---------------------------------------------------------------- towns and villages
def _places_page(actor, *, error=None, import_errors=None, values=None, status=200):
    town_id = form_int(request.args.get("town_id"))
    towns = db.session.execute(sa.select(Town).order_by(Town.code)).scalars().all()
    tables = [{"id": "towns-table", "caption": f"镇街（{len(towns)}个）", "headers": ["统计用区划代码", "名称"],
               "rows": [[t.code, {"link": url_for("console.places", town_id=t.id), "text": t.name}] for t in towns]}]
    if town_id:
        villages = db.session.execute(sa.select(Village).where(Village.town_id == town_id)
                                      .order_by(Village.code)).scalars().all()
        tables.append({"id": "villages-table", "caption": "村（社区）", "headers": ["统计用区划代码", "城乡分类代码", "名称"],
                       "rows": [[v.code, v.urban_rural_code or "", v.name] for v in villages]})
    forms = [
        _import_form(actor, kinds.VILLAGES),
        {"key": "town", "title": "新增镇街", "action": url_for("console.places_town"), "button": "新增",
         "fields": [F("code", "统计用区划代码（12位，以000结尾）", required=True), F("name", "名称", required=True)]},
        {"key": "village", "title": "新增村（社区）", "action": url_for("console.places_village"), "button": "新增",
         "fields": [F("code", "统计用区划代码（12位）", required=True), F("name", "名称", required=True),
                    F("urban_rural_code", "城乡分类代码")]},
        {"key": "rename", "title": "村（社区）更名", "action": url_for("console.places_rename"), "button": "更名",
         "fields": [F("village_id", "村（社区）", "select", required=True, options="villages"),
                    F("name", "新名称", required=True)]},
        {"key": "rename-town", "title": "镇街更名", "action": url_for("console.places_rename_town"), "button": "更名",
         "fields": [F("town_id", "镇街", "select", required=True, options="towns"), F("name", "新名称", required=True)]},
    ]
    return _render("镇街与村（社区）", intro="按统计用区划代码表导入镇街和村（社区），也可逐个新增、更名。", tables=tables, forms=forms, error=error, import_errors=import_errors,
                   values=values, status=status)


@bp.get("/places")
@page("place.manage")
def places(actor):
    return _places_page(actor)


@bp.post("/places/towns")
@page("place.manage")
def places_town(actor):
    values = _form_values()
    return _post(actor, lambda: place_service.save_town(actor, values), done=lambda t: f"已新增镇街{t.name}",
                 then=url_for("console.places"), again=_places_page)


@bp.post("/places/villages")
@page("place.manage")
def places_village(actor):
    values = _form_values()
    return _post(actor, lambda: place_service.save_village(actor, values), done=lambda v: f"已新增{v.name}",
                 then=url_for("console.places"), again=_places_page)


@bp.post("/places/villages/rename")
@page("place.manage")
def places_rename(actor):
    village_id = form_int(request.form.get("village_id"))
    name = request.form.get("name")
    return _post(actor, lambda: place_service.save_village(actor, {"name": name}, village_id=village_id or 0),
                 done=lambda v: f"已更名为{v.name}", then=url_for("console.places"), again=_places_page)


@bp.post("/places/towns/rename")
@page("place.manage")
def places_rename_town(actor):
    town_id = form_int(request.form.get("town_id"))
    name = request.form.get("name")
    return _post(actor, lambda: place_service.save_town(actor, {"name": name}, town_id=town_id or 0),
                 done=lambda t: f"已更名为{t.name}", then=url_for("console.places"), again=_places_page)


# The page that shows each kind's upload form: (URL its import and template hang below, that page's endpoint,
# how that page renders with a refusal). A kind missing here fails at start-up, not on a click.
IMPORT_PAGES = {
    "villages": ("/places", "places", _places_page),
    "households": ("/people/households", "people_households", _households_page),
    "groups": ("/people/groups", "people_groups", _groups_page),
    "proxies": ("/people/proxies", "people_proxies", _proxies_page),
    "deaths": ("/people/deaths", "people_residents", _residents_page),
}
for _kind in kinds.KINDS:
    _add_import_routes(_kind)
