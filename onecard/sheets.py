"""Reading and writing the spreadsheets departments and the province exchange with the bureau.

Generic helpers, no domain rules:

* ``read_rows(data, filename, *, required=(), header_aliases=None)`` streams
  ``(row_no, {header: value})`` from an xlsx/xls/ods (python-calamine) or a CSV
  (UTF-8 with or without BOM, else GB18030 — what Excel in China writes).
  ``row_no`` is the row number a person sees in Excel (the header row included).
  The header row is the first of the first 10 rows that holds every ``required``
  header, so a title line above the headers is fine. Headers are compared with
  whitespace removed and Chinese quotes/brackets folded (“一本通” == "一本通",
  （社区） == (社区)); a repeated header gets a suffix (序号, 序号_2). Blank cells are
  ``None``; completely blank rows are skipped. Cell values keep their type (xlsx
  numbers stay numbers so the validators can refuse precision-lost IDs).
* ``write_xlsx(headers, rows, *, sheet_name)`` returns xlsx bytes; every text
  cell is written explicitly as a string after ``safe_cell`` so nothing becomes a
  live formula. ``write_csv`` does the same for CSV (UTF-8 with BOM).
* ``safe_cell(text)`` neutralises a leading ``= + - @`` (and tab/CR) with a quote.
* ``SheetErrors`` collects per-row problems and raises the one error shape every
  upload uses: ``{"error": {"code": "sheet_invalid", "message", "field": "file",
  "details": {"errors": [{"row", "column", "value" (masked), "reason"}]}}}``.
* ``error_report_xlsx(headers, rows, errors)`` writes the uploaded rows back with
  an added 错误说明 column, so a department fixes its own file.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time

import xlsxwriter

from onecard.errors import Invalid
from onecard.privacy import mask_text

ERROR_COLUMN = "错误说明"
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
_HEADER_SCAN_ROWS = 10
_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_FOLD = str.maketrans({"“": '"', "”": '"', "＂": '"', "（": "(", "）": ")", "　": ""})


def header_key(text: object) -> str:
    """The form headers are compared in: no whitespace, ASCII quotes and brackets."""
    return "".join(str(text or "").split()).translate(_FOLD)


def safe_cell(text: object) -> object:
    """A value safe to put in a spreadsheet cell: text starting like a formula gets a leading quote."""
    if isinstance(text, str) and text.startswith(_DANGEROUS_START):
        return "'" + text
    return text


# ---------------------------------------------------------------- errors
class SheetErrors:
    """Collects every bad row/column of an upload; ``raise_if_any`` raises the shared error shape."""

    def __init__(self, limit: int = 10_000):
        self.items: list[dict] = []
        self.count = 0
        self.limit = limit

    def add(self, row: int | None, column: str | None, value: object, reason: str) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append({"row": row, "column": column, "value": mask_value(value), "reason": reason})

    def __bool__(self) -> bool:
        return self.count > 0

    def details(self) -> dict:
        return {"errors": self.items, "error_count": self.count, "truncated": self.count > len(self.items)}

    def raise_if_any(self, message: str | None = None) -> None:
        if self.count:
            rows = len({e["row"] for e in self.items})
            raise Invalid(message or f"文件有{self.count}处错误（涉及{rows}行），未导入任何数据。请按错误说明修改后重新上传",
                          code="sheet_invalid", field="file", details=self.details())


def mask_value(value: object) -> object:
    """A cell value as it may appear in an error report: IDs, accounts and phones masked, 50 chars at most."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return mask_text(repr(value)) if abs(value) >= 10_000_000 else value
    return mask_text(str(value))[:50]


def sheet_invalid(message: str, *, column: str | None = None, row: int | None = None) -> Invalid:
    """A whole-file problem (unreadable, missing columns) in the same shape as row errors."""
    errors = SheetErrors()
    errors.add(row, column, None, message)
    return Invalid(message, code="sheet_invalid", field="file", details=errors.details())


# ---------------------------------------------------------------- reading
def _as_stream(data) -> io.BufferedIOBase:
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data))
    return data


def read_rows(data, filename: str, *, required: Iterable[str] = (),
              header_aliases: dict[str, str] | None = None) -> Iterator[tuple[int, dict]]:
    """Stream ``(row_no, {header: value})``; raises ``sheet_invalid`` for an unreadable file or missing headers.

    ``header_aliases`` maps other spellings (folded with ``header_key``) to the canonical header.
    """
    stream = _as_stream(data)
    suffix = os.path.splitext((filename or "").lower())[1]
    if suffix in EXCEL_SUFFIXES:
        raw_rows = _excel_rows(stream)
    elif suffix in (".csv", ".txt"):
        raw_rows = _csv_rows(stream)
    else:
        raise sheet_invalid("文件类型不支持，请上传 xlsx 或 csv 文件")
    return _with_headers(raw_rows, list(required), header_aliases or {})


def _excel_rows(stream) -> Iterator[list]:
    from python_calamine import CalamineError, CalamineWorkbook
    try:
        workbook = CalamineWorkbook.from_filelike(stream)
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except (CalamineError, ValueError, OSError, TypeError) as exc:
        raise sheet_invalid("无法读取表格文件，请确认是 Excel 保存的 xlsx 文件且未加密") from exc
    return rows


def _sniff_encoding(head: bytes) -> str:
    try:
        # A multi-byte character may be cut at the end of the sample: decode incrementally.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def _csv_rows(stream) -> Iterator[list]:
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)
    encoding = _sniff_encoding(buffered.peek(1 << 20)[: 1 << 20])
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    try:
        yield from csv.reader(text)
    except UnicodeDecodeError as exc:
        raise sheet_invalid("CSV 文件编码无法识别，请另存为“CSV UTF-8”或 GBK 编码后重新上传") from exc
    except csv.Error as exc:
        raise sheet_invalid("CSV 文件格式不正确（引号不成对等），请用 Excel 重新另存为 CSV") from exc


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _with_headers(raw_rows: Iterator[list], required: list[str], aliases: dict[str, str]) -> Iterator[tuple[int, dict]]:
    wanted = {header_key(h) for h in required}
    aliases = {header_key(k): header_key(v) for k, v in aliases.items()}
    headers: list[str] | None = None
    first_seen: list | None = None
    row_no = 0
    for row_no, raw in enumerate(raw_rows, start=1):
        if headers is None:
            if first_seen is None and not all(_blank(v) for v in raw):
                first_seen = raw
            keys = [aliases.get(header_key(v), header_key(v)) for v in raw]
            if wanted and not wanted <= {header_key(k) for k in keys}:
                if row_no >= _HEADER_SCAN_ROWS:
                    break
                continue
            if not wanted and _blank_row(raw):
                continue
            headers = _unique(keys)
            continue
        if _blank_row(raw):
            continue
        values = {}
        for i, h in enumerate(headers):
            if not h:
                continue
            v = raw[i] if i < len(raw) else None
            if isinstance(v, str):
                v = v.strip() or None
            values[h] = v
        yield row_no, values
    if headers is None:
        if row_no == 0:
            raise sheet_invalid("文件是空的，请使用模板填写后上传")
        present = {header_key(v) for v in (first_seen or [])}
        missing = [h for h in required if header_key(h) not in present]
        raise sheet_invalid("缺少必填列：" + "、".join(missing) + "。请使用模板的表头，不要改动列名",
                            column="、".join(missing))


def _blank_row(raw: list) -> bool:
    return all(_blank(v) for v in raw)


def _unique(keys: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for k in keys:
        if not k:
            out.append("")
            continue
        seen[k] = seen.get(k, 0) + 1
        out.append(k if seen[k] == 1 else f"{k}_{seen[k]}")
    return out


# ---------------------------------------------------------------- writing
def write_xlsx(headers: list[str], rows: Iterable[Iterable], *, sheet_name: str = "Sheet1",
               widths: dict[str, int] | None = None) -> bytes:
    """An xlsx with a bold header row; text written as text (never formulas), dates as dates."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    sheet = workbook.add_worksheet(sheet_name[:31])
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    time_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for c, h in enumerate(headers):
        sheet.write_string(0, c, str(safe_cell(h)), bold)
        sheet.set_column(c, c, (widths or {}).get(h, max(10, min(40, len(str(h)) * 2 + 4))), text)
    r = 0
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                sheet.write_string(r, c, "是" if value else "否")
            elif isinstance(value, int | float):
                sheet.write_number(r, c, value)
            elif isinstance(value, datetime):
                sheet.write_datetime(r, c, value, time_format)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime.combine(value, time()), date_format)
            else:
                sheet.write_string(r, c, str(safe_cell(str(value))))
    sheet.freeze_panes(1, 0)
    if r:
        sheet.autofilter(0, 0, r, max(len(headers) - 1, 0))
    workbook.close()
    return out.getvalue()


def write_csv(headers: list[str], rows: Iterable[Iterable], *, encoding: str = "utf-8-sig") -> bytes:
    """CSV for Excel (UTF-8 with BOM by default), with formula-looking text neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in headers])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(v if isinstance(v, str) else str(v)) for v in row])
    return out.getvalue().encode(encoding)


def error_report_xlsx(headers: list[str], rows: Iterable[tuple[int, dict]], errors: list[dict]) -> bytes:
    """The rows that had errors, as uploaded, with a 错误说明 column listing each column's reason."""
    by_row: dict[int | None, list[str]] = {}
    for e in errors:
        by_row.setdefault(e.get("row"), []).append(f"{e['column']}：{e['reason']}" if e.get("column") else e["reason"])

    def lines():
        for row_no, values in rows:
            if row_no in by_row:
                yield [row_no, *[values.get(h) for h in headers], "；".join(by_row[row_no])]
        for msg in by_row.get(None, []):
            yield [None, *[None] * len(headers), msg]

    return write_xlsx(["行号", *headers, ERROR_COLUMN], lines(), sheet_name="错误报告")

