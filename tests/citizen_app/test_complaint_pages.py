"""The H5 complaints page's case buttons: once the department has answered, the resident confirms (确认办结) or,
not satisfied, gives a reason and sends the case back (不满意重新办理), with plain forms that work without
JavaScript; the buttons appear only when the case's state allows it, a step the state does not allow and another
resident's complaint are refused in plain Chinese, and nothing changes."""
from __future__ import annotations

import re

import pytest

from onecard.complaints.models import Complaint
from tests.factories import make_resident

pytestmark = pytest.mark.usefixtures("citizen_env")
STAFF = "/api/staff/v1"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _phone(app, resident):
    """A phone browser signed in (dev login) as ``resident``."""
    phone = app.test_client()
    token = _csrf(phone.get("/m/login").get_data(as_text=True))
    assert phone.post("/m/login", data={"csrf_token": token, "resident_id": str(resident.id)}).status_code == 302
    return phone


def _file(phone, text: str) -> int:
    page = phone.get("/m/complaints").get_data(as_text=True)
    r = phone.post("/m/complaints", data={"csrf_token": _csrf(page), "text": text, "ledger_entry_id": ""})
    assert r.status_code == 200 and "您的问题已提交" in r.get_data(as_text=True)
    return max(int(x) for x in re.findall(r'id="complaint-(\d+)"', r.get_data(as_text=True)))


def _step(phone, complaint_id: int, step: str, **data):
    page = phone.get("/m/complaints").get_data(as_text=True)
    return phone.post(f"/m/complaints/{complaint_id}/{step}", data={"csrf_token": _csrf(page), **data})


def _state(db, complaint_id: int) -> Complaint:
    db.session.expire_all()
    return db.session.get(Complaint, complaint_id)


@pytest.fixture
def hrss_operator(make_staff, county):
    return make_staff("dept_operator", "rs_ts", department_id=county["departments"]["县人力资源社会保障局"])


def _reply(client, staff, complaint_id: int, text: str) -> None:
    r = client.post(f"{STAFF}/complaints/{complaint_id}/reply", headers=staff.auth, json={"reply": text})
    assert r.status_code == 200, r.json


def test_the_resident_reopens_then_confirms_an_answered_complaint_on_the_h5_page(app, client, db, county,
                                                                                 hrss_operator):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔令秀")
    phone = _phone(app, resident)
    cid = _file(phone, "十月的养老金没有到账")

    # Not answered yet: no buttons, and a confirm sent anyway is refused; the case stays open.
    html = phone.get("/m/complaints").get_data(as_text=True)
    assert f'id="confirm-{cid}"' not in html and f'id="reopen-{cid}"' not in html
    r = _step(phone, cid, "confirm")
    assert r.status_code == 409 and "只有已答复的投诉咨询可以确认办结" in r.get_data(as_text=True)
    assert f'id="case-error-{cid}"' in r.get_data(as_text=True)
    assert _state(db, cid).status == "open"

    _reply(client, hrss_operator, cid, "已核实，卡未激活，激活后随下一批发放")
    html = phone.get("/m/complaints").get_data(as_text=True)
    assert "已答复，待确认" in html and f'id="confirm-{cid}"' in html and f'id="reopen-{cid}"' in html
    assert "<script" not in html.split("<main>")[1]        # plain forms: no script needed

    # Not satisfied, but no reason given: refused beside the form, the case still waits for the resident.
    r = _step(phone, cid, "reopen", text="   ")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "不满意的原因" in page and 'aria-invalid="true"' in page
    assert _state(db, cid).status == "replied"

    r = _step(phone, cid, "reopen", text="卡已经激活了，钱还是没到")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/m/complaints?done=reopen#complaint-{cid}")
    case = _state(db, cid)
    assert case.status == "open" and case.reopened_count == 1
    html = phone.get(r.headers["Location"]).get_data(as_text=True)
    assert "会重新办理" in html and "待答复" in html and f'id="confirm-{cid}"' not in html

    _reply(client, hrss_operator, cid, "已随十一月批次补发十月养老金")
    r = _step(phone, cid, "confirm")
    assert r.status_code == 302
    assert _state(db, cid).status == "closed"
    html = phone.get(r.headers["Location"]).get_data(as_text=True)
    assert "已确认办结" in html and "已办结" in html
    assert f'id="confirm-{cid}"' not in html and f'id="reopen-{cid}"' not in html
    # Closed: a second confirm or a reopen (an old page, the back button) is refused, nothing changes.
    r = _step(phone, cid, "confirm")
    assert r.status_code == 409 and "只有已答复的投诉咨询可以确认办结" in r.get_data(as_text=True)
    r = _step(phone, cid, "reopen", text="再看看")
    assert r.status_code == 409 and "只有已答复的投诉咨询可以重新办理" in r.get_data(as_text=True)
    assert _state(db, cid).status == "closed" and _state(db, cid).reopened_count == 1


def test_another_residents_complaint_cannot_be_confirmed_or_reopened(app, client, db, county, hrss_operator):
    mine = make_resident(county["towns"][0], county["villages"][0], name="孟庆华")
    theirs = make_resident(county["towns"][1], county["villages"][1], name="颜丽华")
    their_case = _file(_phone(app, theirs), "高龄津贴什么时候发")
    _reply(client, hrss_operator, their_case, "每月十日前发放")
    phone = _phone(app, mine)
    assert f'id="complaint-{their_case}"' not in phone.get("/m/complaints").get_data(as_text=True)
    for step, data in (("confirm", {}), ("reopen", {"text": "不满意"})):
        r = _step(phone, their_case, step, **data)
        assert r.status_code == 404 and "没有找到这条投诉咨询" in r.get_data(as_text=True)
    assert _state(db, their_case).status == "replied" and _state(db, their_case).reopened_count == 0


def test_the_case_buttons_need_the_pages_csrf_token_and_keep_large_in_elderly_mode(app, client, db, county,
                                                                                   hrss_operator):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔繁荣")
    phone = _phone(app, resident)
    cid = _file(phone, "补贴金额不对")
    _reply(client, hrss_operator, cid, "按标准核定为每月183元")
    r = phone.post(f"/m/complaints/{cid}/confirm", data={})
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    assert _state(db, cid).status == "replied"
    page = phone.get("/m/complaints").get_data(as_text=True)
    phone.post("/m/elderly", data={"csrf_token": _csrf(page), "on": "1", "next": "/m/complaints"})
    html = phone.get("/m/complaints").get_data(as_text=True)
    assert 'class="elderly"' in html and f'id="confirm-{cid}"' in html and f'id="reopen-{cid}"' in html
    # Signed out: the step is not taken, the browser goes to login.
    assert app.test_client().post(f"/m/complaints/{cid}/confirm").status_code in (302, 400)
