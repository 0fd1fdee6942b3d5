"""The public 公示 page in headless Chromium at a phone's size: readable, and never an unmasked name or ID."""
from __future__ import annotations

from tests.browser import SHOTS, needs_chromium
from tests.factories import make_resident

pytestmark = needs_chromium


def test_public_disclosure_on_a_phone(live_server, browser, client, finance, ov, county):
    t, v = county["towns"][0], county["villages"][0]
    project = ov.project("县民政局", "高龄津贴")
    people = [make_resident(t, v, name=n) for n in ("张三明", "欧阳小明", "孔令辉", "颜回")]
    for r in people:
        ov.pay(r, project, "2026-03", 10000)
    d = client.post("/api/staff/v1/oversight/disclosures", headers=finance.auth,
                    json={"project_id": project.id, "period": "2026-03"}).json
    page = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                            has_touch=True)
    page.goto(live_server + "/public/disclosures")
    page.click("text=高龄津贴（2026-03）发放名单公示")
    page.wait_for_url(f"**/public/disclosures/{d['id']}")
    text = page.inner_text("body")
    assert "张*明" in text and "欧**明" in text and "颜*" in text
    for person in people:
        assert person.name not in text and person.id_number not in text
    html = page.content()
    for person in people:
        assert person.id_number not in html
    # Fits the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(SHOTS / "public_disclosure_phone.png"), full_page=True)
    assert page.locator("a.btn", has_text="下载公示名单").count() == 1
