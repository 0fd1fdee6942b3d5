"""The demo county plants irregularities that finance's risk run finds, and publishes one 公示."""
from __future__ import annotations

import sqlalchemy as sa

from onecard import demo
from onecard.oversight.models import Disclosure
from onecard.staff import service


def test_demo_plants_what_the_risk_run_finds(client, db):
    ctx = demo.build(residents=600, seed=2021)
    planted = ctx.oversight_planted
    assert set(planted) >= {"paid_deceased", "category_mismatch", "unactivated_card", "shared_account",
                            "above_standard", "proxy_many_wards"}
    token = service.login("finance", demo.DEMO_PASSWORD).token
    auth = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/staff/v1/oversight/risk-runs", headers=auth, json={})
    assert r.status_code == 201, r.json
    items = client.get("/api/staff/v1/oversight/risk-findings", headers=auth,
                       query_string={"per_page": 200}).json["items"]
    found = {(f["check"], f["resident_id"]) for f in items}
    for check in ("paid_deceased", "category_mismatch", "unactivated_card", "above_standard", "proxy_many_wards"):
        assert (check, planted[check]) in found, check
    shared = [f for f in items if f["check"] == "shared_account"]
    assert any({p["resident_id"] for p in f["evidence"]["people"]} == set(planted["shared_account"]) for f in shared)

    published = db.session.execute(sa.select(Disclosure).where(Disclosure.status == "published")).scalars().all()
    assert len(published) == 1
    page = client.get(f"/public/disclosures/{published[0].id}")
    assert page.status_code == 200 and "发放名单公示" in page.get_data(as_text=True)
    stats = client.get("/api/staff/v1/oversight/stats", headers=auth).json["dimensions"]
    assert sum(r["paid_count"] for r in stats["department"]) > 0
    assert sum(r["recipients"] for r in stats["department"]) > 0
    progress = client.get("/api/staff/v1/oversight/progress", headers=auth).json
    assert any(s["status"] == "done" for d in progress["departments"] for s in d["steps"])
