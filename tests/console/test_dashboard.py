"""Dashboard figures from SQL, scoped per role, and the SVG charts that show them."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from console import charts
from onecard import dashboard
from onecard.payments.models import LedgerEntry
from onecard.projects.models import Project
from onecard.timeutil import SHANGHAI, utcnow
from tests.console.test_auth import login
from tests.factories import make_card, make_resident

_line = itertools.count(1)


def _project(db, department_id, name):
    p = Project(department_id=department_id, category="社会救助", name=name, cycle="monthly")
    db.session.add(p)
    db.session.flush()
    return p


def _ledger(db, project, resident, *, bank_id, amount_fen, outcome="paid", reason=None, at=None):
    db.session.execute(sa.insert(LedgerEntry).values(
        line_id=next(_line), batch_id=1, project_id=project.id,
        department_id=project.department_id, period="2026-11", resident_id=resident.id, route="own_card",
        bank_id=bank_id, account_last4="1234", town_id=resident.town_id, village_id=resident.village_id,
        amount_fen=amount_fen, outcome=outcome, failure_reason=reason, occurred_at=at or utcnow()))


def _county_data(db, county):
    t1, t2 = county["towns"]
    v1, v2 = county["villages"]
    banks, depts = county["banks"], county["departments"]
    people = [make_resident(t1, v1, name="甲"), make_resident(t1, v1, name="乙"), make_resident(t2, v2, name="丙")]
    make_card(people[0], banks["ICBC"], "active")
    make_card(people[1], banks["ABC"], "issued")
    make_card(people[2], banks["ICBC"], "active")
    mz = _project(db, depts["县民政局"], "最低生活保障金")
    cl = _project(db, depts["县残疾人联合会"], "重度残疾人护理补贴")
    _ledger(db, mz, people[0], bank_id=banks["ICBC"], amount_fen=50_000)
    _ledger(db, mz, people[2], bank_id=banks["ICBC"], amount_fen=30_000)
    _ledger(db, cl, people[1], bank_id=banks["ABC"], amount_fen=9_000)
    _ledger(db, mz, people[1], bank_id=banks["ABC"], amount_fen=50_000, outcome="failed", reason="账户已冻结")
    _ledger(db, cl, people[2], bank_id=banks["ICBC"], amount_fen=9_000, outcome="failed", reason="户名不符")
    _ledger(db, cl, people[0], bank_id=banks["ICBC"], amount_fen=9_000, outcome="failed", reason="户名不符")
    db.session.commit()
    return people


def test_card_status_by_town_is_scoped(db, make_staff, county):
    _county_data(db, county)
    t1, t2 = county["towns"]
    everything = dashboard.card_status_by_town(make_staff("finance").actor)
    assert {r["town"]: r["counts"] for r in everything} == {"济河街道": {"active": 1, "issued": 1},
                                                            "泗河街道": {"active": 1}}
    town = dashboard.card_status_by_town(make_staff("town_staff", town_id=t2).actor)
    assert [(r["town"], r["total"]) for r in town] == [("泗河街道", 1)]
    village = dashboard.card_status_by_town(make_staff("village_staff", village_id=county["villages"][0]).actor)
    assert [(r["town"], r["total"]) for r in village] == [("济河街道", 2)]
    bank = dashboard.card_status_by_town(make_staff("bank_operator", bank_id=county["banks"]["ICBC"]).actor)
    assert sum(r["total"] for r in bank) == 2


def test_department_sees_only_its_own_ledger(db, make_staff, county):
    _county_data(db, county)
    operator = make_staff("dept_operator", department_id=county["departments"]["县民政局"]).actor
    paid = dashboard.paid_by_month_and_project(operator)
    assert [name for name, _ in paid["projects"]] == ["最低生活保障金"]
    assert paid["total_fen"] == 80_000
    assert dashboard.failure_reasons(operator) == [{"reason": "账户已冻结", "count": 1, "amount_fen": 50_000}]
    everyone = dashboard.failure_reasons(make_staff("auditor").actor)
    assert everyone[0] == {"reason": "户名不符", "count": 2, "amount_fen": 18_000}
    board = dashboard.for_actor(operator)
    assert board.cards_by_town is None            # a department answers for payments, not for cards


def test_months_are_counted_in_shanghai_time(db, make_staff, county):
    people = _county_data(db, county)
    project = db.session.execute(sa.select(Project).where(Project.name == "最低生活保障金")).scalar_one()
    local_now = datetime.now(UTC).astimezone(SHANGHAI)
    month_start_local = local_now.replace(day=1, hour=1, minute=0, second=0, microsecond=0)
    # 01:00 on the 1st in Shanghai is 17:00 the day before in UTC: it belongs to this month.
    at = month_start_local.astimezone(UTC).replace(tzinfo=None)
    assert at.month != month_start_local.month or at.day != 1
    _ledger(db, project, people[0], bank_id=county["banks"]["ICBC"], amount_fen=1_00, at=at)
    # And one just before the window (13 months ago) is left out.
    _ledger(db, project, people[0], bank_id=county["banks"]["ICBC"], amount_fen=7_00,
            at=utcnow() - timedelta(days=400))
    db.session.commit()
    paid = dashboard.paid_by_month_and_project(make_staff("finance").actor)
    this_month = f"{local_now.year:04d}-{local_now.month:02d}"
    assert paid["months"][-1] == this_month and len(paid["months"]) == 12
    series = dict(paid["projects"])
    assert series["最低生活保障金"][-1] == 80_000 + 1_00
    assert paid["total_fen"] == 80_000 + 1_00 + 9_000


def test_dashboard_page_draws_accessible_svg_charts(client, make_staff, county, db):
    _county_data(db, county)
    staff = make_staff("admin", "chief")
    login(client, staff.username)
    body = client.get("/console/").get_data(as_text=True)
    assert body.count('<svg class="chart"') == 4
    assert 'role="img"' in body and "<title id=" in body and "<desc id=" in body
    for text in ("各镇街社保卡状态", "济河街道", "正常", "已发放未激活", "最低生活保障金", "户名不符", "账户已冻结"):
        assert text in body, text
    assert "查看数据表" in body and "800.00元" in body


def test_roles_without_a_figure_see_no_chart_for_it(client, make_staff, county, db):
    _county_data(db, county)
    staff = make_staff("dept_reviewer", department_id=county["departments"]["县民政局"])
    login(client, staff.username)
    body = client.get("/console/").get_data(as_text=True)
    assert "各镇街社保卡状态" not in body and "按月、按项目发放金额" in body
    assert "重度残疾人护理补贴" not in body


def test_charts_escape_labels_and_handle_no_data():
    svg = charts.bar("失败原因", "说明", [("<script>x</script>", 3)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and ">3<" in svg
    assert "暂无数据" in charts.bar("空", "说明", [])
    assert "暂无数据" in charts.stacked_columns("空", "说明", ["2026-11"], [("甲", [0])])
    line = charts.line("趋势", "说明", ["2026-10", "2026-11"], [("合计", [100, 250])])
    assert "<polyline" in line and ">250<" in line
    stacked = charts.stacked_bar("卡", "说明", [("济河街道", [5, 2])], ["正常", "挂失"])
    assert ">7<" in stacked and "正常" in stacked
