"""Attachment 4 (分管负责人及联系人登记表) as a spreadsheet, for a department's whole registration at once.

The plan's form has 姓名 | 单位及职务 | 联系方式 | 备注; our export adds 序号, 部门 and 类型 and imports back.
Which person is the 分管负责人: the 类型 column when present; otherwise a 备注 that says so
("分管负责人", "联系人"); otherwise the form's order — the responsible leader is written first, the
contact people under them (the form's title names them in that order).
"""
from __future__ import annotations

from onecard.errors import Invalid
from onecard.sheets import SheetErrors, header_key, read_rows, write_xlsx

FORM_HEADERS = ["姓名", "单位及职务", "联系方式", "备注"]
TEMPLATE_HEADERS = ["序号", "类型", *FORM_HEADERS]
REQUIRED = ["姓名", "单位及职务", "联系方式"]
ALIASES = {"联系电话": "联系方式", "电话": "联系方式", "手机号码": "联系方式", "手机": "联系方式",
           "职务": "单位及职务", "单位职务": "单位及职务", "人员类型": "类型"}
COLUMNS = {"类型": "kind", "姓名": "name", "单位及职务": "position", "联系方式": "phone", "备注": "note"}
MAX_ROWS = 50     # a department registers a leader and a few contacts; more is a wrong file


def _cell(value: object) -> object:
    # Excel turns a typed-in mobile number into a number cell: 13905371234.0
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def _kind_from_note(note: object) -> str | None:
    text = "".join(str(note or "").split())
    if "负责人" in text or "分管领导" in text:
        return "leader"
    if "联系人" in text or "联络人" in text:
        return "contact"
    return None


def parse_attachment4(data, filename: str, *, department_name: str) -> list[tuple[int, dict]]:
    """Every row as clean contact fields; raises ``sheet_invalid`` listing every bad cell, storing nothing."""
    from onecard.contacts.service import clean_contact

    errors = SheetErrors()
    good: list[tuple[int, dict]] = []
    keys = {header_key(c): c for c in [*COLUMNS, "部门"]}
    seen: dict[tuple[str, str], int] = {}
    count = 0
    for row_no, cells in read_rows(data, filename, required=REQUIRED, header_aliases=ALIASES):
        count += 1
        if count > MAX_ROWS:
            errors.add(row_no, None, None, f"一个部门最多登记{MAX_ROWS}人，请检查是否上传了错误的文件")
            break
        values = {keys[k]: _cell(v) for k, v in cells.items() if k in keys}
        dept = values.pop("部门", None)
        if dept not in (None, "") and "".join(str(dept).split()) != department_name:
            errors.add(row_no, "部门", dept, f"本表只能登记{department_name}的联络人")
        if values.get("类型") in (None, ""):
            values["类型"] = _kind_from_note(values.get("备注")) or ("leader" if count == 1 else "contact")
        fields: dict = {}
        row_ok = True
        for column, field in COLUMNS.items():
            try:
                fields.update(clean_contact({field: values.get(column)}, partial=True))
            except Invalid as exc:
                errors.add(row_no, column, values.get(column), exc.message)
                row_ok = False
        if row_ok:
            key = (fields["name"], fields["phone"])
            if key in seen:
                errors.add(row_no, "姓名", fields["name"], f"与第{seen[key]}行重复")
                continue
            seen[key] = row_no
            good.append((row_no, fields))
    if not good and not errors:
        errors.add(None, None, None, "文件中没有联络人，请在表头下方逐行填写")
    if good and not errors and not any(f["kind"] == "leader" for _, f in good):
        errors.add(None, "类型", None, "请至少登记一位分管负责人")
    errors.raise_if_any()
    return good


def template_xlsx() -> bytes:
    """The blank form; 类型 may be left blank (then the first row is the 分管负责人)."""
    return write_xlsx(TEMPLATE_HEADERS, [], sheet_name="附件4 联络人")

