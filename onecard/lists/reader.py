"""Attachment 3's columns and header mapping, nothing else: the file itself is read by onecard.sheets (one
reader for every upload: xlsx through python-calamine, CSV in UTF-8 or GB18030, streamed row by row as
tuples), and headers are compared in its one folded form (``sheets.header_key``)."""
from __future__ import annotations

import re

from onecard import sheets
from onecard.errors import Invalid

# Attachment 3's columns in template order: (key, header as printed in the template, required).
COLUMNS: list[tuple[str, str, bool]] = [
    ("name", "姓名（必填）", True),
    ("id_number", "身份证号（必填）", True),
    ("ethnicity", "民族（必填）", True),
    ("mobile", "手机号（必填）", True),
    ("town", "镇街（必填）", True),
    ("village", "村（社区）（非必填）", False),
    ("bank", "开户行（必填）", True),
    ("account", "银行卡号", False),
    ("amount", "补贴额", False),
    ("expected_date", "预计发放时间", False),
]
LABELS = {key: re.sub(r"（(非)?必填）$", "", header) for key, header, _ in COLUMNS}
REQUIRED_KEYS = [key for key, _, required in COLUMNS if required]

_HEADER_ALIASES = {
    "姓名": "name", "身份证号": "id_number", "身份证号码": "id_number", "公民身份号码": "id_number",
    "民族": "ethnicity", "手机号": "mobile", "手机号码": "mobile", "联系电话": "mobile",
    "镇街": "town", "镇(街道)": "town", "镇街道": "town", "乡镇": "town",
    "村(社区)": "village", "村": "village", "村社区": "village",
    "开户行": "bank", "开户银行": "bank", "银行卡号": "account", "银行账号": "account",
    "补贴额": "amount", "补贴金额": "amount", "金额": "amount", "预计发放时间": "expected_date",
}


def normalize_header(text: object) -> str | None:
    """The column key for a header cell (line breaks, （必填）/(必填) notes and bracket widths as ``sheets.header_key``)."""
    if text is None:
        return None
    return _HEADER_ALIASES.get(sheets.header_key(text))


def find_header(rows) -> tuple[int, tuple]:
    """Attachment 3's header row wherever it stands in the first rows (``sheets.find_header``): the form's title
    and 填报单位/date rows above it are passed over."""
    return sheets.find_header(rows, REQUIRED_KEYS, key=normalize_header, missing=_missing_columns,
                              empty=lambda: Invalid("文件中没有内容，请按模板填写后上传", code="file_empty", field="file"))


def _missing_columns(keys: list[str]) -> Invalid:
    return Invalid("缺少必填列：" + "、".join(LABELS[k] for k in keys) + "。请下载模板，按模板的表头填写",
                   code="header_missing", field="file")


def map_header(header: list[object]) -> dict[str, int]:
    """Column key -> position; refuses a sheet that lacks a required column or repeats one."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = normalize_header(cell)
        if key is None:
            continue   # extra columns (e.g. the 错误说明 of our own report) are ignored
        if key in positions:
            raise Invalid(f"表头“{LABELS[key]}”出现了两次，请删除重复的列", code="header_duplicate", field="file")
        positions[key] = i
    missing = [k for k in REQUIRED_KEYS if k not in positions]
    if missing:
        raise _missing_columns(missing)
    return positions

