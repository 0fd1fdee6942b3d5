"""Reading and writing the spreadsheets departments and the province exchange with the bureau.

Generic helpers, no domain rules:

* ``read_rows(data, filename, *, required=(), header_aliases=None)`` streams
  ``(row_no, {header: value})`` from an xlsx/xls/ods (python-calamine) or a CSV
  (UTF-8 with or without BOM, else GB18030 — what Excel in China writes).
  ``row_no`` is the row number a person sees in Excel (the header row included).
  The header row is found by ``find_header``: the first of the first 10 rows that holds
  every ``required`` header, so title, 填报单位 and date rows above the headers are fine.
  Headers are compared in ``header_key``'s form: whitespace and line breaks removed,
  Chinese quotes/brackets folded (“一本通” == "一本通", （社区） == (社区)) and the
  forms' （必填）/（非必填） notes dropped; a repeated header gets a suffix (序号, 序号_2).
  Blank cells are ``None``; completely blank rows are skipped. Cell values keep their
  type (xlsx numbers stay numbers so the validators can refuse precision-lost IDs).
* ``find_header(rows, required, key=...)`` is that header search, for any import that reads rows itself;
  ``is_footnote(values)`` tells a form's 注：/说明/填表人 line below the data from a data row.
* ``write_workbook([Sheet(...), ...])`` is the one xlsx writer (several sheets, column widths, text
  columns, header style, ``constant_memory`` for big ledgers); ``write_xlsx(headers, rows, ...)`` is its
  one-sheet form. Every text cell is written explicitly as a string after ``safe_cell`` so nothing
  becomes a live formula. ``write_csv`` does the same for CSV (UTF-8 with BOM).
* ``safe_cell(text)`` neutralises a leading ``= + - @`` (and tab/CR) with a quote.
* ``SheetErrors`` collects per-row problems and raises the one error shape every
  upload uses: ``{"error": {"code": "sheet_invalid", "message", "field": "file",
  "details": {"errors": [{"row", "column", "value" (masked), "reason"}]}}}``.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

import xlsxwriter

from onecard.errors import Invalid, TooLarge
from onecard.privacy import mask_account, mask_id, mask_mobile, mask_text

ERROR_COLUMN = "错误说明"
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
_HEADER_SCAN_ROWS = 10
_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_FOLD = str.maketrans({"“": '"', "”": '"', "＂": '"', "（": "(", "）": ")", "　": ""})


_NOTES_RE = re.compile(r"\((?:非必填|必填|选填|可不填|可选)\)")


def header_key(text: object) -> str:
    """The form headers are compared in: no whitespace or line breaks, ASCII quotes and brackets, and without the
    forms' （必填）/（非必填） notes ("姓名\n（必填）" == "姓名"; "村（社区）" keeps its own brackets)."""
    return _NOTES_RE.sub("", "".join(str(text or "").split()).translate(_FOLD))


def find_header(numbered_rows: Iterator[tuple[int, tuple]], required: Collection[str], *,
                key: Callable[[object], str | None] = header_key, scan: int = _HEADER_SCAN_ROWS,
                missing: Callable[[list[str]], Exception] | None = None,
                empty: Callable[[], Exception] | None = None) -> tuple[int, tuple]:
    """The header row of a sheet as departments fill it in: ``(row_no, cells)`` of the first of the first ``scan``
    non-blank rows whose cells, each through ``key``, include every ``required`` key (all already in ``key``'s
    form). Rows above it (a title, merged across the columns; 填报单位/填报日期) are passed over; the iterator is
    left at the first row after the header. With no ``required`` the first row is the header.

    Raises ``empty()`` for a sheet with no rows, and ``missing(keys)`` with the required keys absent from the
    closest candidate row (default: the shared ``sheet_invalid`` shape).
    """
    wanted = list(required)
    best: set = set()
    scanned = 0
    for row_no, raw in numbered_rows:
        scanned += 1
        keys = {key(v) for v in raw if v is not None}
        found = {k for k in wanted if k in keys}
        if len(found) == len(wanted):
            return row_no, raw
        if len(found) > len(best):
            best = found
        if scanned >= scan:
            break
    if scanned == 0:
        raise (empty or (lambda: sheet_invalid("文件是空的，请使用模板填写后上传")))()
    absent = [k for k in wanted if k not in best]
    if missing is not None:
        raise missing(absent)
    raise sheet_invalid("缺少必填列：" + "、".join(absent) + "。请使用模板的表头，不要改动列名", column="、".join(absent))


_FOOTNOTE_STARTS = ("注", "备注", "说明", "填表说明", "填报说明", "填表人", "填报人", "制表人", "审核人", "负责人",
                    "经办人", "联系人", "联系电话", "填报单位", "单位负责人", "单位(盖章)", "单位（盖章）", "盖章")


def is_footnote(values: Sequence) -> bool:
    """A form's note or signature line below the data (注：…, 填表人：…, 单位（盖章）): every filled cell is text
    starting with such a word (a merged note fills only its first cell). Never a row that names a person."""
    filled = [v for v in values if v is not None]
    return bool(filled) and all(isinstance(v, str) and v.strip().startswith(_FOOTNOTE_STARTS) for v in filled)


def safe_cell(text: object) -> object:
    """A value safe to put in a spreadsheet cell: text starting like a formula gets a leading quote."""
    if isinstance(text, str) and text.startswith(_DANGEROUS_START):
        return "'" + text
    return text


# ---------------------------------------------------------------- errors
class SheetErrors:
    """Collects every bad row/column of an upload; ``raise_if_any`` raises the shared error shape."""

    # Only so many problems are kept and reported (the rest are counted): a file of a million bad rows must
    # not become a million-entry answer or report (issue #16).
    def __init__(self, limit: int = 1_000):
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
            shown = f"，仅列出前{len(self.items)}处" if self.count > len(self.items) else ""
            raise Invalid(message or f"文件有{self.count}处错误（涉及{rows}行{shown}），未导入任何数据。"
                                     "请按错误说明修改后重新上传",
                          code="sheet_invalid", field="file", details=self.details())


def mask_value(value: object, kind: str | None = None) -> object:
    """A cell value as it may appear in an error report, 50 chars at most.

    ``kind`` ("id", "mobile", "account") masks the column's value whatever it looks like (a wrong
    ID is still someone's ID); without it, anything that looks like an ID, account or phone is masked.
    """
    if value is None:
        return None
    if kind is None and isinstance(value, bool | int | float):
        return mask_text(repr(value)) if abs(value) >= 10_000_000 else value
    text = (repr(value) if isinstance(value, float) else str(value)).strip()
    if kind == "id":
        return mask_id(text) if len(text) > 10 else "*" * len(text)
    if kind == "mobile":
        return mask_mobile(text)
    if kind == "account":
        return mask_account(text)
    return mask_text(text)[:50]


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
    """Stream ``(row_no, {header: value})``; raises for an unreadable file or missing headers.

    ``header_aliases`` maps other spellings (folded with ``header_key``) to the canonical header.
    """
    stream = _as_stream(data)
    head = stream.read(8)
    stream.seek(0)
    return _with_headers(iter_rows(stream, detect_format(filename, head)), list(required), header_aliases or {})


def detect_format(file_name: str, head: bytes) -> str:
    """"xlsx" (anything python-calamine reads) or "csv", from the file's first bytes and, failing that, its name."""
    if head[:4] == b"PK\x03\x04" or head[:4] == b"\xd0\xcf\x11\xe0":   # zip (xlsx, ods) or OLE (xls)
        return "xlsx"
    lower = (file_name or "").lower()
    if lower.endswith(EXCEL_SUFFIXES):
        raise sheet_invalid("文件不是有效的Excel表格，请用Excel另存为xlsx后重新上传")
    if not lower.endswith((".csv", ".txt")) and "." in lower:
        raise sheet_invalid("文件类型不支持，请上传 xlsx 或 csv 文件")
    return "csv"


def iter_rows(stream, fmt: str) -> Iterator[tuple[int, tuple]]:
    """(row number as the spreadsheet shows it, raw values): every non-blank row, the header included.

    Streams: no whole-sheet lists of Python objects. Cells keep their spreadsheet type (calamine gives
    float for a number cell) so validators can recognise an ID that Excel already rounded.
    """
    stream.seek(0)
    if fmt == "xlsx":
        yield from _iter_xlsx(stream)
    else:
        yield from _iter_csv(stream)


def _blank_values(row) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


# What an uploaded workbook may unpack to, checked from its zip directory before anything is parsed (issue #16: a
# 400 KB xlsx holding one 400 MB shared string took 1.6 GB; 1.7 MB of identical rows unpacked to millions). A
# real list of a million rows of distinct people compresses about 10:1 and keeps its shared strings under 200 MB.
MAX_UNPACKED_BYTES = 3 * 1024**3          # all members together
MAX_SHARED_STRINGS_BYTES = 256 * 1024**2  # calamine holds every shared string in memory
MAX_COMPRESSION_RATIO = 100               # for members above RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 16 * 1024**2
EXCEL_MAX_ROWS = 1_048_576
_DIMENSION_RE = re.compile(rb'<dimension\s+ref="[A-Z]+\d+:[A-Z]+(\d+)"')
_BOMB_MESSAGE = "表格文件解压后过大或压缩比异常，已拒绝读取。请删除多余的行、列和内容后重新上传"


def check_workbook_size(stream, *, max_rows: int | None = None) -> None:
    """Refuse an xlsx/ods whose declared sizes (zip directory) or row count (the first sheet's dimension) are beyond
    what the platform reads, before any of it is decompressed. An OLE .xls has no zip directory and passes."""
    stream.seek(0)
    if stream.read(4) != b"PK\x03\x04":
        stream.seek(0)
        return
    stream.seek(0)
    try:
        book = zipfile.ZipFile(stream)
        infos = book.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise sheet_invalid("无法读取该表格文件，请确认文件未损坏、未加密") from exc
    total = 0
    for info in infos:
        total += info.file_size
        too_dense = (info.file_size > RATIO_FLOOR_BYTES
                     and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1))
        if too_dense or (info.filename.endswith("sharedStrings.xml") and info.file_size > MAX_SHARED_STRINGS_BYTES):
            raise sheet_invalid(_BOMB_MESSAGE)
    if total > MAX_UNPACKED_BYTES:
        raise sheet_invalid(_BOMB_MESSAGE)
    limit = min(max_rows or EXCEL_MAX_ROWS, EXCEL_MAX_ROWS)
    sheets_ = sorted((i for i in infos if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")),
                     key=lambda i: (len(i.filename), i.filename))
    if sheets_:
        try:
            with book.open(sheets_[0]) as fh:
                head = fh.read(4096)     # decompresses only the start, where Excel writes the dimension
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise sheet_invalid("无法读取该表格文件，请确认文件未损坏、未加密") from exc
        m = _DIMENSION_RE.search(head)
        if m and int(m.group(1)) > limit + 1:   # + the header row
            raise TooLarge(f"文件超过{limit}行的上限，请拆分为多个文件分别上传", code="too_many_rows", field="file")
    stream.seek(0)


def _max_rows() -> int | None:
    from flask import current_app, has_app_context
    return current_app.config.get("UPLOAD_MAX_ROWS") if has_app_context() else None


def _iter_xlsx(stream) -> Iterator[tuple[int, tuple]]:
    from python_calamine import CalamineError, CalamineWorkbook
    check_workbook_size(stream, max_rows=_max_rows())
    try:
        book = CalamineWorkbook.from_filelike(stream)
        sheet = book.get_sheet_by_index(0)
        rows = sheet.iter_rows()
        first = (sheet.start or (0, 0))[0] + 1   # the used range may start below row 1
    except CalamineError as exc:   # zip, xml, password... errors: the uploader's file, not our bug
        raise sheet_invalid("无法读取该表格文件，请确认文件未损坏、未加密") from exc
    for i, row in enumerate(rows):
        # calamine gives "" for empty cells: make them None like CSV's blanks.
        values = tuple(None if isinstance(v, str) and not v.strip() else v for v in row)
        if not _blank_values(values):
            yield first + i, values


def _text_stream(stream) -> io.TextIOBase:
    """UTF-8 (with or without BOM) if the WHOLE file is valid UTF-8, else GB18030 (a superset of GBK).

    The whole file is checked, not a sample: a GBK file whose first megabyte is ASCII would otherwise
    be read as UTF-8 and fail half-way.
    """
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


def _iter_csv(stream) -> Iterator[tuple[int, tuple]]:
    text = _text_stream(stream)
    try:
        reader = csv.reader(text)
        for row in reader:
            values = tuple(v if v.strip() else None for v in row)
            if values and not _blank_values(values):
                yield reader.line_num, values
    except (UnicodeDecodeError, csv.Error) as exc:
        raise sheet_invalid("CSV文件无法解析，请用Excel另存为“CSV UTF-8”或xlsx格式后重新上传") from exc
    finally:
        text.detach()   # leave the caller's stream open for a second pass (the error report)


def _with_headers(numbered_rows: Iterator[tuple[int, tuple]], required: list[str],
                  aliases: dict[str, str]) -> Iterator[tuple[int, dict]]:
    aliases = {header_key(k): header_key(v) for k, v in aliases.items()}

    def key(v: object) -> str:
        return aliases.get(header_key(v), header_key(v))

    wanted = {header_key(h): h for h in required}
    _, header = find_header(numbered_rows, list(wanted), key=key,
                            missing=lambda absent: sheet_invalid(
                                "缺少必填列：" + "、".join(wanted[k] for k in absent) + "。请使用模板的表头，不要改动列名",
                                column="、".join(wanted[k] for k in absent)))
    headers = _unique([key(v) for v in header])
    for row_no, raw in numbered_rows:
        values = {}
        for i, h in enumerate(headers):
            if not h:
                continue
            v = raw[i] if i < len(raw) else None
            if isinstance(v, str):
                v = v.strip() or None
            values[h] = v
        yield row_no, values


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
HEADER_BANNER = {"bold": True, "bg_color": "#DDEBF7", "border": 1}   # templates and department exports
HEADER_BOLD = {"bold": True}                                            # ledgers and reports
ERROR_TEXT = {"font_color": "#C00000"}                                  # an error report's 错误说明 column
# Reports (ledgers, statistics, disclosures) keep Excel's own cell types under a plain bold header.
REPORT_STYLE = {"header_format": HEADER_BOLD, "text_columns": False}


@dataclass
class Sheet:
    """One worksheet of a workbook ``write_workbook`` writes.

    ``headers`` None writes no header row (a notes sheet). ``widths`` by header text or column position
    (default: from the header's length). ``text_columns`` are formatted as text so Excel keeps typed IDs,
    phones and cards as text (True: every column). ``column_formats`` style a column's data cells.
    """
    name: str
    headers: Sequence[str] | None
    rows: Iterable[Iterable] = ()
    widths: dict[str | int, int] | None = None
    text_columns: bool | Collection[int] = True
    header_format: dict = field(default_factory=lambda: HEADER_BANNER)
    column_formats: dict[int, dict] = field(default_factory=dict)
    freeze_header: bool = True


def write_xlsx(headers: Sequence[str], rows: Iterable[Iterable], *, sheet_name: str = "Sheet1",
               constant_memory: bool = False, **options) -> bytes:
    """One sheet with a header row; see ``Sheet`` for the options and ``write_workbook`` for the cells."""
    return write_workbook([Sheet(sheet_name, headers, rows, **options)], constant_memory=constant_memory)


def write_workbook(sheets: Iterable[Sheet], *, constant_memory: bool = False) -> bytes:
    """An xlsx of ``sheets``: the platform's one xlsx writer, formula-safe.

    Text is written as text after ``safe_cell`` (never a formula, number or link), numbers as numbers,
    booleans as 是/否, dates and datetimes as dates; blank values leave the cell empty.
    ``constant_memory`` flushes each row as it is written (big ledgers): memory stays flat.
    """
    out = io.BytesIO()
    # xlsxwriter ignores constant_memory in in_memory mode: a flat-memory ledger spools rows to a temp file.
    workbook = xlsxwriter.Workbook(out, {"in_memory": not constant_memory, "constant_memory": constant_memory,
                                         "strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False})
    text = workbook.add_format({"num_format": "@"})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    time_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for spec in sheets:
        sheet = workbook.add_worksheet(spec.name[:31])
        header_format = workbook.add_format(spec.header_format)
        headers = list(spec.headers or ())
        widths = spec.widths or {}
        cell_formats = {c: workbook.add_format(f) for c, f in spec.column_formats.items()}
        for c, h in enumerate(headers):
            width = widths.get(h, widths.get(c, max(10, min(40, len(str(h)) * 2 + 4))))
            is_text = spec.text_columns is True or (spec.text_columns is not False and c in spec.text_columns)
            sheet.set_column(c, c, width, text if is_text else None)
        if spec.headers is None:
            for c, width in widths.items():
                sheet.set_column(c, c, width)
        for c, h in enumerate(headers):
            sheet.write_string(0, c, str(safe_cell(h)), header_format)
        first = 0 if spec.headers is None else 1
        r = first - 1
        for r, row in enumerate(spec.rows, start=first):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                style = cell_formats.get(c)
                if isinstance(value, bool):
                    sheet.write_string(r, c, "是" if value else "否", style)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value, style)
                elif isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, time_format)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, datetime.combine(value, time()), date_format)
                else:
                    sheet.write_string(r, c, str(safe_cell(str(value))), style)
        if headers and spec.freeze_header:
            sheet.freeze_panes(1, 0)
            if r >= 1:
                sheet.autofilter(0, 0, r, len(headers) - 1)
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
