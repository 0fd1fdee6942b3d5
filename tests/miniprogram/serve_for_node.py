"""The WeChat side of the mini-program's Node tests, beside the real citizen API they drive.

The mini-program's pages (``miniprogram/``) run under Node with miniprogram-simulate; their ``wx.request`` and
``wx.uploadFile`` go over real HTTP to the citizen API served from a thread, and the API exchanges
``wx.login`` codes with the fake api.weixin.qq.com (``tests/fakes/wechat.py``). What WeChat's own client and
the resident's phone would supply comes from this small HTTP server, ``MiniProgramControl``:

* ``POST /wx/login {"openid"}`` -> ``{"code"}``: a wx.login code minted by the fake WeChat for that openid;
* ``POST /residents {"card", "bound", "paid", "failed", "assisted", "name"}`` -> a new resident (known
  fixtures, one per test, so tests never depend on each other's changes);
* ``GET /sms?resident_id=`` -> ``{"code"}``: the last verification code texted to that resident's phone;
* ``POST /complaints/reply {"resident_id", "text"}``: the department answers the resident's newest open case
  (``onecard.complaints.cases.reply``, as its clerk would in the console);
* ``POST /tokens/expire {"token"}``: the token's expiry moves into the past (the same as waiting it out);
* ``POST /demo/pick``: the demo step that picks the development login's demo residents (``onecard demo``);
* ``POST /limits/reset``: empty rate-limit counters between tests (each test is a different phone in life).

It answers only on 127.0.0.1 and exists only for the tests.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa

from onecard import tokens
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.staff.models import AuthToken
from onecard.timeutil import utcnow
from tests.factories import make_card, make_resident
from tests.fakes.http import FakeHTTPServer, RecordedRequest, Reply
from tests.fixtures_citizen import add_ledger, make_project

CARD_STATUSES = {"none", "applied", "issued", "active", "lost"}


class MiniProgramControl(FakeHTTPServer):
    def __init__(self, app, wechat, county, village_staff_actor=None):
        super().__init__()
        self.app, self.wechat, self.county = app, wechat, county
        self.village_staff_actor = village_staff_actor
        self._serial = 0
        with app.app_context():
            self.projects = [make_project(county["departments"]["县民政局"], "高龄津贴"),
                             make_project(county["departments"]["县农业农村局"], "耕地地力保护补贴",
                                          standard_fen=None)]
            self.project_ids = [p.id for p in self.projects]
            self.bank_id = next(iter(county["banks"].values()))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, req: RecordedRequest) -> Reply:
        routes = {("POST", "/wx/login"): self._login, ("POST", "/residents"): self._resident,
                  ("GET", "/sms"): self._sms, ("POST", "/tokens/expire"): self._expire,
                  ("POST", "/limits/reset"): self._reset_limits, ("POST", "/demo/pick"): self._pick_demo,
                  ("POST", "/complaints/reply"): self._reply}
        route = routes.get((req.method, req.path))
        if route is None:
            return Reply(404, {"error": f"no control route {req.method} {req.path}"})
        with self.app.app_context():
            try:
                return Reply(200, route(req.json or dict(req.query)))
            finally:
                db.session.remove()

    def _login(self, body: dict) -> dict:
        return {"code": self.wechat.login(body["openid"])}

    def _resident(self, body: dict) -> dict:
        card = body.get("card", "active")
        if card not in CARD_STATUSES:
            raise ValueError(f"card must be one of {sorted(CARD_STATUSES)}")
        self._serial += 1
        village = self.county["villages"][0]
        name = body.get("name") or "王秀英"
        r = make_resident(self.county["towns"][0], village, name=name, commit=False)
        openid = f"o_mp_{self._serial}" if body.get("bound", True) else None
        r.wechat_openid = openid
        db.session.commit()
        if card != "none":
            make_card(r, self.bank_id, status=card)
        # Paid arrivals, newest first on screen: one a month going back from January 2026.
        for n in range(int(body.get("paid", 0))):
            month = datetime(2026, 1, 15, 2, 0) - timedelta(days=31 * n)
            add_ledger(r, self.projects[0], self.bank_id, period=month.strftime("%Y-%m"), amount_fen=10000 + n,
                       occurred_at=month)
        if body.get("failed"):
            add_ledger(r, self.projects[1], self.bank_id, period="2026-02", amount_fen=6800, outcome="failed",
                       occurred_at=datetime(2026, 2, 10, 2, 0), failure_reason="账户已销户")
        if body.get("assisted"):
            from onecard.notices import service as notices
            notices.set_sms_opt_out(self.village_staff_actor(), r.id, True)
        return {"id": r.id, "name": name, "id_number": r.id_number, "openid": openid,
                "mobile_masked": r.mobile_masked}

    def _sms(self, body: dict) -> dict:
        from onecard.citizens import sms
        mobile = db.session.get(Resident, int(body["resident_id"])).mobile
        for message in reversed(sms.console_outbox):
            if message["mobile"] == mobile:
                return {"code": re.search(r"验证码(\d{6})", message["text"]).group(1)}
        return {"code": None}

    def _reply(self, body: dict) -> dict:
        from onecard.actors import SYSTEM
        from onecard.complaints import cases
        from onecard.complaints.models import Complaint
        complaint = db.session.execute(sa.select(Complaint).where(
            Complaint.resident_id == int(body["resident_id"]), Complaint.status == "open")
            .order_by(Complaint.id.desc()).limit(1)).scalar_one()
        cases.reply(SYSTEM, complaint.id, body.get("text") or "已核实，款项将随下一批发放。")
        return {"id": complaint.id}

    def _expire(self, body: dict) -> dict:
        expired = db.session.execute(sa.update(AuthToken).where(AuthToken.token_hash == tokens.digest(body["token"]))
                                     .values(expires_at=utcnow() - timedelta(minutes=1))).rowcount
        db.session.commit()
        return {"expired": expired}

    def _reset_limits(self, body: dict) -> dict:
        from onecard.web.ratelimit import limiter
        limiter.reset()
        return {"reset": True}

    def _pick_demo(self, body: dict) -> dict:
        from onecard.citizens import demo
        demo.run(None)
        return {"residents": len(demo.demo_residents())}
