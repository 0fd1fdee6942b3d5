"""Attachment 2 (补贴项目目录) as a spreadsheet: the exact columns of the pilot plan, plus code and standard.

Columns, in order (export; the import accepts them in any order):
    序号 | 项目资金大类名称 | 序号 | 项目资金小类名称 | 发放周期 | 代发银行 | 是否通过"一本通"发放 | 发放层级 |
    统一编码 | 标准（元） | 是否到户 | 对象类别 | 享受条件 | 政策依据
The first 序号 numbers the 大类, the second the 小类 inside it. On import a blank
大类 cell repeats the one above (departments merge that cell over its 小类 rows);
统一编码 is ignored (the bureau assigns it); the last five columns are optional.
"""
from __future__ import annotations

from onecard.errors import Invalid
from onecard.extensions import db
from onecard.people.models import CATEGORIES
from onecard.projects.models import CYCLES, LEVELS, Project
from onecard.reference import service as reference
from onecard.reference.models import Bank
from onecard.sheets import SheetErrors, header_key, read_rows, write_xlsx
from onecard.validation import format_fen

PASSBOOK = '是否通过"一本通"发放'
EXPORT_HEADERS = ["序号", "项目资金大类名称", "序号", "项目资金小类名称", "发放周期", "代发银行", PASSBOOK, "发放层级",
                  "统一编码", "标准（元）", "是否到户", "对象类别", "享受条件", "政策依据"]
REQUIRED = ["项目资金大类名称", "项目资金小类名称", "发放周期", "代发银行", PASSBOOK, "发放层级"]

# column -> service field
COLUMNS = {
    "项目资金大类名称": "category", "项目资金小类名称": "name", "发放周期": "cycle", "代发银行": "bank",
    PASSBOOK: "via_passbook", "发放层级": "level", "标准（元）": "standard", "是否到户": "per_household",
    "对象类别": "required_category", "享受条件": "eligibility", "政策依据": "policy_basis",
}
FIELD_COLUMN = {v: k for k, v in COLUMNS.items()}
ALIASES = {"标准": "标准（元）", "标准(元)": "标准（元）", "发放标准": "标准（元）", "发放标准（元）": "标准（元）",
           "是否通过一本通发放": PASSBOOK, "发放层级（范围）": "发放层级"}


def parse_attachment2(data, filename: str, department_id: int) -> list[tuple[int, dict]]:
    """Every row of an attachment-2 file as clean project fields; raises sheet_invalid listing every bad cell."""
    from onecard.projects.service import clean_fields

    bank_index = reference.bank_name_index()
    existing = {(c, n) for c, n in db.session.query(Project.category, Project.name)
                .filter(Project.department_id == department_id)}
    errors = SheetErrors()
    good: list[tuple[int, dict]] = []
    seen: dict[tuple[str, str], int] = {}
    keys = {header_key(c): c for c in COLUMNS}
    last_category = None
    for row_no, cells in read_rows(data, filename, required=REQUIRED, header_aliases=ALIASES):
        values = {keys[k]: v for k, v in cells.items() if k in keys}
        if values.get("项目资金大类名称") is None:
            values["项目资金大类名称"] = last_category      # a merged 大类 cell
        else:
            last_category = values["项目资金大类名称"]
        row_ok = True
        fields: dict = {}
        for column, field in COLUMNS.items():
            try:
                fields.update(clean_fields({field: values.get(column)}, partial=True, bank_index=bank_index))
            except Invalid as exc:
                errors.add(row_no, column, values.get(column), exc.message)
                row_ok = False
        if "category" in fields and "name" in fields:   # duplicates are checked even on otherwise bad rows
            key = (fields["category"], fields["name"])
            if key in seen:
                errors.add(row_no, "项目资金小类名称", fields["name"], f"与第{seen[key]}行重复（同一大类下小类名称相同）")
                row_ok = False
            elif key in existing:
                errors.add(row_no, "项目资金小类名称", fields["name"], "本部门已登记过该项目，请勿重复导入")
                row_ok = False
            seen.setdefault(key, row_no)
        if row_ok:
            good.append((row_no, fields))
    if not good and not errors:
        errors.add(None, None, None, "文件中没有项目，请在表头下方逐行填写")
    errors.raise_if_any()
    return good


def attachment2_xlsx(projects: list[Project]) -> bytes:
    """Projects as attachment 2, grouped by 大类 in catalogue order."""
    banks = {b.id: b.name for b in db.session.query(Bank)}
    category_no: dict[tuple[int, str], int] = {}
    item_no: dict[tuple[int, str], int] = {}

    groups: dict[tuple[int, str], list[Project]] = {}
    for p in projects:   # keep catalogue order, but each 大类's 小类 together
        groups.setdefault((p.department_id, p.category), []).append(p)

    def rows():
        for p in (p for group in groups.values() for p in group):
            key = (p.department_id, p.category)
            if key not in category_no:
                category_no[key] = len(category_no) + 1
            item_no[key] = item_no.get(key, 0) + 1
            yield [category_no[key], p.category, item_no[key], p.name, CYCLES[p.cycle], banks.get(p.bank_id, ""),
                   "是" if p.via_passbook else "否", LEVELS[p.level], p.code or "",
                   format_fen(p.standard_fen) if p.standard_fen else "", "是" if p.per_household else "否",
                   CATEGORIES.get(p.required_category, ""), p.eligibility or "", p.policy_basis or ""]

    return write_xlsx(EXPORT_HEADERS, rows(), sheet_name="附件2 补贴项目目录",
                      widths={"项目资金大类名称": 24, "项目资金小类名称": 30, PASSBOOK: 22, "享受条件": 40})


def template_xlsx() -> bytes:
    """A blank attachment 2 with the headers only."""
    return write_xlsx(EXPORT_HEADERS, [], sheet_name="附件2 补贴项目目录")
