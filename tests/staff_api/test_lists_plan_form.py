"""Attachment 3 as departments send it: the plan's own form (title, 填报单位/date row, headers with line breaks and
（必填） notes, merged cells, a footnote below the data) is read, and an unknown village is a warning, not an error."""
from __future__ import annotations

import io

import openpyxl
import sqlalchemy as sa

from onecard.extensions import db
from onecard.lists.models import RecipientRow
from tests.factories import new_account, new_id_number, new_mobile
from tests.fixtures_lists import upload

API = "/api/staff/v1"
TITLE = "惠民惠农财政补贴社会保障卡“一卡通”发放基础信息表"
# The headers exactly as 附件3 of the plan prints them (a line break before each note).
PLAN_HEADERS = ["姓名\n（必填）", "身份证号\n（必填）", "民族\n（必填）", "手机号\n（必填）", "镇街\n（必填）",
                "村（社区）\n（非必填）", "开户行\n（必填）", "银行卡号", "补贴额", "预计发放时间"]


def plan_form(rows: list[list], *, footnote: bool = True, blank_before_footnote: bool = True) -> bytes:
    """A workbook shaped like the plan's form: row 1 the title merged across A:J, row 2 填报单位 (A:E) and
    填报日期 (F:J) merged, row 3 the headers, then the data, a blank row and a merged 注 row."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "附件3"
    sheet["A1"] = TITLE
    sheet.merge_cells("A1:J1")
    sheet["A2"] = "填报单位（盖章）：县民政局"
    sheet.merge_cells("A2:E2")
    sheet["F2"] = "填报日期：2026年10月8日"
    sheet.merge_cells("F2:J2")
    for col, header in enumerate(PLAN_HEADERS, start=1):
        cell = sheet.cell(row=3, column=col, value=header)
        cell.alignment = openpyxl.styles.Alignment(wrap_text=True)
    r = 4
    for r, row in enumerate(rows, start=4):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=col, value=value)
            cell.number_format = "@"
    r += 1
    if blank_before_footnote:
        r += 1
    if footnote:
        sheet.cell(row=r, column=1, value="注：1.身份证号、手机号、银行卡号请设置为文本格式；2.村（社区）可不填。")
        sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=10)
        sheet.cell(row=r + 1, column=1, value="填表人：王小明")
        sheet.cell(row=r + 1, column=6, value="审核人：李大山")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def person(name, *, village="东庄村"):
    return [name, new_id_number(), "汉族", new_mobile(), "济河街道", village, "工商银行", new_account(), "100",
            "2026-11-05"]


def test_the_plans_own_form_is_read_with_its_title_rows_and_footnote(client, operator, project):
    rows = [person("张三明"), person("李四海"), person("王五福", village="")]
    r = upload(client, operator, project.id, plan_form(rows), name="附件3.xlsx")
    assert r.status_code == 201, r.json
    assert r.json["row_count"] == 3 and r.json["header_row"] == 3
    skipped = {s["row"]: s["reason"] for s in r.json["skipped_rows"]}
    assert set(skipped) == {7, 8, 9}                       # the blank row, the 注 row, the 填表人/审核人 row
    assert "空行" in skipped[7] and "注释" in skipped[8] and "注释" in skipped[9]
    assert r.json["warnings"] == []
    names = db.session.execute(sa.select(RecipientRow.name).order_by(RecipientRow.row_no)).scalars().all()
    assert names == ["张三明", "李四海", "王五福"]
    shown = client.get(f"{API}/lists/{r.json['id']}", headers=operator.auth).json
    assert shown["header_row"] == 3 and len(shown["skipped_rows"]) == 3


def test_an_unknown_village_is_a_warning_beside_the_row_with_the_closest_names(client, operator, project):
    r = upload(client, operator, project.id, plan_form([person("张三明"), person("李四海", village="东庄")]),
               name="附件3.xlsx")
    assert r.status_code == 201, r.json
    [warning] = r.json["warnings"]
    assert warning["row"] == 5 and warning["column"] == "村（社区）" and warning["value"] == "东庄"
    assert "东庄村" in warning["suggestions"] and "东庄村" in warning["message"]
    stored = db.session.execute(sa.select(RecipientRow.village_id, RecipientRow.village_text)
                                .where(RecipientRow.name == "李四海")).one()
    assert stored == (None, "东庄")


def test_a_form_without_the_required_headers_in_its_first_rows_is_refused_naming_them(client, operator, project):
    book = openpyxl.Workbook()
    sheet = book.active
    for i in range(12):
        sheet.cell(row=i + 1, column=1, value=f"说明{i}")
    sheet.cell(row=13, column=1, value="姓名")
    out = io.BytesIO()
    book.save(out)
    r = upload(client, operator, project.id, out.getvalue(), name="附件3.xlsx")
    assert r.status_code == 422 and r.json["error"]["code"] == "header_missing"
    assert "身份证号" in r.json["error"]["message"]


def test_a_bad_row_in_the_plans_form_is_reported_by_its_excel_row_and_the_footnote_is_not(client, operator,
                                                                                          project):
    bad = person("赵六顺")
    bad[1] = "370831500301123"
    r = upload(client, operator, project.id, plan_form([person("张三明"), bad]), name="附件3.xlsx")
    assert r.status_code == 422
    assert [e["row"] for e in r.json["error"]["details"]["errors"]] == [5]


def test_the_downloadable_template_filled_in_is_accepted(client, operator, project):
    template = client.get(f"{API}/lists/template.xlsx", headers=operator.auth)
    book = openpyxl.load_workbook(io.BytesIO(template.data))
    sheet = book.worksheets[0]
    for col, value in enumerate(person("张三明"), start=1):
        sheet.cell(row=2, column=col, value=value)
    out = io.BytesIO()
    book.save(out)
    r = upload(client, operator, project.id, out.getvalue(), name="模板.xlsx")
    assert r.status_code == 201, r.json
    assert r.json["header_row"] == 1 and r.json["skipped_rows"] == [] and r.json["row_count"] == 1
