"""onecard.sheets: the one xlsx writer (every export path goes through it) stays formula-safe."""
from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from onecard.errors import Invalid
from onecard.lists.importer import RowError, build_report_xlsx, template_xlsx
from onecard.sheets import REPORT_STYLE, Sheet, SheetErrors, read_rows, write_workbook, write_xlsx


def _cells(data: bytes, sheet: int | str = 0):
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
    return ws


@pytest.mark.parametrize("constant_memory", [False, True])
@pytest.mark.parametrize("style", [{}, REPORT_STYLE])
def test_formula_text_comes_back_as_text(constant_memory, style):
    data = write_xlsx(["姓名", "金额"], [["=1+1", 5], ["+86", 1.5], ["@x", None]], constant_memory=constant_memory,
                      **style)
    ws = _cells(data)
    assert [c.value for c in ws["A"]] == ["姓名", "'=1+1", "'+86", "'@x"]
    assert ws["B2"].value == 5 and ws["B3"].value == 1.5
    assert all(cell.data_type != "f" for row in ws.iter_rows() for cell in row)


def test_several_sheets_dates_booleans_and_a_notes_sheet():
    data = write_workbook([Sheet("一", ["日期", "是否"], [[date(2026, 11, 5), True]]),
                           Sheet("说明", None, [["=看这里"]], widths={0: 90})])
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    assert book.sheet_names == ["一", "说明"]
    first = book.get_sheet_by_index(0).to_python()
    assert first[1][0] == date(2026, 11, 5) and first[1][1] == "是"
    assert book.get_sheet_by_index(1).to_python() == [["'=看这里"]]


def test_text_columns_keep_long_numbers_as_typed_text():
    ws = _cells(write_xlsx(["身份证号", "金额"], [], text_columns={0}))
    assert ws.column_dimensions["A"].number_format == "@"
    assert ws.column_dimensions["B"].number_format != "@"


def test_list_error_report_is_formula_safe_and_keeps_only_the_rows_to_fix_masked():
    rows = iter([(2, ("=1+1", "37083119500301123X", None)), (3, ("乙", 12.5, None))])
    data = build_report_xlsx(rows, ("姓名", "身份证号", "民族"), [RowError(2, "姓名", None, "姓名不对")])
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert sheet[0] == ["姓名", "身份证号", "民族", "错误说明"]
    assert sheet[1] == ["'=1+1", "370831***********X", "", "第2行：姓名：姓名不对"]
    assert len(sheet) == 2


def test_list_template_has_its_columns_and_instructions():
    book = CalamineWorkbook.from_filelike(io.BytesIO(template_xlsx()))
    assert book.sheet_names == ["发放名单", "填写说明"]
    assert book.get_sheet_by_index(0).to_python()[0][0] == "姓名（必填）"
    assert len(book.get_sheet_by_index(1).to_python()) == 5


def test_find_header_passes_over_title_and_unit_rows_and_normalises_header_text():
    from onecard.sheets import find_header, header_key
    rows = iter([(1, ("发放基础信息表", None)), (2, ("填报单位：县民政局", "填报日期：2026年10月8日")),
                 (3, ("姓名\n（必填）", "村（社区）\n(非必填)")), (4, ("张三", "东庄村"))])
    row_no, cells = find_header(rows, [header_key("姓名"), header_key("村（社区）")])
    assert row_no == 3 and cells[0] == "姓名\n（必填）"
    assert next(rows) == (4, ("张三", "东庄村"))
    assert header_key(" 身份证号\r\n（必填） ") == "身份证号" and header_key("村（社区）") == "村(社区)"


def test_find_header_gives_up_after_ten_rows_naming_the_missing_headers():
    import pytest

    from onecard.errors import Invalid
    from onecard.sheets import find_header
    rows = iter([(i, (f"标题{i}",)) for i in range(1, 12)] + [(12, ("姓名", "身份证号"))])
    with pytest.raises(Invalid) as exc:
        find_header(rows, ["姓名", "身份证号"])
    assert "姓名" in exc.value.message and "身份证号" in exc.value.message


def test_a_footnote_or_signature_row_is_told_from_a_data_row():
    from onecard.sheets import is_footnote
    assert is_footnote(("注：身份证号请用文本格式", None, None))
    assert is_footnote(("填表人：王小明", None, "审核人：李大山"))
    assert not is_footnote(("注小明", "370831195003011234", "汉族"))
    assert not is_footnote((None, None))


# ---- spreadsheet bombs (issue #16 item 10) ---------------------------------------------------------------------------

def _xlsx(sheet_xml: bytes, shared_strings: bytes | None = None) -> bytes:
    """A minimal xlsx written member by member, as a crafted upload would be."""
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main"><sheets><sheet name="S" sheetId="1"/></sheets></workbook>')
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        if shared_strings is not None:
            z.writestr("xl/sharedStrings.xml", shared_strings)
    return out.getvalue()


def test_a_workbook_holding_one_huge_shared_string_is_refused_before_it_is_unpacked():
    import time
    huge = b'<sst xmlns="x" count="1" uniqueCount="1"><si><t>' + b"A" * (300 * 1024 * 1024) + b"</t></si></sst>"
    data = _xlsx(b'<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>', huge)
    del huge
    assert len(data) < 2 * 1024 * 1024
    started = time.monotonic()
    with pytest.raises(Invalid) as e:
        list(read_rows(data, "bomb.xlsx"))
    assert e.value.code == "sheet_invalid" and e.value.field == "file" and "过大" in e.value.message
    assert time.monotonic() - started < 2


def test_a_workbook_declaring_more_rows_than_excel_holds_is_refused_from_its_dimension():
    from onecard.errors import TooLarge
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(1, 4))
    data = _xlsx(b'<worksheet><dimension ref="A1:J2000000"/><sheetData>' + rows + b"</sheetData></worksheet>")
    with pytest.raises(TooLarge) as e:
        list(read_rows(data, "many.xlsx"))
    assert e.value.code == "too_many_rows"


def test_errors_stop_being_collected_after_the_limit_and_the_message_says_so():
    errors = SheetErrors()
    for row in range(5000):
        errors.add(row, "身份证号", "37083119500301123X", "重复")
    with pytest.raises(Invalid) as e:
        errors.raise_if_any()
    details = e.value.details
    assert len(details["errors"]) == 1000 and details["error_count"] == 5000 and details["truncated"] is True
    assert "仅列出前1000处" in e.value.message
    assert all("37083119500301123X" not in str(item["value"]) for item in details["errors"])
