"""Streaming readers for uploaded attachment-3 files: xlsx (python-calamine) and CSV (UTF-8 or GB18030).

Each reader yields the header row first and then one tuple of raw cell values per
row, without ever building the whole sheet as Python objects, so memory stays flat
as the file grows. Cells keep their spreadsheet type (calamine gives float for a
number cell) so that the validators can recognise an ID number that Excel already
rounded ("precision lost") instead of blaming a typo.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import BinaryIO

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

_SUFFIX_RE = re.compile(r"[(]\s*(?:非)?必填\s*[)]$")
_HEADER_ALIASES = {
    "姓名": "name", "身份证号": "id_number", "身份证号码": "id_number", "公民身份号码": "id_number",
    "民族": "ethnicity", "手机号": "mobile", "手机号码": "mobile", "联系电话": "mobile",
    "镇街": "town", "镇(街道)": "town", "镇街道": "town", "乡镇": "town",
    "村(社区)": "village", "村": "village", "村社区": "village",
    "开户行": "bank", "开户银行": "bank", "银行卡号": "account", "银行账号": "account",
    "补贴额": "amount", "补贴金额": "amount", "金额": "amount", "预计发放时间": "expected_date",
}


def normalize_header(text: object) -> str | None:
    """The column key for a header cell, accepting （必填）/(必填) suffixes and either bracket width."""
    if text is None:
        return None
    s = "".join(str(text).split()).replace("（", "(").replace("）", ")")
    s = _SUFFIX_RE.sub("", s)
    return _HEADER_ALIASES.get(s)


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
    missing = [LABELS[k] for k in REQUIRED_KEYS if k not in positions]
    if missing:
        raise Invalid("缺少必填列：" + "、".join(missing) + "。请下载模板，按模板的表头填写",
                      code="header_missing", field="file")
    return positions


def detect_format(file_name: str, head: bytes) -> str:
    """"xlsx" or "csv", from the file's first bytes (a zip) and, failing that, its name."""
    if head[:4] == b"PK\x03\x04":
        return "xlsx"
    lower = (file_name or "").lower()
    if lower.endswith((".xlsx", ".xlsm")):
        raise Invalid("文件不是有效的xlsx表格，请用Excel另存为xlsx后重新上传", code="file_unreadable", field="file")
    if lower.endswith(".xls"):
        raise Invalid("不支持旧版.xls格式，请在Excel中另存为.xlsx或CSV后上传", code="file_format", field="file")
    return "csv"


def iter_rows(stream: BinaryIO, fmt: str) -> Iterator[tuple[int, tuple]]:
    """(row number as the spreadsheet shows it, raw values): the header first, then every non-blank row."""
    stream.seek(0)
    if fmt == "xlsx":
        yield from _iter_xlsx(stream)
    else:
        yield from _iter_csv(stream)


def _blank(row) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


def _iter_xlsx(stream: BinaryIO) -> Iterator[tuple[int, tuple]]:
    from python_calamine import CalamineWorkbook
    try:
        book = CalamineWorkbook.from_filelike(stream)
        sheet = book.get_sheet_by_index(0)
        rows = sheet.iter_rows()
        first = (sheet.start or (0, 0))[0] + 1   # the used range may start below row 1
    except Exception as exc:  # noqa: BLE001 - any parse failure is the uploader's file, not our bug
        raise Invalid("无法读取该xlsx文件，请确认文件未损坏、未加密", code="file_unreadable", field="file") from exc
    for i, row in enumerate(rows):
        # calamine gives "" for empty cells: make them None like CSV's blanks.
        values = tuple(None if isinstance(v, str) and not v.strip() else v for v in row)
        if not _blank(values):
            yield first + i, values


def _text_stream(stream: BinaryIO) -> io.TextIOBase:
    """Decode as UTF-8 (with or without BOM) if the whole file is valid UTF-8, else GB18030 (a superset of GBK)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    stream.seek(0)
    try:
        while chunk := stream.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        encoding = "gb18030"
    stream.seek(0)
    return io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")


def _iter_csv(stream: BinaryIO) -> Iterator[tuple[int, tuple]]:
    text = _text_stream(stream)
    try:
        reader = csv.reader(text)
        for row in reader:
            values = tuple(v if v.strip() else None for v in row)
            if values and not _blank(values):
                yield reader.line_num, values
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Invalid("CSV文件无法解析，请用Excel另存为“CSV UTF-8”或xlsx格式后重新上传",
                      code="file_unreadable", field="file") from exc
    finally:
        text.detach()   # leave the caller's stream open for a second pass (the error report)
