"""Project catalogue (补贴项目目录, attachment 2): register, edit, code, retire, list, import and export.

Who may do what:
* a department operator registers and edits its own department's projects; the
  bureau's administrator may do so for any department;
* only the bureau's administrator gives the unified code (统一编码, scheme in
  ``onecard.projects.coding``: department 2 digits + 大类 2 digits + 小类 3 digits)
  and retires projects; a code never changes and is never reused;
* every staff role reads the catalogue; department operators and reviewers see only
  their own department's projects (another department's project answers 404).
Every change is written to the audit trail.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard import audit
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound
from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.people.models import CATEGORIES
from onecard.projects import coding
from onecard.projects.models import CYCLES, LEVELS, PROJECT_STATES, Project
from onecard.reference import service as reference
from onecard.reference.models import Bank
from onecard.staff import permissions
from onecard.timeutil import utcnow
from onecard.validation import format_fen, normalize_text, parse_amount_fen

DEPARTMENT_ROLES = frozenset({"dept_operator", "dept_reviewer"})

PROJECT_MACHINE = StateMachine(
    name="project",
    state_attr="status",
    # A project is retired only once coded (the schema keeps a code on every retired project);
    # a registration made in error is deleted instead (delete_project).
    transitions={"registered": frozenset({"coded"}), "coded": frozenset({"retired"}),
                 "retired": frozenset()},
    labels=PROJECT_STATES,
    timestamps={"coded": "coded_at", "retired": "retired_at"},
)

# Other ways departments write the cycle and the level in their spreadsheets.
_CYCLE_WORDS = {**{v: k for k, v in CYCLES.items()}, **{k: k for k in CYCLES}, "每月": "monthly", "月": "monthly",
                "按季度": "quarterly", "每季度": "quarterly", "季度": "quarterly", "每季": "quarterly",
                "半年": "half_yearly", "每半年": "half_yearly", "按年度": "yearly", "每年": "yearly",
                "年度": "yearly", "一次性发放": "one_off", "一次": "one_off"}
_LEVEL_WORDS = {**{v: k for k, v in LEVELS.items()}, **{k: k for k in LEVELS}, "县": "county", "县级发放": "county",
                "镇": "town", "乡镇级": "town", "镇街级": "town", "镇（街道）级": "town", "村": "village",
                "村（社区）级": "village", "村居级": "village"}
_YES = {"是", "Y", "YES", "TRUE", "1", "√"}
_NO = {"否", "N", "NO", "FALSE", "0", "×"}
_CATEGORY_WORDS = {**{v: k for k, v in CATEGORIES.items()}, **{k: k for k in CATEGORIES}}

EDITABLE = ("category", "name", "cycle", "bank_id", "via_passbook", "level", "standard_fen", "per_household",
            "required_category", "eligibility", "policy_basis")

permissions.register({
    "project.read": permissions.ALL_STAFF,
    "project.register": {"admin", "dept_operator"},
    "project.edit": {"admin", "dept_operator"},
    "project.code": {"admin"},
    "project.retire": {"admin"},
    "project.import": {"admin", "dept_operator"},
})


# ---------------------------------------------------------------- field parsing (API and attachment 2)
def _word(value: object) -> str:
    return "".join(str(value).split()) if value is not None else ""


def parse_cycle(value: object, *, field: str = "cycle") -> str:
    """发放周期: 按月/按季/按半年/按年/一次性 (or the codes monthly, quarterly, half_yearly, yearly, one_off)."""
    text = _word(value)
    if not text:
        raise Invalid("发放周期不能为空，可填：按月、按季、按半年、按年、一次性", code="cycle_required", field=field)
    if text in _CYCLE_WORDS or text.lower() in _CYCLE_WORDS:
        return _CYCLE_WORDS.get(text) or _CYCLE_WORDS[text.lower()]
    raise Invalid("发放周期无法识别，可填：按月、按季、按半年、按年、一次性", code="cycle_unknown", field=field)


def parse_level(value: object, *, field: str = "level") -> str:
    """发放层级: 县级/镇级/村级 (or county, town, village)."""
    text = _word(value)
    if not text:
        raise Invalid("发放层级不能为空，可填：县级、镇级、村级", code="level_required", field=field)
    if text in _LEVEL_WORDS or text.lower() in _LEVEL_WORDS:
        return _LEVEL_WORDS.get(text) or _LEVEL_WORDS[text.lower()]
    raise Invalid("发放层级无法识别，可填：县级、镇级、村级", code="level_unknown", field=field)


def parse_yes_no(value: object, *, field: str, label: str, default: bool | None = None) -> bool:
    """是/否 (also true/false, Y/N, 1/0); blank gives ``default`` or is refused when there is none."""
    if isinstance(value, bool):
        return value
    text = _word(value).upper()
    if not text:
        if default is not None:
            return default
        raise Invalid(f"{label}不能为空，请填写“是”或“否”", code="yes_no_required", field=field)
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise Invalid(f"{label}请填写“是”或“否”", code="yes_no_format", field=field)


def parse_required_category(value: object, *, field: str = "required_category") -> str | None:
    """The special category a recipient must hold (低保户, 特困供养人员...), or None."""
    text = _word(value)
    if not text:
        return None
    if text in _CATEGORY_WORDS:
        return _CATEGORY_WORDS[text]
    raise Invalid("对象类别无法识别，可填：" + "、".join(CATEGORIES.values()), code="category_unknown", field=field)


def parse_bank(value: object, *, field: str = "bank", index: dict | None = None) -> int | None:
    """代发银行 by name (工行, 中国工商银行, 工商银行泗水县支行...); blank means decided per batch."""
    text = _word(value)
    if not text:
        return None
    return reference.resolve_bank(text, index, field=field)


def clean_fields(values: dict, *, partial: bool = False, bank_index: dict | None = None) -> dict:
    """Normalise attachment-2 fields into model attributes, raising Invalid for the first bad one.

    Accepts ``bank`` (a name as written) or ``bank_id``; ``standard`` in yuan (or ``standard_fen``).
    With ``partial`` only the keys present are cleaned (editing).
    """
    out: dict = {}

    def has(key):
        return key in values or not partial

    if has("category"):
        out["category"] = normalize_text(values.get("category"), field="category", max_len=60, label="项目资金大类名称")
    if has("name"):
        out["name"] = normalize_text(values.get("name"), field="name", max_len=100, label="项目资金小类名称")
    if has("cycle"):
        out["cycle"] = parse_cycle(values.get("cycle"))
    if "bank_id" in values:
        bank_id = values["bank_id"]
        if bank_id is not None and db.session.get(Bank, bank_id) is None:
            raise Invalid("代发银行不存在", code="bank_unknown", field="bank_id")
        out["bank_id"] = bank_id
    elif has("bank"):
        out["bank_id"] = parse_bank(values.get("bank"), index=bank_index)
    if has("via_passbook"):
        out["via_passbook"] = parse_yes_no(values.get("via_passbook"), field="via_passbook",
                                           label='是否通过"一本通"发放', default=False)
    if has("level"):
        out["level"] = parse_level(values.get("level"))
    if "standard_fen" in values:
        fen = values["standard_fen"]
        out["standard_fen"] = None if fen is None else parse_amount_fen(fen / 100, field="standard")
    elif has("standard"):
        raw = values.get("standard")
        out["standard_fen"] = None if raw is None or _word(raw) == "" else parse_amount_fen(raw, field="standard")
    if has("per_household"):
        out["per_household"] = parse_yes_no(values.get("per_household"), field="per_household", label="是否到户",
                                            default=False)
    if has("required_category"):
        out["required_category"] = parse_required_category(values.get("required_category"))
    if has("eligibility"):
        out["eligibility"] = normalize_text(values.get("eligibility"), field="eligibility", max_len=500,
                                            required=False, label="享受条件")
    if has("policy_basis"):
        out["policy_basis"] = normalize_text(values.get("policy_basis"), field="policy_basis", max_len=300,
                                             required=False, label="政策依据")
    return out


# ---------------------------------------------------------------- reading
def visible(actor: Actor):
    """WHERE clause: department roles see their own department's projects, everyone else the whole catalogue."""
    if actor.kind == "staff" and actor.role in DEPARTMENT_ROLES:
        return permissions.scope_filter(actor, Project)
    return sa.true()


def _load(actor: Actor, project_id: int, action: str, *, for_update: bool = False) -> Project:
    permissions.require(actor, action)
    stmt = sa.select(Project).where(Project.id == project_id)
    if for_update:
        stmt = stmt.with_for_update()
    project = db.session.execute(stmt).scalar_one_or_none()
    if project is None:
        raise NotFound("项目不存在", code="project_not_found")
    if actor.kind == "staff" and actor.role in DEPARTMENT_ROLES and project.department_id != actor.department_id:
        # Another department's catalogue is not this department's business: do not confirm it exists.
        raise NotFound("项目不存在", code="project_not_found")
    return project


def get_project(actor: Actor, project_id: int) -> Project:
    """One project, if the actor may see it."""
    return _load(actor, project_id, "project.read")


def list_projects(actor: Actor, *, department_id: int | None = None, status: str | None = None,
                  category: str | None = None) -> list[Project]:
    """The catalogue as the actor may see it, ordered by department and code."""
    permissions.require(actor, "project.read")
    stmt = sa.select(Project).where(visible(actor))
    if department_id is not None:
        stmt = stmt.where(Project.department_id == department_id)
    if status:
        if status not in PROJECT_STATES:
            raise Invalid("状态可选：registered、coded、retired", code="status_unknown", field="status")
        stmt = stmt.where(Project.status == status)
    if category:
        stmt = stmt.where(Project.category == category)
    stmt = stmt.order_by(Project.department_id, Project.code.is_(None), Project.code, Project.id)
    return db.session.execute(stmt).scalars().all()


def snapshot(p: Project) -> dict:
    """What the audit trail keeps of a project."""
    return {"code": p.code, "department_id": p.department_id, "category": p.category, "name": p.name,
            "cycle": p.cycle, "bank_id": p.bank_id, "via_passbook": p.via_passbook, "level": p.level,
            "standard": format_fen(p.standard_fen) if p.standard_fen else None, "per_household": p.per_household,
            "required_category": p.required_category, "eligibility": p.eligibility,
            "policy_basis": p.policy_basis, "status": p.status}


# ---------------------------------------------------------------- writing
def _duplicate(department_id: int, category: str, name: str, exclude_id: int | None = None) -> Project | None:
    stmt = sa.select(Project).where(Project.department_id == department_id, Project.category == category,
                                    Project.name == name)
    if exclude_id is not None:
        stmt = stmt.where(Project.id != exclude_id)
    return db.session.execute(stmt).scalar_one_or_none()


def _duplicate_error() -> Conflict:
    return Conflict("本部门已有同一大类下同名的项目（小类），请勿重复登记", code="project_duplicate", field="name")


def register_project(actor: Actor, values: dict) -> Project:
    """A department operator (own department) or the administrator (any) registers a project, status 待编码."""
    permissions.require(actor, "project.register")
    department_id = permissions.target_department(actor, values.get("department_id"), what="项目")
    fields = clean_fields(values)
    if _duplicate(department_id, fields["category"], fields["name"]):
        raise _duplicate_error()
    project = Project(department_id=department_id, status="registered", **fields)
    db.session.add(project)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()   # a concurrent registration of the same project won
        raise _duplicate_error() from None
    audit.record("project.registered", actor=actor, entity_type="project", entity_id=project.id,
                 after=snapshot(project))
    db.session.commit()
    return project


def update_project(actor: Actor, project_id: int, values: dict) -> Project:
    """Edit a registered or coded project (owner department or administrator); the code never changes."""
    if "code" in values:
        raise Invalid("统一编码由人社局赋予，不能修改", code="code_immutable", field="code")
    if "department_id" in values:
        raise Invalid("项目的主管部门不能修改；如登记错了部门，请停用后重新登记", code="department_immutable",
                      field="department_id")
    project = _load(actor, project_id, "project.edit", for_update=True)
    if project.status == "retired":
        raise Conflict("项目已停用，不能修改", code="project_retired", field="status")
    fields = clean_fields(values, partial=True)
    category = fields.get("category", project.category)
    name = fields.get("name", project.name)
    if (category, name) != (project.category, project.name) and _duplicate(project.department_id, category, name,
                                                                           project.id):
        raise _duplicate_error()
    before = snapshot(project)
    for key, value in fields.items():
        setattr(project, key, value)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate_error() from None
    after = snapshot(project)
    changed = {k: after[k] for k in after if after[k] != before[k]}
    if changed:
        audit.record("project.edited", actor=actor, entity_type="project", entity_id=project.id,
                     before={k: before[k] for k in changed}, after=changed)
    db.session.commit()
    return project


_CODE_ATTEMPTS = 8   # each concurrent coder in the department can lose the race once


def code_project(actor: Actor, project_id: int) -> Project:
    """The bureau gives a registered project its unified code (DD CC SSS, see onecard.projects.coding)."""
    for attempt in range(_CODE_ATTEMPTS):
        project = _load(actor, project_id, "project.code", for_update=True)
        if project.status != "registered":
            raise Conflict(f"项目当前为“{PROJECT_STATES[project.status]}”，只有待编码的项目可以赋码",
                           code="project_not_registered", field="status")
        try:
            code = coding.next_code(project)
        except coding.CodeSpaceExhausted:
            raise Conflict("该部门的编码已用尽，请联系系统管理员", code="code_space_exhausted") from None
        try:
            PROJECT_MACHINE.transition(project, "coded", actor, action="project.coded", extra_values={"code": code},
                                       audit_after={"code": code})
            db.session.commit()
            return project
        except IntegrityError:
            # Another project of the same department took this number at the same moment: compute again.
            db.session.rollback()
            if attempt == _CODE_ATTEMPTS - 1:
                raise Conflict("赋码冲突，请稍后重试", code="code_busy") from None
    raise AssertionError("unreachable")


def retire_project(actor: Actor, project_id: int, *, note: str | None = None) -> Project:
    """The bureau retires a project: it takes no new lists; its code stays reserved."""
    project = _load(actor, project_id, "project.retire", for_update=True)
    if project.status == "retired":
        raise Conflict("项目已停用", code="project_retired", field="status")
    if project.status == "registered":
        raise Conflict("项目尚未编码，无需停用；登记有误可直接删除", code="project_not_coded", field="status")
    PROJECT_MACHINE.transition(project, "retired", actor, action="project.retired", note=note)
    db.session.commit()
    return project


def delete_project(actor: Actor, project_id: int) -> None:
    """Delete a registration made in error: only while not yet coded and not used by any list."""
    project = _load(actor, project_id, "project.edit", for_update=True)
    if project.status != "registered":
        raise Conflict("已编码的项目不能删除，只能停用", code="project_coded", field="status")
    before = snapshot(project)
    db.session.delete(project)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("项目已有发放名单等记录，不能删除", code="project_in_use") from None
    audit.record("project.deleted", actor=actor, entity_type="project", entity_id=project_id, before=before)
    db.session.commit()


def import_projects(actor: Actor, data, filename: str, *, department_id: int | None = None) -> list[Project]:
    """Import attachment 2 for one department: every row is checked and nothing is stored unless all are good."""
    from onecard.projects import sheets
    permissions.require(actor, "project.import")
    department_id = permissions.target_department(actor, department_id, what="项目")
    rows = sheets.parse_attachment2(data, filename, department_id)
    now = utcnow()
    created = []
    for _row_no, fields in rows:
        project = Project(department_id=department_id, status="registered", created_at=now, **fields)
        db.session.add(project)
        created.append(project)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise _duplicate_error() from None
    for project in created:
        audit.record("project.registered", actor=actor, entity_type="project", entity_id=project.id,
                     after=snapshot(project), note=f"附件2导入：{filename}"[:500])
    db.session.commit()
    return created


def export_projects(actor: Actor, *, department_id: int | None = None) -> bytes:
    """Attachment 2 as xlsx, for the projects the actor may see."""
    from onecard.projects import sheets
    projects = list_projects(actor, department_id=department_id)
    return sheets.attachment2_xlsx(projects)
