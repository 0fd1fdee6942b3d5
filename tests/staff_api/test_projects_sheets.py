"""Attachment 2 as xlsx: exact export columns, all-or-nothing import with every bad cell reported."""
from __future__ import annotations

import io

import xlsxwriter
from python_calamine import CalamineWorkbook

from onecard.sheets import read_rows, safe_cell, write_xlsx

API = "/api/staff/v1"
HEADERS = ["序号", "项目资金大类名称", "序号", "项目资金小类名称", "发放周期", "代发银行", '是否通过"一本通"发放', "发放层级"]


def _xlsx(headers, rows, title=None) -> bytes:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    ws = wb.add_worksheet()
    r = 0
    if title:
        ws.write_string(0, 0, title)
        r = 1
    for c, h in enumerate(headers):
        ws.write_string(r, c, h)
    for i, row in enumerate(rows, start=r + 1):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(i, c, v)
    wb.close()
    return out.getvalue()


def _rows(data: bytes) -> list[list]:
    return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()


def _upload(client, staff, data, name="附件2.xlsx", **query):
    return client.post(f"{API}/projects/import", headers=staff.auth, query_string=query,
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


GOOD = [
    [1, "社会救助", 1, "城乡低保金", "按月", "农商行", "否", "县级"],
    [None, None, 2, "特困供养金", "按季", "中国农业银行", "是", "县级"],   # merged 大类 cell
    [2, "优抚", 1, "高龄津贴", "一次性", "", "否", "村级"],
]


def test_import_then_export_has_the_exact_attachment2_columns(client, county, make_staff, admin):
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    r = _upload(client, op, _xlsx(HEADERS, GOOD, title="附件2 补贴项目目录"))
    assert r.status_code == 201, r.json
    assert r.json["created"] == 3
    names = {p["name"]: p for p in r.json["projects"]}
    assert names["特困供养金"]["category"] == "社会救助" and names["特困供养金"]["via_passbook"] is True
    assert names["高龄津贴"]["bank_id"] is None and names["高龄津贴"]["level"] == "village"
    pid = names["城乡低保金"]["id"]
    client.post(f"{API}/projects/{pid}/code", headers=admin.auth)
    exported = client.get(f"{API}/projects/export", headers=op.auth)
    assert exported.status_code == 200
    assert exported.mimetype.endswith("spreadsheetml.sheet")
    rows = _rows(exported.data)
    assert rows[0][:8] == HEADERS and "统一编码" in rows[0] and "标准（元）" in rows[0]
    body = {r[3]: r for r in rows[1:]}
    assert body["城乡低保金"][:8] == [1, "社会救助", 1, "城乡低保金", "按月", "农商银行", "否", "县级"]
    assert body["城乡低保金"][8] == "0301001"
    assert body["特困供养金"][:4] == [1, "社会救助", 2, "特困供养金"]
    assert body["高龄津贴"][:3] == [2, "优抚", 1]


def test_export_imports_back_into_another_department(client, county, make_staff, admin):
    civil = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    assert _upload(client, civil, _xlsx(HEADERS, GOOD)).status_code == 201
    data = client.get(f"{API}/projects/export", headers=civil.auth).data
    r = _upload(client, admin, data, department_id=county["departments"]["县农业农村局"])
    assert r.status_code == 201 and r.json["created"] == 3


def test_a_bad_file_imports_nothing_and_lists_every_bad_cell(client, county, make_staff):
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    client.post(f"{API}/projects", headers=op.auth, json={"category": "社会救助", "name": "临时救助金", "cycle": "一次性",
                                                         "level": "县级"})
    rows = [
        [1, "社会救助", 1, "城乡低保金", "每两周", "花旗银行", "也许", "省级"],    # row 2: four bad cells
        [None, None, 2, "城乡低保金", "按月", "工行", "否", "县级"],              # row 3: duplicate of row 2
        [None, None, 3, "临时救助金", "按月", "工行", "否", "县级"],              # row 4: already registered
        [2, "优抚", 1, None, "按月", "工行", "否", "县级"],                      # row 5: name missing
        [3, "=HYPERLINK(\"http://x\")", 1, "好项目", "按月", "工行", "否", "县级"],  # row 6: fine (text, not formula)
    ]
    r = _upload(client, op, _xlsx(HEADERS, rows))
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "sheet_invalid" and err["field"] == "file"
    got = {(e["row"], e["column"]) for e in err["details"]["errors"]}
    assert got == {(2, "发放周期"), (2, "代发银行"), (2, '是否通过"一本通"发放'), (2, "发放层级"),
                   (3, "项目资金小类名称"), (4, "项目资金小类名称"), (5, "项目资金小类名称")}
    assert all(e["reason"] for e in err["details"]["errors"])
    assert [p["name"] for p in client.get(f"{API}/projects", headers=op.auth).json] == ["临时救助金"]


def test_missing_required_columns_and_wrong_file_type(client, county, make_staff):
    op = make_staff("dept_operator", department_id=county["departments"]["县民政局"])
    r = _upload(client, op, _xlsx(["序号", "项目资金大类名称"], [[1, "社会救助"]]))
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"
    assert "项目资金小类名称" in r.json["error"]["message"]
    r = _upload(client, op, b"hello", name="a.docx")
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"
    r = _upload(client, op, b"not a zip", name="a.xlsx")
    assert r.status_code == 422 and r.json["error"]["code"] == "sheet_invalid"


def test_import_refused_for_roles_that_cannot_register(client, county, make_staff, finance):
    r = _upload(client, finance, _xlsx(HEADERS, GOOD), department_id=county["departments"]["县民政局"])
    assert r.status_code == 403


def test_template_downloads_with_headers(client, county, finance):
    r = client.get(f"{API}/projects/template", headers=finance.auth)
    assert r.status_code == 200 and _rows(r.data)[0][:8] == HEADERS


# ---------------------------------------------------------------- the generic sheet helpers
def test_safe_cell_neutralises_formula_starts():
    assert [safe_cell(v) for v in ["=1+1", "+86", "-5", "@x", "ok", 5]] == ["'=1+1", "'+86", "'-5", "'@x", "ok", 5]


def test_write_xlsx_never_writes_formulas():
    data = write_xlsx(["a"], [["=SUM(1,2)"]])
    assert _rows(data)[1][0] == "'=SUM(1,2)"


def test_read_rows_csv_gb18030_and_utf8_bom():
    text = "姓名,备注\n李䶮,一\n\n王五,二\n"
    for encoding in ("gb18030", "utf-8-sig", "utf-8"):
        rows = list(read_rows(text.encode(encoding), "x.csv", required=["姓名"]))
        assert rows == [(2, {"姓名": "李䶮", "备注": "一"}), (4, {"姓名": "王五", "备注": "二"})]


def test_read_rows_renames_repeated_headers():
    rows = list(read_rows("序号,名称,序号\n1,a,2\n".encode(), "x.csv"))
    assert rows == [(2, {"序号": "1", "名称": "a", "序号_2": "2"})]
