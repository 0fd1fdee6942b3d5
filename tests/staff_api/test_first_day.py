"""A county's first day, end to end through the HTTP API, on a fresh install (no demo data).

The administrator (created as `onecard create-admin` does) opens the other staff accounts through /accounts,
imports the villages (national statistics table layout) and the card registry; 民政局 imports households,
低保 memberships and a proxy appointment; the department registers a per-household (到户) project, 人社局 codes it,
an agreement with the agent bank is made, the plan's own attachment-3 form is uploaded (one member per household
plus the ward) and a second member of a listed household is refused naming the first member's row; the batch is
created, reviewed, approved, exported and answered by the bank with a value date; the outbox is drained to the fake
Twilio by the real drainer. Each household is paid once into its head's card, the ward's money into the proxy's
card, every SMS tells the truth; the risk check finds nothing, then finds a household paid twice planted by SQL.
"""
from __future__ import annotations

import io
import uuid
from datetime import date

import sqlalchemy as sa
from python_calamine import CalamineWorkbook

from notifications.jobs import drain_once, tick
from onecard.payments import bankformats
from onecard.reference.models import Town
from onecard.sheets import write_csv
from onecard.timeutil import local_today
from onecard.validation import luhn_check_digit, make_id_number
from tests.fixtures_payments import parse_bank_file
from tests.staff_api.test_lists_plan_form import plan_form
from tests.staff_api.test_master_data import upload, villages_file

API = "/api/staff/v1"
PASSWORD = "Firstday2026ok"
PERIOD = "2026-11"
REGISTRY_COLUMNS = ["姓名", "身份证号", "社保卡号", "发卡银行", "金融账号", "卡状态", "申领日期", "发卡日期", "激活日期",
                    "镇街", "村（社区）", "手机号", "民族"]
HOUSEHOLD_COLUMNS = ["户号", "户主身份证号", "与户主关系", "姓名", "身份证号", "镇街", "村（社区）", "地址"]


class Staff:
    def __init__(self, token: str):
        self.auth = {"Authorization": f"Bearer {token}"}


def login(client, username: str, password: str = PASSWORD) -> Staff:
    r = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.json
    return Staff(r.json["token"])


def post(client, url: str, who: Staff, *, keyed: bool = False, **body):
    if keyed:       # the payment steps take an idempotency key; the other endpoints refuse unknown fields
        body["idempotency_key"] = uuid.uuid4().hex
    r = client.post(API + url, headers=who.auth, json=body)
    assert r.status_code in (200, 201), (url, r.json)
    return r.json


def account(n: int) -> str:
    body = f"62230100{n:010d}"
    return body + luhn_check_digit(body)


class Person:
    def __init__(self, name: str, n: int, born: date = date(1965, 5, 1), *, card: str | None = "正常"):
        self.name, self.card = name, card
        self.id_number = make_id_number("370831", born, 200 + n)
        self.mobile = f"1390537{n:04d}"
        self.account = account(n) if card else ""
        self.card_number = f"S3708{n:05d}" if card else ""

    def registry_row(self, village: str) -> list:
        status = self.card or "未申领"
        return [self.name, self.id_number, self.card_number, "农商行" if self.card else "", self.account, status,
                "2025-03-01", "2025-04-01" if self.card else "", "2025-05-02" if self.card == "正常" else "",
                "泉林镇", village, self.mobile, "汉族"]

    def list_row(self, amount: str = "260") -> list:
        return [self.name, self.id_number, "汉族", self.mobile, "泉林镇", "卞桥村委会", "农商银行", self.account, amount,
                "2026-11-20"]


def test_a_countys_first_day_pays_each_household_once_into_the_right_account_with_the_right_sms(
        app, client, db, twilio_app, fake_twilio):
    # 0. A fresh install: reference data only; the first administrator as `onecard create-admin` makes it.
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "admin", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    admin = login(client, "admin")
    dept = {d["code"]: d["id"] for d in client.get(f"{API}/departments", headers=admin.auth).json}
    banks = {b["code"]: b["id"] for b in client.get(f"{API}/banks", headers=admin.auth).json}
    civil_id, farm_id = dept["03"], dept["06"]

    def open_account(username: str, role: str, **scope) -> Staff:
        post(client, "/accounts", admin, username=username, display_name=username, role=role, password=PASSWORD,
             **scope)
        return login(client, username)

    civil = open_account("mz_jb", "dept_operator", department_id=civil_id)
    farm = open_account("ny_jb", "dept_operator", department_id=farm_id)
    farm_reviewer = open_account("ny_sh", "dept_reviewer", department_id=farm_id)
    finance = open_account("cz_sh", "finance")
    bank = open_account("nsh_dk", "bank_operator", bank_id=banks["RCB"])

    # 1. Villages in the statistics table's layout, then the card registry.
    r = upload(client, "/villages/import", admin, villages_file(), "2023年统计用区划代码.xlsx")
    assert r.status_code == 201, r.json
    zhang, li, xiao = Person("张大山", 1), Person("李秀英", 2), Person("张小川", 3, date(1995, 2, 3), card=None)
    chen, chen_wife = Person("陈守田", 4), Person("刘桂芝", 5, card="已发放未激活")
    wang = Person("王老五", 6, date(1950, 8, 8), card="已发放未激活")          # the 低保 ward: no usable card
    wang_kid = Person("王小妹", 7, date(2012, 6, 1), card=None)
    registry = [zhang.registry_row("卞桥村委会"), li.registry_row("卞桥村委会"), xiao.registry_row("卞桥村委会"),
                chen.registry_row("东仲都村委会"), chen_wife.registry_row("东仲都村委会"),
                wang.registry_row("东仲都村委会"), wang_kid.registry_row("东仲都村委会")]
    r = client.post(f"{API}/registry/imports", headers=admin.auth, content_type="multipart/form-data",
                    data={"file": (io.BytesIO(write_csv(REGISTRY_COLUMNS, registry)), "制卡数据.csv")})
    assert r.status_code == 201, r.json
    assert r.json["error_count"] == 0 and r.json["new_residents"] == 7 and r.json["new_cards"] == 5

    # 2. 民政局: three households, the ward's 低保 membership and his legal proxy (the neighbour 李秀英, own card).
    rows = [["H001", "", "户主", zhang.name, zhang.id_number, "泉林镇", "卞桥村委会", "卞桥村1号"],
            ["H001", "", "配偶", li.name, li.id_number, "泉林镇", "卞桥村委会", ""],
            ["H001", "", "子", xiao.name, xiao.id_number, "泉林镇", "卞桥村委会", ""],
            ["H002", "", "户主", chen.name, chen.id_number, "泉林镇", "东仲都村委会", ""],
            ["H002", "", "配偶", chen_wife.name, chen_wife.id_number, "泉林镇", "东仲都村委会", ""],
            ["H003", wang.id_number, "", wang.name, wang.id_number, "泉林镇", "东仲都村委会", ""],
            ["H003", wang.id_number, "", wang_kid.name, wang_kid.id_number, "泉林镇", "东仲都村委会", ""]]
    r = upload(client, "/households/import", civil, write_csv(HOUSEHOLD_COLUMNS, rows), "家庭户.csv")
    assert r.status_code == 201, r.json
    assert r.json == {"households": 3, "members": 7}
    r = upload(client, "/groups/import", civil, write_csv(
        ["身份证号", "姓名", "类别", "认定文号", "起始日期", "截止日期"],
        [[wang.id_number, wang.name, "低保户", "泗民低〔2026〕8号", "2026-01-01", "2026-12-31"]]), "低保.csv")
    assert r.status_code == 201, r.json
    appointment = post(client, "/proxies", civil, ward_id_number=wang.id_number, ward_name=wang.name,
                       proxy_id_number=li.id_number, proxy_name=li.name, legal_basis="（2026）鲁0831民特5号",
                       appointed_by="泗水县人民法院", valid_from="2026-01-01")
    assert appointment["category"] == "dibao"

    # 3. The department registers a 到户 project, 人社局 codes it, the agreement with the agent bank is made.
    project = post(client, "/projects", farm, category="农业补贴", name="耕地地力保护补贴", cycle="按月", bank="农商行",
                   via_passbook="否", level="县级", standard="260.00", per_household="是",
                   eligibility="承包耕地的农户，每户每期一份")
    assert project["per_household"] is True and project["status"] == "registered"
    coded = post(client, f"/projects/{project['id']}/code", admin)
    assert coded["code"]
    post(client, "/agreements", farm, number="XY-NY-2026-01", bank_id=banks["RCB"], project_ids=[project["id"]],
         payment_schedule="每月20日前", fund_supervision="财政专户监管", reconciliation_method="逐笔回盘对账",
         valid_from="2026-01-01", valid_until="2026-12-31")

    def upload_list(rows: list[list], name: str):
        return client.post(f"{API}/lists", headers=farm.auth, content_type="multipart/form-data",
                           data={"project_id": str(project["id"]), "period": PERIOD,
                                 "file": (io.BytesIO(plan_form(rows)), name)})

    # The four-members case: two members of H001 in one file are refused, the second row naming the first.
    r = upload_list([xiao.list_row(), zhang.list_row(), chen.list_row()], "附件3（有误）.xlsx")
    assert r.status_code == 422, r.json
    [error] = r.json["error"]["details"]["errors"]
    assert error["row"] == 5 and "与第4行同属一户" in error["reason"] and "H001" in error["reason"]

    # The plan's form with its title rows and footnote: one member per household, and the ward.
    r = upload_list([xiao.list_row(), chen.list_row(), wang.list_row()], "附件3.xlsx")
    assert r.status_code == 201, r.json
    assert r.json["header_row"] == 3 and r.json["row_count"] == 3 and r.json["warnings"] == []
    first_list = r.json["id"]
    # A later upload naming another member of H001 for the same period is refused, naming the earlier row.
    r = upload_list([li.list_row()], "附件3（补报）.xlsx")
    assert r.status_code == 422, r.json
    reason = r.json["error"]["details"]["errors"][0]["reason"]
    assert f"名单编号{first_list}" in reason and "第4行" in reason

    # 4. Match, batch, review, approval, bank file, the bank's result file with its value date.
    r = client.post(f"{API}/lists/{first_list}/match", headers=farm.auth, json={})
    assert r.status_code == 200, r.json
    batch = post(client, "/batches", farm, keyed=True, project_id=project["id"], period=PERIOD)
    assert batch["line_count"] == 3 and batch["held_count"] == 0 and batch["total_fen"] == 3 * 26000
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{batch['id']}/lines", headers=farm.auth).json}
    assert (lines[xiao.name]["route"], lines[xiao.name]["payee_name"]) == ("head_card", zhang.name)
    assert (lines[chen.name]["route"], lines[chen.name]["payee_name"]) == ("head_card", chen.name)
    assert (lines[wang.name]["route"], lines[wang.name]["payee_name"]) == ("proxy", li.name)
    for step, who in (("submit", farm), ("review", farm_reviewer), ("approve", finance)):
        assert post(client, f"/batches/{batch['id']}/{step}", who, keyed=True)["status"] in ("submitted", "reviewed", "approved")
    r = client.post(f"{API}/batches/{batch['id']}/bank-file", headers=bank.auth,
                    json={"idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 200, r.data[:300]
    header, details, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok and header[2] == "3" and header[3] == "780.00"
    assert {(d[2], d[3]) for d in details} == {(zhang.name, zhang.account), (chen.name, chen.account),
                                               (li.name, li.account)}
    value_date = local_today()      # the bank's value date (it may not be before the file was sent)
    money = lambda s: bankformats.RCB.parse_money(s, "")  # noqa: E731
    answer = bankformats.write_result_file(bankformats.RCB, batch["number"],
                                           [(int(d[1]), money(d[4]), "S", "", "", value_date) for d in details])
    r = client.post(f"{API}/batches/{batch['id']}/result-file", headers={**bank.auth, "Idempotency-Key": "r1"},
                    data={"file": (io.BytesIO(answer), "回盘.txt")})
    assert r.status_code == 200, r.json
    assert r.json["paid_count"] == 3 and r.json["failed_count"] == 0

    # Each household once, into the head's card; the ward's money into the proxy's card (the ledger export).
    x = client.get(f"{API}/ledger/export.xlsx?project_id={project['id']}", headers=farm.auth)
    assert x.status_code == 200
    head, *entries = CalamineWorkbook.from_filelike(io.BytesIO(x.data)).get_sheet_by_index(0).to_python()
    col = {h: i for i, h in enumerate(head)}
    paid = {e[col["姓名"]]: (e[col["结果"]], int(e[col["金额（分）"]]), e[col["收款人（非本人时）"]] or None,
                             e[col["账号后四位"]]) for e in entries}
    assert len(entries) == 3
    assert paid == {xiao.name: ("成功", 26000, zhang.name, zhang.account[-4:]),
                    chen.name: ("成功", 26000, None, chen.account[-4:]),      # the head listed himself
                    wang.name: ("成功", 26000, li.name, li.account[-4:])}

    # 5. The scheduler's run: enqueue the arrivals and drain the outbox to the (fake) Twilio.
    tick()
    while drain_once().sent:
        pass
    by_phone: dict[str, list[str]] = {}
    for m in fake_twilio.messages:
        by_phone.setdefault(m.to.removeprefix("+86"), []).append(m.body)
    when = f"已于{value_date:%Y年%m月%d日}"
    period = "2026年11月耕地地力保护补贴260.00元"
    [to_member] = by_phone[xiao.mobile]
    assert f"您家的{period}（到户资金，归全户所有）{when}发放至户主张大山的社保卡（尾号{zhang.account[-4:]}）" in to_member
    [to_head] = by_phone[zhang.mobile]
    assert f"您家张小川名下的{period}（到户资金，归全户所有）{when}发放至您（户主）本人的社保卡（尾号{zhang.account[-4:]}）" \
        in to_head
    [to_chen] = by_phone[chen.mobile]
    assert f"您家的{period}（到户资金，归全户所有）{when}发放至您（户主）本人的社保卡（尾号{chen.account[-4:]}）" in to_chen
    [to_proxy] = by_phone[li.mobile]
    assert f"您代管的王老五家的{period}（到户资金，归全户所有）{when}发放至您的账户（尾号{li.account[-4:]}）" in to_proxy
    assert "专款用于本人" not in to_proxy       # the household's money, not the ward's alone
    [to_ward] = by_phone[wang.mobile]      # the ward's own number is told who received it
    assert f"您家的{period}（到户资金，归全户所有）{when}发放至代管人李秀英的账户（尾号{li.account[-4:]}）" in to_ward
    assert set(by_phone) == {xiao.mobile, zhang.mobile, chen.mobile, li.mobile, wang.mobile}
    assert all("身份证" not in body and zhang.account not in body for bodies in by_phone.values() for body in bodies)

    # 6. The risk check finds nothing; a household paid twice planted by SQL is found by the next run.
    run = client.post(f"{API}/oversight/risk-runs", headers=finance.auth, json={})
    assert run.status_code == 201, run.json
    found = client.get(f"{API}/oversight/risk-findings", headers=finance.auth).json["items"]
    assert found == []
    town_id = db.session.execute(sa.select(Town.id).where(Town.name == "泉林镇")).scalar_one()
    ids = dict(db.session.execute(sa.text("SELECT name, id FROM residents")).all())
    db.session.execute(sa.text(
        "INSERT INTO ledger_entries (line_id, batch_id, project_id, department_id, period, resident_id,"
        " payee_resident_id, route, bank_id, account_last4, town_id, amount_fen, outcome, occurred_at, recorded_at)"
        " VALUES (:line, :batch, :project, :dept, :period, :rid, :head, 'head_card', :bank, :last4, :town, 26000,"
        " 'paid', :at, :at)"),
        {"line": 900001, "batch": batch["id"], "project": project["id"], "dept": farm_id, "period": PERIOD,
         "rid": ids[li.name], "head": ids[zhang.name], "bank": banks["RCB"], "last4": zhang.account[-4:],
         "town": town_id, "at": "2026-11-21 02:00:00"})
    db.session.commit()
    run = client.post(f"{API}/oversight/risk-runs", headers=finance.auth, json={})
    assert run.status_code == 201, run.json
    found = client.get(f"{API}/oversight/risk-findings", headers=finance.auth).json["items"]
    assert [f["check"] for f in found] == ["household_paid_twice"]
    assert found[0]["evidence"]["household_code"] == "H001" and found[0]["evidence"]["payments"] == 2
    assert found[0]["amount_fen"] == 52000
