"""The console's 办理时限与节假日 page (under 投诉咨询): the administrator sees and changes the answer deadline in working
days and a year's calendar (a holiday or a 调休 working day with its name; deleting one), through the same core
functions as the staff API; refused to other positions, and for a bad date, kind, name or deadline (shown on the
form) and for deleting a day not listed."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from console.guard import new_nonce
from onecard.audit import AuditEntry
from onecard.complaints.models import Holiday
from onecard.timeutil import local_today
from tests.console.test_auth import login
from tests.console.test_pages import menu_keys
from tests.console.test_payments import client_for, press, text

PAGE = "/console/complaints/calendar"
API = "/api/staff/v1"


@pytest.fixture
def admin_staff(make_staff):
    return make_staff("admin", "rsj_admin")


def _days(db) -> dict[str, tuple[str, str]]:
    db.session.expire_all()
    return {h.day.isoformat(): (h.kind, h.name) for h in db.session.execute(sa.select(Holiday)).scalars()}


def _audited(db, action: str) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == action)).scalar()


def _due_today(html: str) -> str:
    return re.search(r'id="due-today">([\d-]+)<', html).group(1)


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_the_page_is_in_the_administrators_menu_under_complaints_and_refused_to_others(app, db, admin_staff,
                                                                                       make_staff, county):
    admin = client_for(app, admin_staff)
    assert "complaint_calendar" in menu_keys(admin)
    assert 'id="calendar-link"' in text(admin.get("/console/complaints"))
    html = text(admin.get(PAGE))
    assert f"{local_today().year}年节假日安排" in html and 'id="deadline-days">5<' in html   # a fresh install's default

    for role, scope in (("dept_operator", {"department_id": county["departments"]["县民政局"]}), ("finance", {}),
                        ("auditor", {})):
        staff = make_staff(role, f"cal_{role}", **scope)
        other = client_for(app, staff)
        assert "complaint_calendar" not in menu_keys(other)
        assert other.get(PAGE).status_code == 403
        if role == "dept_operator":
            assert 'id="calendar-link"' not in text(other.get("/console/complaints"))
        # A post carrying this member's own valid guard is still refused by the rule, and nothing changes.
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', text(other.get("/console/"))).group(1)
        for action, data in ((f"{PAGE}/deadline", {"working_days": "9"}),
                             (f"{PAGE}/days", {"day": "2027-10-01", "kind": "holiday", "name": "国庆节"})):
            r = other.post(action, data={"csrf_token": csrf, "form_nonce": new_nonce(staff.id), **data})
            assert r.status_code == 403, (role, action)
    assert _days(db) == {} and 'id="deadline-days">5<' in text(admin.get(PAGE))


def test_the_administrator_changes_the_deadline_and_a_bad_one_is_refused_on_the_form(client, app, db, admin_staff):
    admin = client_for(app, admin_staff)
    for bad in ("0", "61", "三", "-2", ""):
        r, _ = press(admin, PAGE, f"{PAGE}/deadline", working_days=bad)
        html = text(r)
        assert r.status_code == 422, bad
        assert "办理时限应为1至60个工作日" in html and 'id="deadline-error"' in html
        assert re.search(r'id="working-days"[^>]*aria-invalid="true"', html, re.S), bad
    assert _audited(db, "complaint.deadline_set") == 0

    r, fields = press(admin, PAGE, f"{PAGE}/deadline", working_days="7")
    assert r.status_code == 302
    html = text(admin.get(r.headers["Location"]))
    assert "答复期限已改为 7 个工作日" in html and 'id="deadline-days">7<' in html
    # The same core as the API: the API reads what the page wrote; the page's form acts once.
    assert client.get(f"{API}/complaint-settings", headers=admin_staff.auth).json == {"working_days": 7}
    again = admin.post(f"{PAGE}/deadline", data={**fields, "working_days": "7"}, follow_redirects=True)
    assert "该操作已处理" in text(again)
    assert _audited(db, "complaint.deadline_set") == 1


def test_holidays_and_workdays_are_added_and_deleted_and_the_deadline_follows_them(client, app, db, admin_staff):
    admin = client_for(app, admin_staff)
    r, _ = press(admin, PAGE, f"{PAGE}/deadline", working_days="1")
    assert r.status_code == 302
    today = local_today()
    first = _next_weekday(today)
    assert _due_today(text(admin.get(PAGE))) == first.isoformat()

    # The next working day becomes a holiday: today's complaint is due one working day later.
    r, _ = press(admin, PAGE, f"{PAGE}/days", day=first.isoformat(), kind="holiday", name="县庆")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"year={first.year}")
    html = text(admin.get(r.headers["Location"]))
    assert f"已登记 {first.isoformat()}：县庆（放假）" in html and f'data-day="{first.isoformat()}"' in html
    assert _due_today(html) == _next_weekday(first).isoformat()

    # A Saturday worked (调休), in another year: listed on that year's page, and the API sees both days.
    r, _ = press(admin, PAGE, f"{PAGE}/days", day="2027-10-09", kind="workday", name="国庆节调休")
    assert r.status_code == 302 and r.headers["Location"].endswith("year=2027")
    html = text(admin.get(f"{PAGE}?year=2027"))
    assert 'data-day="2027-10-09"' in html and "星期六" in html and "调休上班" in html
    assert _days(db)["2027-10-09"] == ("workday", "国庆节调休")
    listed = client.get(f"{API}/holidays", headers=admin_staff.auth).json
    assert {h["day"] for h in listed} == {first.isoformat(), "2027-10-09"}

    # Entering a listed day again changes it.
    r, _ = press(admin, f"{PAGE}?year=2027", f"{PAGE}/days", day="2027-10-09", kind="holiday", name="补休")
    assert r.status_code == 302 and _days(db)["2027-10-09"] == ("holiday", "补休")

    # Deleted: the deadline is counted on weekdays again; each change is audited.
    r, fields = press(admin, f"{PAGE}?year={first.year}", f"{PAGE}/days/{first.isoformat()}/delete")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"year={first.year}")
    html = text(admin.get(r.headers["Location"]))
    assert f"已删除 {first.isoformat()} 的节假日安排" in html and f'data-day="{first.isoformat()}"' not in html
    assert _due_today(html) == first.isoformat()
    assert first.isoformat() not in _days(db)
    assert _audited(db, "holiday.set") == 3 and _audited(db, "holiday.deleted") == 1


def test_a_bad_date_kind_or_name_is_refused_on_the_form_and_nothing_is_written(app, db, admin_staff):
    admin = client_for(app, admin_staff)
    cases = ((dict(day="2027-02-30", kind="holiday", name="春节"), "day"),
             (dict(day="", kind="holiday", name="春节"), "day"),
             (dict(day="2027-02-10", kind="festival", name="春节"), "kind"),
             (dict(day="2027-02-10", kind="holiday", name="  "), "name"),
             (dict(day="2027-02-10", kind="holiday", name="节" * 41), "name"))
    for data, field in cases:
        r, _ = press(admin, PAGE, f"{PAGE}/days", **data)
        html = text(r)
        assert r.status_code == 422, data
        assert 'id="day-error"' in html and 'role="alert"' in html, data
        # The field at fault is marked, and what was typed is still there to correct.
        ids = {"day": "day", "kind": "kind", "name": "holiday-name"}
        assert re.search(rf'id="{ids[field]}"[^>]*aria-invalid="true"', html, re.S), data
        if data["name"].strip():
            assert f'value="{data["name"]}"' in html, data
    assert _days(db) == {} and _audited(db, "holiday.set") == 0


def test_deleting_a_day_not_listed_is_refused_beside_the_calendar(app, db, admin_staff):
    admin = client_for(app, admin_staff)
    r, _ = press(admin, PAGE, f"{PAGE}/days", day="2027-01-01", kind="holiday", name="元旦")
    assert r.status_code == 302
    # The page's delete button, pressed twice in two tabs: the second finds the day gone.
    first_tab = text(admin.get(f"{PAGE}?year=2027"))
    second_tab = text(admin.get(f"{PAGE}?year=2027"))
    action = f"{PAGE}/days/2027-01-01/delete"
    from tests.console.test_payments import form_fields
    assert admin.post(action, data=form_fields(first_tab, action)).status_code == 302
    r = admin.post(action, data=form_fields(second_tab, action))
    assert r.status_code == 404
    assert "该日期不在节假日安排中" in text(r) and 'id="delete-error"' in text(r)

    # A day never listed, and a day that is not a date at all.
    guard = form_fields(text(admin.get(f"{PAGE}?year=2027")), f"{PAGE}/days")
    r = admin.post(f"{PAGE}/days/2027-05-05/delete", data=guard)
    assert r.status_code == 404 and "该日期不在节假日安排中" in text(r)
    r = admin.post(f"{PAGE}/days/2027-13-01/delete", data=guard)
    assert r.status_code == 422 and 'id="delete-error"' in text(r)
    assert _audited(db, "holiday.deleted") == 1


def test_a_year_the_calendar_cannot_hold_is_a_422_page(app, admin_staff):
    admin = client_for(app, admin_staff)
    for bad in ("1899", "abc", "20270"):
        r = admin.get(f"{PAGE}?year={bad}")
        assert r.status_code == 422 and "年份" in text(r), bad


def test_the_village_staff_never_see_the_page(app, make_staff, county):
    village = app.test_client()
    login(village, make_staff("village_staff", "cal_village", village_id=county["villages"][0]).username)
    assert "complaint_calendar" not in menu_keys(village)
    assert village.get(PAGE).status_code == 403
