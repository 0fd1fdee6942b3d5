"""The H5 complaint case buttons in headless Chromium at a phone's size: the resident sends an answered case back
with a reason, then confirms the next answer, by plain form posts (the page has no script of its own; the test
client checks that); in 长辈版 every control is at least 60x60 and axe-core finds no serious problem, the refusal
beside the form included."""
from __future__ import annotations

import pytest

from onecard.complaints.models import Complaint
from tests.browser import needs_chromium
from tests.citizen_app import test_browser
from tests.citizen_app.test_browser import _measure, _set_mode, _sign_in, _submit
from tests.factories import make_resident

page = test_browser.page      # the phone-sized page fixture (390x844)
pytestmark = [pytest.mark.usefixtures("citizen_env"), *needs_chromium]


@pytest.mark.parametrize("elderly", [False, True], ids=["standard", "elderly"])
def test_the_resident_reopens_and_confirms_a_case_on_a_phone(live_server, page, client, db, county, make_staff,
                                                              elderly):
    base = live_server
    operator = make_staff("dept_operator", "rs_tsb", department_id=county["departments"]["县人力资源社会保障局"])
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔令秀")
    _set_mode(page, base, elderly)
    _sign_in(page, base, resident)
    page.goto(f"{base}/m/complaints")
    page.fill("#text", "十月的养老金没有到账")
    _submit(page, "#submit-complaint")
    case = db.session.query(Complaint).one()

    def reply(text):
        db.session.expire_all()          # the live server changed the case since this session last read it
        r = client.post(f"/api/staff/v1/complaints/{case.id}/reply", headers=operator.auth, json={"reply": text})
        assert r.status_code == 200, r.json

    reply("已核实，卡未激活，激活后随下一批发放")
    page.goto(f"{base}/m/complaints")
    _measure(page, "complaint_answered", elderly)
    _submit(page, f"#reopen-{case.id}")                      # no reason: the browser itself does not block it
    assert "不满意的原因" in page.inner_text(f"#case-error-{case.id}")
    _measure(page, "complaint_reopen_error", elderly)
    page.fill(f"#reopen-text-{case.id}", "卡已经激活了，钱还是没到")
    _submit(page, f"#reopen-{case.id}")
    assert "会重新办理" in page.inner_text("main")
    assert page.query_selector(f"#confirm-{case.id}") is None

    reply("已随十一月批次补发十月养老金")
    page.goto(f"{base}/m/complaints")
    _submit(page, f"#confirm-{case.id}")
    assert "已确认办结" in page.inner_text("main") and page.query_selector(f"#reopen-{case.id}") is None
    _measure(page, "complaint_closed", elderly)
    db.session.expire_all()
    assert db.session.get(Complaint, case.id).status == "closed"
