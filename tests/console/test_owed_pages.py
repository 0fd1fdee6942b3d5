"""The console's 应发未发 page: the owed lines with their filters (project, town, village, reason), the totals by
town, village and reason with the oldest age, and the owning department's cancellation with a reason; refused
for a role that may not cancel, without a reason, and for another department's line."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from console.guard import new_nonce
from onecard.audit import AuditEntry
from onecard.payments.models import BatchLine
from onecard.timeutil import local_day_start, local_today
from tests.console.test_auth import login
from tests.console.test_pages import menu_keys
from tests.console.test_payments import client_for, form_fields, press, text
from tests.onecard.payments.test_flow import post
from tests.onecard.payments.test_owed import lines_of, owed_since, pay_through

PAGE = "/console/owed-payments"
REASON = "本人已迁出本县，经核实不再发放"


@pytest.fixture
def owed_world(client, pay, pension_list):
    """October's pension paid: 孙玉凤 (lost card, town 0) held; 李建国's credit (town 1) returned by the bank."""
    batch = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, batch)
    lines = {x["name"]: x for x in lines_of(client, pay, batch["id"])}
    r = post(client, "/payment-returns", pay.rcb, line_id=lines["李建国"]["id"], amount_fen=18300,
             reason="账户已销户", returned_on=local_today().isoformat())
    assert r.status_code == 201, r.json
    return {"held": lines["孙玉凤"]["id"], "returned": lines["李建国"]["id"], "paid": lines["王秀英"]["id"]}


def _rows(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-line="(\d+)"', html)}


def _guard(client, staff) -> dict:
    """This signed-in client's own CSRF token and a fresh form nonce minted for ``staff``: what any acting form of
    its own pages would carry (so the refusal tested is the rule's, not the guard's)."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/console/"))).group(1)
    return {"csrf_token": csrf, "form_nonce": new_nonce(staff.id)}


def _status(db, line_id) -> str:
    db.session.expire_all()
    return db.session.get(BatchLine, line_id).status


def test_the_menu_shows_owed_payments_to_the_roles_that_may_read_them(app, pay, make_staff, county):
    assert "owed" in menu_keys(client_for(app, pay.operator))
    assert "owed" in menu_keys(client_for(app, pay.finance))
    town = app.test_client()
    login(town, make_staff("town_staff", "zj_owed", town_id=county["towns"][0]).username)
    assert "owed" in menu_keys(town)
    bank = client_for(app, pay.rcb)
    assert "owed" not in menu_keys(bank)
    assert bank.get(PAGE).status_code == 403


def test_owed_lines_are_filtered_and_totalled_by_town_village_and_reason(app, pay, owed_world, make_staff, county):
    op = client_for(app, pay.operator)
    html = text(op.get(PAGE))
    assert _rows(html) == {owed_world["held"], owed_world["returned"]}
    assert "暂缓" in html and "已退汇" in html and "账户已销户" in html and "挂失" in html
    # The totals: one line in each town, each village and for each reason, with its age (0 days: today).
    for by in ("town", "village", "reason"):
        table = html[html.index(f'id="owed-by-{by}"'):]
        table = table[:table.index("</table>")]
        assert re.findall(r'<td class="num">(\d+)</td><td class="num">([\d.]+)元</td>', table) == [
            ("1", "183.00"), ("1", "183.00")], by
    assert f'data-cancel="{owed_world["held"]}"' in html

    towns, villages = county["towns"], county["villages"]
    assert _rows(text(op.get(f"{PAGE}?town_id={towns[0]}"))) == {owed_world["held"]}
    assert _rows(text(op.get(f"{PAGE}?village_id={villages[1]}"))) == {owed_world["returned"]}
    assert _rows(text(op.get(PAGE, query_string={"reason": "退汇：账户已销户"}))) == {owed_world["returned"]}
    assert _rows(text(op.get(f"{PAGE}?project_id={pay.household.id}"))) == set()
    assert _rows(text(op.get(f"{PAGE}?project_id={pay.pension.id}"))) == {owed_world["held"], owed_world["returned"]}

    # Village staff see their own village's line only, and no cancel form; another department sees nothing.
    village = app.test_client()
    login(village, make_staff("village_staff", "cx_owed", village_id=villages[1]).username)
    html = text(village.get(PAGE))
    assert _rows(html) == {owed_world["returned"]} and "data-cancel" not in html
    assert _rows(text(client_for(app, pay.agri_operator).get(PAGE))) == set()


def _band_cells(html: str, by: str) -> list[dict[str, str]]:
    """Each row of a totals table: its age band cells as {band: text} (笔数 and 金额, or — when none)."""
    table = html[html.index(f'id="owed-by-{by}"'):]
    table = table[:table.index("</table>")]
    return [dict(re.findall(r'data-band="([a-z0-9_]+)">(.*?)</td>', row))
            for row in re.findall(r'<tr data-group="[a-z]+">(.*?)</tr>', table, re.S)]


def test_the_totals_show_owed_money_by_age_band(app, db, pay, owed_world):
    # 孙玉凤's hold (town 0) is 100 days old; 李建国's return (town 1) is today's.
    owed_since(db, {owed_world["held"]: local_day_start(local_today() - timedelta(days=100)) + timedelta(hours=9)})
    html = text(client_for(app, pay.operator).get(PAGE))
    for title in ("不满30天", "30至90天", "91至180天", "180天以上"):
        assert f'<th scope="col">{title}</th>' in html
    rows = _band_cells(html, "town")
    assert sorted(rows, key=lambda r: r["under_30"]) == sorted([
        {"under_30": "—", "30_90": "—", "91_180": "1 笔<br>183.00元", "over_180": "—"},
        {"under_30": "1 笔<br>183.00元", "30_90": "—", "91_180": "—", "over_180": "—"}],
        key=lambda r: r["under_30"])
    assert [r["91_180"] for r in _band_cells(html, "reason")].count("1 笔<br>183.00元") == 1
    # The oldest age beside the bands.
    assert re.search(r'data-band="over_180">—</td>\s*<td class="num">100</td>', html)


def test_the_owning_department_cancels_an_owed_line_with_a_reason_audited(app, db, pay, owed_world):
    op = client_for(app, pay.operator)
    held = owed_world["held"]
    action = f"{PAGE}/{held}/cancel"

    # Without a reason: refused beside the form, nothing changes.
    r, _ = press(op, PAGE, action, reason="  ")
    assert r.status_code == 422 and f'id="cancel-error-{held}"' in text(r)
    assert _status(db, held) == "held"

    # On a page filtered by reason, the filter's copy in the form never stands in for the cancellation's reason.
    returned = owed_world["returned"]
    filtered = f"{PAGE}?reason=" + quote("退汇：账户已销户")
    r, _ = press(op, filtered, f"{PAGE}/{returned}/cancel", reason="")
    assert r.status_code == 422 and _status(db, returned) == "returned"

    r, fields = press(op, f"{PAGE}?town_id={pay.county['towns'][0]}", action, reason=REASON,
                      filter_town_id=str(pay.county["towns"][0]))     # the form's copy of the page's filter
    assert r.status_code == 302 and f"town_id={pay.county['towns'][0]}" in r.headers["Location"]
    assert "原因已记入审计" in text(op.get(r.headers["Location"]))
    assert _status(db, held) == "cancelled"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "payment.owed_cancelled")).scalar_one()
    assert entry.note == REASON and entry.entity_id == str(held) and entry.actor_id == pay.operator.id
    # The same form again (double click, back button): acts once.
    again = op.post(action, data={**fields, "reason": REASON}, follow_redirects=True)
    assert "该操作已处理" in text(again)
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "payment.owed_cancelled")).scalar() == 1
    assert held not in _rows(text(op.get(PAGE)))

    # A returned line is written off (已核销) the same way.
    r, _ = press(op, PAGE, f"{PAGE}/{returned}/cancel", reason="家属书面申请放弃")
    assert r.status_code == 302 and _status(db, returned) == "written_off"


def test_cancel_is_refused_to_other_roles_other_departments_and_lines_not_owed(app, db, pay, owed_world):
    held, paid = owed_world["held"], owed_world["paid"]
    op = client_for(app, pay.operator)
    guard = form_fields(text(op.get(PAGE)), f"{PAGE}/{held}/cancel")

    # Finance reads the list but may not cancel: no form, and a post with its own valid guard is the 403 page.
    finance = client_for(app, pay.finance)
    html = text(finance.get(PAGE))
    assert held in _rows(html) and "data-cancel" not in html
    r = finance.post(f"{PAGE}/{held}/cancel", data={**_guard(finance, pay.finance), "reason": REASON})
    assert r.status_code == 403
    assert _status(db, held) == "held"

    # Another department's operator, with a guard of its own: the line does not exist for it.
    agri = client_for(app, pay.agri_operator)
    r = agri.post(f"{PAGE}/{held}/cancel", data={**_guard(agri, pay.agri_operator), "reason": REASON})
    assert r.status_code == 404 and "明细不存在" in text(r)
    assert _status(db, held) == "held"

    # A paid line is not owed: refused with the service's words.
    paid_guard = dict(guard)
    r = op.post(f"{PAGE}/{paid}/cancel", data={**paid_guard, "reason": REASON})
    assert r.status_code == 409 and "不是待发放的明细" in text(r)
    assert _status(db, paid) == "paid"
