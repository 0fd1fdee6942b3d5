"""Recipient lists (发放名单) through the staff API: template, upload validation, storage, scope."""
from __future__ import annotations

import hashlib
import io

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from onecard.audit import AuditEntry
from onecard.lists.models import ListUploadReport, RecipientList, RecipientRow
from tests.factories import new_account, new_id_number, new_mobile
from tests.fixtures_lists import HEADERS, csv_bytes, upload, xlsx_bytes

API = "/api/staff/v1"


def good_row(name="张三明", id_number=None, *, town="济河街道", village="东庄村", bank="工商银行",
             amount="100.00", mobile=None, account="auto"):
    return [name, id_number or new_id_number(), "汉族", mobile or new_mobile(), town, village, bank,
            new_account() if account == "auto" else account, amount, "2026-11-05"]


def sheet_rows(data: bytes) -> list[list]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return book.get_sheet_by_index(0).to_python()


def test_template_has_the_exact_attachment_3_headers_and_text_columns(client, operator):
    r = client.get(f"{API}/lists/template.xlsx", headers=operator.auth)
    assert r.status_code == 200
    assert r.mimetype.endswith("spreadsheetml.sheet")
    rows = sheet_rows(r.data)
    assert rows[0] == ["姓名（必填）", "身份证号（必填）", "民族（必填）", "手机号（必填）", "镇街（必填）",
                       "村（社区）（非必填）", "开户行（必填）", "银行卡号", "补贴额", "预计发放时间"]
    import zipfile
    styles = zipfile.ZipFile(io.BytesIO(r.data)).read("xl/styles.xml").decode()
    assert 'formatCode="@"' in styles   # the text format that keeps 18-digit IDs intact
    sheet = zipfile.ZipFile(io.BytesIO(r.data)).read("xl/worksheets/sheet1.xml").decode()
    assert '<col min="2" max="2"' in sheet and 'style="1"' in sheet


def test_template_needs_sign_in(client, db):
    assert client.get(f"{API}/lists/template.xlsx").status_code == 401


def test_clean_csv_upload_is_stored_with_uploader_hash_and_totals(client, operator, project):
    data = csv_bytes([good_row("李四海"), good_row("王五", amount="")])
    r = upload(client, operator, project.id, data, name="十一月名单.csv")
    assert r.status_code == 201, r.json
    body = r.json
    assert body["row_count"] == 2 and body["total_fen"] == 20000 and body["total"] == "200.00"
    assert body["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert body["uploaded_by"] == operator.id and body["file_name"] == "十一月名单.csv"
    assert body["status"] == "uploaded" and body["period"] == "2026-11"
    rows = client.get(f"{API}/lists/{body['id']}/rows", headers=operator.auth).json
    assert rows["total"] == 2
    first = rows["items"][0]
    assert first["name"] == "李四海" and "*" in first["id_number"] and first["mobile"].startswith("*******")
    assert first["town"] == "济河街道" and first["village"] == "东庄村" and first["bank"] == "工商银行"
    entry = db_audit("list.upload")
    assert entry is not None and entry.entity_id == str(body["id"])


def db_audit(action):
    from onecard.extensions import db
    return db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.seq.desc())).scalars().first()


def test_gbk_csv_with_half_width_headers_is_accepted(client, operator, project):
    headers = ["姓名(必填)", "身份证号", "民族", "手机号（必填）", "镇街", "村(社区)(非必填)", "开户行",
               "银行卡号", "补贴额", "预计发放时间"]
    data = csv_bytes([good_row("欧阳秀英", village="东庄村", bank="中国农业银行泗水支行")],
                     encoding="gbk", headers=headers)
    r = upload(client, operator, project.id, data)
    assert r.status_code == 201, r.json
    assert client.get(f"{API}/lists/{r.json['id']}/rows", headers=operator.auth).json["items"][0]["name"] == "欧阳秀英"


def test_gb18030_rare_character_name_is_accepted(client, operator, project):
    r = upload(client, operator, project.id, csv_bytes([good_row("李䶮")], encoding="gb18030"))
    assert r.status_code == 201, r.json


def test_xlsx_upload_is_accepted(client, operator, project):
    r = upload(client, operator, project.id, xlsx_bytes([good_row("赵六福")]), name="名单.xlsx")
    assert r.status_code == 201, r.json
    assert r.json["row_count"] == 1


def test_upload_with_a_dozen_kinds_of_mistakes_reports_all_and_stores_nothing(client, operator, project):
    listed = new_id_number()
    assert upload(client, operator, project.id, csv_bytes([good_row("孔德福", listed)])).status_code == 201
    valid = new_id_number()
    bad_checksum = valid[:17] + ("0" if valid[17] != "0" else "1")
    bad_card = new_account()
    bad_card = bad_card[:-1] + str((int(bad_card[-1]) + 1) % 10)
    dup = new_id_number()
    rows = [
        good_row("正确人", valid),                                   # row 2: fine
        good_row("校验错", bad_checksum),                            # 3
        good_row("十五位", "370831500301123"),                       # 4
        good_row("科学计", "3.70831E+17"),                           # 5
        good_row("", None),                                          # 6 missing name
        ["民族错", new_id_number(), "火星族", new_mobile(), "济河街道", "", "工商银行", "", "100", ""],  # 7
        good_row("手机错", mobile="1234567"),                        # 8
        good_row("镇街错", town="不存在镇", village=""),            # 9
        good_row("村不对", village="西峪村"),                       # 10 西峪村 is in 泗河街道: a warning only
        good_row("银行错", bank="招商银行"),                        # 11
        good_row("卡号错", account=bad_card),                       # 12
        good_row("超标准", amount="150.00"),                        # 13
        good_row("三位数", amount="10.005"),                        # 14
        good_row("重复甲", dup),                                     # 15
        good_row("重复乙", dup),                                     # 16
        good_row("已列入", listed),                                  # 17
    ]
    r = upload(client, operator, project.id, csv_bytes(rows), name="有错的名单.csv")
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "sheet_invalid" and err["field"] == "file"
    details = err["details"]
    found = {(e["row"], e["column"]) for e in details["errors"]}
    expected = {(3, "身份证号"), (4, "身份证号"), (5, "身份证号"), (6, "姓名"), (7, "民族"), (8, "手机号"),
                (9, "镇街"), (11, "开户行"), (12, "银行卡号"), (13, "补贴额"), (14, "补贴额"),
                (15, "身份证号"), (16, "身份证号"), (17, "身份证号")}
    assert found == expected
    assert details["error_count"] == len(details["errors"]) == 14
    assert err["message"].startswith("发现14处错误")
    reasons = {(e["row"]): e["reason"] for e in details["errors"]}
    assert "校验位" in reasons[3] and "15位" in reasons[4] and "精度丢失" in reasons[5]
    assert "第16行" in reasons[15] and "第15行" in reasons[16] and "已在本项目本期的名单中" in reasons[17]
    assert "超过标准" in reasons[13] and "两位小数" in reasons[14]
    # Values are masked: no full ID or mobile in the answer.
    text = r.get_data(as_text=True)
    assert valid not in text and bad_checksum not in text and dup not in text
    id_value = next(e["value"] for e in details["errors"] if e["row"] == 3)
    assert id_value.startswith("370831") and "*" in id_value
    # Nothing of the bad file was stored.
    from onecard.extensions import db
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientList)).scalar() == 1
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 1
    # The same report as xlsx: the original columns plus 错误说明, only the rows to fix, masked (issue #16).
    rep = client.get(f"{API}/lists/reports/{details['report_id']}.xlsx", headers=operator.auth)
    assert rep.status_code == 200
    sheet = sheet_rows(rep.data)
    assert sheet[0] == HEADERS + ["错误说明"]
    assert len(sheet) == 1 + len(rows) - 1          # the good row is left out
    assert sheet[1][10].startswith("第3行：") and "身份证号" in sheet[1][10] and "校验位" in sheet[1][10]
    for row in sheet[1:]:
        assert row[10], row
    assert sheet[1][0] == "校验错" and sheet[1][1] != bad_checksum and sheet[1][1].startswith("370831")
    assert all(dup not in str(cell) and listed not in str(cell) for row in sheet for cell in row)


def test_error_report_is_scoped_to_the_uploading_department(client, operator, project, make_staff, county):
    r = upload(client, operator, project.id, csv_bytes([good_row("手机错", mobile="12")]))
    report_id = r.json["error"]["details"]["report_id"]
    other = make_staff("dept_operator", department_id=county["departments"]["县教育体育局"])
    assert client.get(f"{API}/lists/reports/{report_id}.xlsx", headers=other.auth).status_code == 404
    village = make_staff("village_staff", village_id=county["villages"][0])
    assert client.get(f"{API}/lists/reports/{report_id}.xlsx", headers=village.auth).status_code == 403


def test_xlsx_number_cells_for_ids_are_refused_as_precision_lost(client, operator, project):
    r = upload(client, operator, project.id, xlsx_bytes([good_row("数字格", 370831195003011234.0)]),
               name="名单.xlsx")
    assert r.status_code == 422
    assert "精度丢失" in r.json["error"]["details"]["errors"][0]["reason"]


def test_missing_required_column_is_named(client, operator, project):
    headers = [h for h in HEADERS if not h.startswith("开户行")]
    r = upload(client, operator, project.id, csv_bytes([good_row()[:6] + good_row()[7:]], headers=headers))
    assert r.status_code == 422
    assert r.json["error"]["code"] == "header_missing" and "开户行" in r.json["error"]["message"]


def test_upload_over_size_limit_is_refused_with_413(client, operator, project, app, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 200)
    r = upload(client, operator, project.id, csv_bytes([good_row() for _ in range(5)]))
    assert r.status_code == 413
    assert r.json["error"]["code"] == "file_too_large"


def test_upload_over_row_limit_is_refused_with_413_and_stores_nothing(client, operator, project, app, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_ROWS", 3)
    r = upload(client, operator, project.id, csv_bytes([good_row() for _ in range(4)]))
    assert r.status_code == 413 and r.json["error"]["code"] == "too_many_rows"
    from onecard.extensions import db
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 0


def test_byte_identical_reupload_is_refused_naming_the_earlier_list(client, operator, project):
    data = csv_bytes([good_row()])
    first = upload(client, operator, project.id, data).json
    again = upload(client, operator, project.id, data)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "list_duplicate_file" and f"编号{first['id']}" in again.json["error"]["message"]


def test_withdrawn_list_frees_its_people_for_a_new_upload(client, operator, project):
    data = csv_bytes([good_row()])
    first = upload(client, operator, project.id, data).json
    r = client.post(f"{API}/lists/{first['id']}/withdraw", headers=operator.auth, json={"reason": "金额有误"})
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    assert client.post(f"{API}/lists/{first['id']}/withdraw", headers=operator.auth, json={}).status_code == 409
    assert upload(client, operator, project.id, data).status_code == 201
    assert db_audit("list.withdraw").entity_id == str(first["id"])


def test_period_must_fit_the_project_cycle(client, operator, make_project, civil_affairs):
    quarterly = make_project(civil_affairs, cycle="quarterly")
    r = upload(client, operator, quarterly.id, csv_bytes([good_row()]), period="2026-11")
    assert r.status_code == 422 and r.json["error"]["code"] == "period_cycle_mismatch"
    r = upload(client, operator, quarterly.id, csv_bytes([good_row()]), period="2026年第一季度")
    assert r.status_code == 201 and r.json["period"] == "2026-Q1"


def test_uncoded_and_retired_projects_refuse_uploads(client, operator, make_project, civil_affairs):
    for status, code in (("registered", "project_not_coded"), ("retired", "project_retired")):
        p = make_project(civil_affairs, status=status)
        r = upload(client, operator, p.id, csv_bytes([good_row()]))
        assert r.status_code == 409 and r.json["error"]["code"] == code


def test_other_department_cannot_upload_or_see_lists(client, operator, project, make_staff, county):
    listed = upload(client, operator, project.id, csv_bytes([good_row()])).json
    other = make_staff("dept_operator", department_id=county["departments"]["县教育体育局"])
    assert upload(client, other, project.id, csv_bytes([good_row()])).status_code == 403
    assert client.get(f"{API}/lists/{listed['id']}", headers=other.auth).status_code == 404
    assert client.get(f"{API}/lists/{listed['id']}/rows", headers=other.auth).status_code == 404
    assert client.post(f"{API}/lists/{listed['id']}/withdraw", headers=other.auth, json={}).status_code == 404
    assert client.get(f"{API}/lists", headers=other.auth).json == []
    assert [x["id"] for x in client.get(f"{API}/lists", headers=operator.auth).json] == [listed["id"]]


def test_finance_and_auditor_read_every_list_but_cannot_upload(client, operator, project, finance, auditor):
    listed = upload(client, operator, project.id, csv_bytes([good_row()])).json
    for staff in (finance, auditor):
        assert [x["id"] for x in client.get(f"{API}/lists", headers=staff.auth).json] == [listed["id"]]
        assert client.get(f"{API}/lists/{listed['id']}", headers=staff.auth).status_code == 200
        assert upload(client, staff, project.id, csv_bytes([good_row()])).status_code == 403
    assert client.post(f"{API}/lists/{listed['id']}/withdraw", headers=finance.auth, json={}).status_code == 403


def test_report_rows_keep_no_report_for_clean_uploads(client, operator, project):
    upload(client, operator, project.id, csv_bytes([good_row()]))
    from onecard.extensions import db
    assert db.session.execute(sa.select(sa.func.count()).select_from(ListUploadReport)).scalar() == 0


def test_two_concurrent_uploads_listing_the_same_person_store_only_one(app, client, operator, project):
    """Two operators' uploads race; the unique (project, period, person) key lets exactly one through whole."""
    import threading
    shared = new_id_number()
    files = [csv_bytes([good_row("并发甲", shared), good_row("独有甲")]),
             csv_bytes([good_row("并发乙", shared), good_row("独有乙")])]
    barrier = threading.Barrier(2)
    statuses = []
    project_id = project.id   # never touch the main session's objects from the workers

    def worker(data):
        with app.app_context():
            try:
                c = app.test_client()
                barrier.wait()
                statuses.append(upload(c, operator, project_id, data).status_code)
            finally:
                from onecard.extensions import db
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 422]
    from onecard.extensions import db
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientList)).scalar() == 1
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 2
