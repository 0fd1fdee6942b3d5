"""The public 公示 page in headless Chromium at a phone's size: readable (16 px at least, 长辈版, pages of 30,
a village picker), fitting the screen, and never an unmasked name or ID."""
from __future__ import annotations

import pytest

from tests.browser import SHOTS, axe_problems, needs_chromium
from tests.factories import make_resident

pytestmark = needs_chromium

SMALLEST_TEXT = """() => {
  let smallest = 1000;
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (own && el.getClientRects().length) smallest = Math.min(smallest, parseFloat(getComputedStyle(el).fontSize));
  }
  return smallest;
}"""


@pytest.mark.parametrize("big", [False, True], ids=["standard", "elderly"])
def test_public_disclosure_on_a_phone(live_server, browser, client, finance, ov, county, big):
    t, v = county["towns"][0], county["villages"][0]
    t2, v2 = county["towns"][1], county["villages"][1]
    project = ov.project("县民政局", "高龄津贴")
    people = [make_resident(t, v, name=n) for n in ("张三明", "欧阳小明", "孔令辉", "颜回")]
    people += [make_resident(t2, v2, name=f"西峪{i:02d}") for i in range(40)]
    for r in people:
        ov.pay(r, project, "2026-03", 10000)
    d = client.post("/api/staff/v1/oversight/disclosures", headers=finance.auth,
                    json={"project_id": project.id, "period": "2026-03"}).json
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
                            has_touch=True)
    page.goto(live_server + "/public/disclosures")
    assert not axe_problems(page, "public_list")
    if big:
        page.click("#mode-switch")
        page.wait_for_url("**big=1")
    page.click("text=高龄津贴（2026-03）发放名单公示")
    page.wait_for_url(f"**/public/disclosures/{d['id']}*")
    assert page.evaluate("document.body.className") == ("big" if big else "")
    assert page.locator("#rows li").count() == 30 and "第 1 / 2 页" in page.inner_text("#count")
    page.click("#next")
    page.wait_for_url("**page=2")
    assert page.locator("#rows li").count() == 14
    assert page.evaluate(SMALLEST_TEXT) >= (20 if big else 16)
    assert not axe_problems(page, "public_disclosure")                    # contrast included
    assert page.evaluate("document.documentElement.scrollWidth") <= 390      # no sideways scrolling
    page.select_option("#village", label="济河街道东庄村")
    page.click("#filter")
    page.wait_for_url("**village=*")
    text = page.inner_text("body")
    assert page.locator("#rows li").count() == 4 and "西峪" not in page.inner_text("#rows")
    assert "张*明" in text and "欧**明" in text and "颜*" in text
    for person in people[:4]:
        assert person.name not in text and person.id_number not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / f"public_disclosure_phone_{'elderly' if big else 'standard'}.png"),
                    full_page=True)
    assert page.locator("a.btn", has_text="下载公示名单").count() == 1
    page.close()
