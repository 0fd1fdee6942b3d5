"""axe-core over every console page each position sees (its whole menu), plus the card-work detail pages,
in headless Chromium at 1366x768: no critical or serious accessibility violation anywhere."""
from __future__ import annotations

import re

import pytest

from onecard.cards.models import CardApplication
from tests.browser import SHOTS, axe_problems, needs_chromium
from tests.conftest import TEST_PASSWORD
from tests.console.test_dashboard import _county_data
from tests.factories import make_card, make_resident

pytestmark = needs_chromium


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def _walk(page, base: str, who: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Every console page of the menu (and ``extra``) with its axe findings; also the H5 ones it links to."""
    hrefs = page.eval_on_selector_all("nav a[data-menu]", "els => els.map(e => e.getAttribute('href'))")
    assert len(hrefs) >= 3, f"{who}: the menu was not found"     # the walk itself cannot pass empty
    problems: list[str] = []
    for href in [*dict.fromkeys(hrefs), *extra]:
        page.goto(base + href)
        name = f"console_{who}_{re.sub(r'[^a-z0-9]+', '_', href.lower()).strip('_')}"
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        problems += axe_problems(page, name)
    return problems


@pytest.mark.parametrize("role,scope", [
    ("admin", {}), ("finance", {}), ("auditor", {}), ("dept_operator", {"department_id": "县民政局"}),
    ("dept_reviewer", {"department_id": "县民政局"}), ("bank_operator", {"bank_id": "ICBC"}),
    ("town_staff", {"town_id": 0}), ("village_staff", {"village_id": 0}),
])
def test_every_console_page_of_each_position_passes_axe(live_server, browser, make_staff, county, db, role, scope):
    _county_data(db, county)
    resolved = {}
    for key, value in scope.items():
        resolved[key] = {"department_id": lambda v: county["departments"][v], "bank_id": lambda v: county["banks"][v],
                         "town_id": lambda v: county["towns"][v], "village_id": lambda v: county["villages"][v]
                         }[key](value)
    staff = make_staff(role, f"axe_{role}", **resolved)
    extra: tuple[str, ...] = ("/console/alerts",)     # 工作提醒: the top bar's link, on every page
    from onecard.alerts import service as alerts
    alerts.raise_alert("job_missed", f"axe:{role}", "定时任务 files.purge 自调度进程启动以来从未成功运行。")
    db.session.commit()
    if role == "bank_operator":       # the bank's 制卡 view of one applicant
        resident = make_resident(county["towns"][0], county["villages"][0], name="颜丽华")
        card = make_card(resident, county["banks"]["ICBC"], "applied")
        application = CardApplication(resident_id=resident.id, card_id=card.id, bank_id=county["banks"]["ICBC"],
                                      delivery="post", postal_address="东庄村3组")
        db.session.add(application)
        db.session.commit()
        extra += (f"/console/card-applications/{application.id}",)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    _sign_in(page, live_server, staff.username)
    problems = _walk(page, live_server, role, extra)
    context.close()
    assert not problems, "\n".join(problems)
