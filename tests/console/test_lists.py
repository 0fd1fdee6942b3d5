"""Console pages for projects and lists: 项目目录, 名单上传 (inline error report), 比对结果, 跟进名单, 制卡数据导入."""
from __future__ import annotations

import io
import re

import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.lists.models import RecipientList
from onecard.projects.models import Project
from onecard.registry.models import RegistryImport
from tests.console.test_auth import hidden, login
from tests.factories import make_card, make_resident, new_account, new_id_number, new_mobile
from tests.fixtures_lists import csv_bytes


def good_row(name="张三明", id_number=None, *, town="济河街道", village="东庄村", bank="工商银行", amount="100.00"):
    return [name, id_number or new_id_number(), "汉族", new_mobile(), town, village, bank, new_account(), amount, ""]


def post_upload(client, page, project_id, data: bytes, *, period="2026-11", name="名单.csv"):
    return client.post("/console/upload", content_type="multipart/form-data",
                       data={**hidden(page), "project_id": str(project_id), "period": period,
                             "file": (io.BytesIO(data), name)})


def stored_list(client, project, rows) -> int:
    page = client.get("/console/upload")
    r = post_upload(client, page, project.id, csv_bytes(rows))
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(re.search(r"/console/lists/(\d+)", r.headers["Location"]).group(1))


# ---------------------------------------------------------------- 名单上传

def test_operator_uploads_a_bad_file_and_sees_every_error_inline_with_the_report_link(client, operator, project, db):
    login(client, operator.username)
    page = client.get("/console/upload")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and project.name in body and "附件3空白模板" in body
    template = client.get("/console/upload/template.xlsx")
    assert template.status_code == 200 and template.mimetype.endswith("spreadsheetml.sheet")

    good_id = new_id_number()
    bad_id = good_id[:17] + ("0" if good_id[17] != "0" else "1")     # a wrong check digit
    r = post_upload(client, page, project.id, csv_bytes([good_row(), good_row(id_number=bad_id),
                                                         good_row(town="不存在镇")]))
    text = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="error-table"' in text and "名单未保存" in text
    table = text[text.index('id="error-table"'):]
    assert re.search(r'<td class="num">3</td><td>身份证号</td>', table)
    assert re.search(r'<td class="num">4</td><td>镇街</td>', table)
    assert bad_id not in text                                   # the value is shown masked
    link = re.search(r'id="report-link" href="([^"]+)"', text).group(1)
    report = client.get(link)
    assert report.status_code == 200 and report.mimetype.endswith("spreadsheetml.sheet")
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientList)).scalar() == 0
    # The refused form keeps the chosen project and period, and may be sent again after fixing the file.
    assert 'value="2026-11"' in text


def test_a_good_upload_shows_the_stored_list_and_matching_gives_the_summary(client, operator, project, county, db):
    t1 = county["towns"][0]
    v1 = county["villages"][0]
    person = make_resident(t1, v1, name="甲正常", id_number=new_id_number())
    make_card(person, county["banks"]["ICBC"], "active")
    login(client, operator.username)
    list_id = stored_list(client, project, [good_row("甲正常", person.id_number), good_row("乙无卡")])
    detail = client.get(f"/console/lists/{list_id}")
    text = detail.get_data(as_text=True)
    assert "名单已保存：2 人，合计 200.00 元" in text
    assert 'id="list-total">200.00 元' in text and "开始比对" in text
    assert person.id_number not in text

    r = client.post(f"/console/lists/{list_id}/match", data=hidden(detail))
    assert r.status_code == 302
    again = client.post(f"/console/lists/{list_id}/match", data=hidden(detail))     # the same page, pressed twice
    assert again.status_code == 302
    text = client.get(f"/console/lists/{list_id}").get_data(as_text=True)
    assert "比对完成：2 人，其中可正常发放 1 人" in text
    assert 'id="by-town"' in text and 'id="by-bank"' in text and "重新比对" in text
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "list.match")).scalar() == 1

    filtered = client.get(f"/console/lists/{list_id}?result=usable").get_data(as_text=True)
    assert "甲正常" in filtered and "乙无卡" not in filtered
    listing = client.get("/console/lists").get_data(as_text=True)
    assert f"/console/lists/{list_id}" in listing


def test_the_plans_own_form_uploaded_in_the_console_shows_skipped_rows_and_village_warnings(client, operator,
                                                                                             project):
    from tests.staff_api.test_lists_plan_form import person, plan_form
    login(client, operator.username)
    page = client.get("/console/upload")
    r = post_upload(client, page, project.id, plan_form([person("张三明"), person("李四海", village="东庄")]),
                    name="附件3.xlsx")
    assert r.status_code == 302, r.get_data(as_text=True)
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "名单已保存：2 人" in detail and "1 处提醒" in detail and "已跳过 3 行" in detail
    assert 'id="list-warnings"' in detail and "东庄村" in detail and "第3行" in detail
    assert "不在名录中，请核对" in detail


def test_double_submit_of_one_upload_form_stores_one_list(client, operator, project, db):
    login(client, operator.username)
    page = client.get("/console/upload")
    data = csv_bytes([good_row()])
    assert post_upload(client, page, project.id, data).status_code == 302
    second = post_upload(client, page, project.id, data)
    assert second.status_code == 302 and second.headers["Location"].endswith("/console/upload")
    assert "该操作已处理" in client.get("/console/upload").get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientList)).scalar() == 1


def test_roles_without_upload_see_no_entry_and_a_403_page(client, make_staff, county):
    staff = make_staff("finance")
    login(client, staff.username)
    home = client.get("/console/").get_data(as_text=True)
    assert 'data-menu="upload"' not in home and 'data-menu="matching"' in home
    r = client.get("/console/upload")
    assert r.status_code == 403 and "没有此项操作权限" in r.get_data(as_text=True)


def test_other_departments_list_is_not_found(client, operator, make_staff, make_project, county):
    other = make_project(county["departments"]["县残疾人联合会"])
    other_op = make_staff("dept_operator", department_id=county["departments"]["县残疾人联合会"])
    login(client, other_op.username)
    list_id = stored_list(client, other, [good_row()])
    client2 = client.application.test_client()
    login(client2, operator.username)
    assert client2.get(f"/console/lists/{list_id}").status_code == 404
    assert f"/console/lists/{list_id}" not in client2.get("/console/lists").get_data(as_text=True)


# ---------------------------------------------------------------- 跟进名单

def test_village_staff_picks_a_list_and_sees_only_their_rows_with_full_phone(client, operator, project, make_staff,
                                                                          county):
    login(client, operator.username)
    list_id = stored_list(client, project, [good_row("乙无卡"), good_row("丙外村", town="泗河街道", village="西峪村")])
    detail = client.get(f"/console/lists/{list_id}")
    client.post(f"/console/lists/{list_id}/match", data=hidden(detail))

    village = make_staff("village_staff", village_id=county["villages"][0])
    other = client.application.test_client()
    login(other, village.username)
    page = other.get("/console/followup").get_data(as_text=True)
    assert f'<option value="{list_id}"' in page
    text = other.get(f"/console/followup?list_id={list_id}").get_data(as_text=True)
    assert "乙无卡" in text and "丙外村" not in text and "手机号为完整号码" in text
    assert re.search(r"<td>139\d{8}</td>", text)
    xlsx = other.get(f"/console/followup/{list_id}.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    # The department sees the same list with masked phones.
    text = client.get(f"/console/followup?list_id={list_id}").get_data(as_text=True)
    assert "丙外村" in text and "手机号已脱敏" in text and not re.search(r"<td>139\d{8}</td>", text)


# ---------------------------------------------------------------- 项目目录

def test_operator_registers_admin_codes_and_retires_a_project(app, client, operator, make_staff, county, db):
    login(client, operator.username)
    page = client.get("/console/projects")
    assert page.status_code == 200 and "登记项目" in page.get_data(as_text=True)
    form = {"category": "老龄福利", "name": "百岁老人长寿补贴", "cycle": "monthly", "level": "county",
            "standard": "300", "via_passbook": "否", "per_household": "否"}
    r = client.post("/console/projects", data={**hidden(page), **form})
    assert r.status_code == 302
    dup = client.post("/console/projects", data={**hidden(client.get("/console/projects")), **form})
    assert dup.status_code == 409 and "请勿重复登记" in dup.get_data(as_text=True)
    project = db.session.execute(sa.select(Project).where(Project.name == "百岁老人长寿补贴")).scalar_one()
    assert project.status == "registered" and project.standard_fen == 30000
    assert "赋码" not in client.get("/console/projects").get_data(as_text=True).split("projects-table")[1] \
        .split("</table>")[0].replace("待赋码", "")
    assert client.post(f"/console/projects/{project.id}/code", data=hidden(page)).status_code == 403

    admin = make_staff("admin")
    boss = app.test_client()
    login(boss, admin.username)
    listing = boss.get("/console/projects")
    assert boss.post(f"/console/projects/{project.id}/code", data=hidden(listing)).status_code == 302
    db.session.refresh(project)
    assert project.status == "coded" and project.code
    detail = boss.get(f"/console/projects/{project.id}")
    assert project.code in detail.get_data(as_text=True)
    boss.post(f"/console/projects/{project.id}/retire", data={**hidden(detail), "note": "政策到期"})
    db.session.refresh(project)
    assert project.status == "retired"
    assert boss.get("/console/projects/export.xlsx").status_code == 200
    assert boss.get("/console/projects/template.xlsx").status_code == 200


def test_operator_edits_own_project(client, operator, project, db):
    login(client, operator.username)
    detail = client.get(f"/console/projects/{project.id}")
    assert detail.status_code == 200
    r = client.post(f"/console/projects/{project.id}",
                    data={**hidden(detail), "category": project.category, "name": "高龄津贴（改）",
                          "cycle": "monthly", "level": "county", "standard": "120", "via_passbook": "否",
                          "per_household": "否"})
    assert r.status_code == 302
    db.session.refresh(project)
    assert project.name == "高龄津贴（改）" and project.standard_fen == 12000


# ---------------------------------------------------------------- 制卡数据导入

def test_admin_imports_the_registry_and_reads_the_report(client, make_staff, county, db):
    from onecard.registry import importer
    admin = make_staff("admin")
    login(client, admin.username)
    page = client.get("/console/registry")
    assert page.status_code == 200
    headers = importer.COLUMNS
    assert client.get("/console/registry/template.xlsx").status_code == 200
    values = {"姓名": "赵一", "身份证号": new_id_number(), "社保卡号": "A1000001", "发卡银行": "工商银行",
              "金融账号": new_account(), "卡状态": "正常", "申领日期": "2026-01-05", "发卡日期": "2026-02-01",
              "激活日期": "2026-02-03", "镇街": "济河街道", "村（社区）": "东庄村", "手机号": new_mobile(), "民族": "汉族"}
    good = [values.get(h, "") for h in headers]
    bad = [values.get(h, "") if h != "身份证号" else "12345" for h in headers]
    data = ("\ufeff" + ",".join(headers) + "\n" + ",".join(good) + "\n" + ",".join(bad) + "\n").encode()
    r = client.post("/console/registry", content_type="multipart/form-data",
                    data={**hidden(page), "file": (io.BytesIO(data), "制卡.csv")})
    assert r.status_code == 302, r.get_data(as_text=True)
    text = client.get(r.headers["Location"]).get_data(as_text=True)
    record = db.session.execute(sa.select(RegistryImport)).scalar_one()
    assert record.rows_total == 2 and record.error_count == 1
    assert 'id="import-counts"' in text and 'id="registry-errors"' in text
    assert "导入完成：共 2 行" in text


def test_registry_import_is_for_the_bureau_only(client, operator):
    login(client, operator.username)
    assert client.get("/console/registry").status_code == 403


# ---------------------------------------------------------------- 比对进度（按镇街）

def test_matching_progress_chart_by_town_is_scoped(client, operator, project, make_staff, make_project, county):
    from onecard import dashboard
    login(client, operator.username)
    list_id = stored_list(client, project, [good_row("乙无卡"), good_row("丙外村", town="泗河街道", village="西峪村")])
    before = dashboard.matching_progress_by_town(operator.actor)
    assert {r["town"]: r["counts"] for r in before} == {"济河街道": {None: 1}, "泗河街道": {None: 1}}
    detail = client.get(f"/console/lists/{list_id}")
    client.post(f"/console/lists/{list_id}/match", data=hidden(detail))
    after = dashboard.matching_progress_by_town(operator.actor)
    assert {r["town"]: r["counts"] for r in after} == {"济河街道": {"not_in_registry": 1},
                                                      "泗河街道": {"not_in_registry": 1}}
    home = client.get("/console/").get_data(as_text=True)
    assert "比对进度（按镇街）" in home and "制卡信息中无此人" in home

    other = make_staff("dept_operator", department_id=county["departments"]["县残疾人联合会"])
    assert dashboard.matching_progress_by_town(other.actor) == []
    assert dashboard.matching_progress_by_town(make_staff("village_staff",
                                                          village_id=county["villages"][0]).actor) is None
