"""Writing exports with xlsxwriter: text stays text, and nothing a cell holds can become a formula."""
from __future__ import annotations

import io

import xlsxwriter

FORMULA_STARTS = ("=", "+", "-", "@")


def safe_text(value) -> str:
    """A text cell that Excel will never evaluate (CSV/xlsx injection): leading = + - @ get a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def workbook(sheets: list[tuple[str, list[str], list[list]]]) -> bytes:
    """sheets: (name, headers, rows). Numbers are written as numbers, everything else as escaped strings."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    for name, headers, rows in sheets:
        sheet = book.add_worksheet(name[:31])
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header, bold)
            sheet.set_column(col, col, max(10, min(30, len(header) * 2 + 2)))
        for r, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if isinstance(value, bool) or value is None:
                    sheet.write_string(r, col, "" if value is None else ("是" if value else "否"))
                elif isinstance(value, int | float):
                    sheet.write_number(r, col, value)
                else:
                    sheet.write_string(r, col, safe_text(value))
    book.close()
    return buffer.getvalue()
