"""The village-assisted mode through the staff API: consent first (SMS code, or a signed form a second person
confirms), nothing read before it, the resident told by SMS of every act, searches by ID never in a URL."""
from __future__ import annotations

import io
import logging
from datetime import datetime

import pytest
import sqlalchemy as sa
from PIL import Image

from onecard.audit import AuditEntry
from onecard.citizens import sms
from onecard.citizens.models import AssistConsent
from onecard.extensions import db
from tests.factories import make_card, make_resident
from tests.fixtures_citizen import JPEG, PNG, add_ledger, last_code, make_project

pytestmark = pytest.mark.usefixtures("citizen_env")
API = "/api/citizen/v1"
ASSIST = "/api/staff/v1/assist"


def picture(width: int = 600, height: int = 800) -> bytes:
    """A real, decodable JPEG (a photographed form)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 245)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def resident(county):
    return make_resident(county["towns"][0], county["villages"][0], name="王秀英")


@pytest.fixture
def village_staff(make_staff, county):
    return make_staff("village_staff", village_id=county["villages"][0])


@pytest.fixture
def town_staff(make_staff, county):
    return make_staff("town_staff", town_id=county["towns"][0])


def texts_to(mobile: str) -> list[str]:
    """What the resident is told: the verification codes sent at once, and the outbox's assist notices (sent by
    the drainer, exactly once)."""
    from onecard.notices.models import Notice
    from onecard.privacy import decrypt
    codes = [m["text"] for m in sms.console_outbox if m["mobile"] == mobile]
    queued = db.session.execute(sa.select(Notice.recipient, Notice.body).where(Notice.channel == "assist")).all()
    return codes + [body for recipient, body in queued if decrypt(recipient) == mobile]


def test_search_by_id_is_a_post_and_shows_only_masked_words_of_own_village(client, village_staff, resident, county):
    other = make_resident(county["towns"][1], county["villages"][1], name="王秀英")
    found = client.get(f"{ASSIST}/residents?q=王秀英", headers=village_staff.auth).json
    assert [f["id"] for f in found] == [resident.id]
    assert found[0]["name"] != "王秀英" and found[0]["id_masked"] != resident.id_number
    r = client.get(f"{ASSIST}/residents?q={resident.id_number}", headers=village_staff.auth)
    assert r.status_code == 422 and r.json["error"]["code"] == "id_in_url"
    r = client.post(f"{ASSIST}/residents/search", headers=village_staff.auth, json={"q": resident.id_number})
    assert [f["id"] for f in r.json] == [resident.id]
    r = client.post(f"{ASSIST}/residents/search", headers=village_staff.auth, json={"q": other.id_number})
    assert r.json == []
    assert client.get(f"{ASSIST}/residents/{other.id}", headers=village_staff.auth).status_code == 404
    # Before consent nothing of the resident is read.
    r = client.get(f"{ASSIST}/residents/{resident.id}", headers=village_staff.auth)
    assert r.status_code == 403 and r.json["error"]["code"] == "consent_required"
    assert not db.session.execute(sa.select(AuditEntry.id).where(AuditEntry.action == "assist.viewed")).first()


def test_the_access_log_of_a_search_by_id_holds_no_id(live_server, village_staff, resident, caplog):
    import requests
    caplog.set_level(logging.INFO, logger="werkzeug")
    r = requests.post(f"{live_server}{ASSIST}/residents/search", headers=village_staff.auth,
                      json={"q": resident.id_number}, timeout=10)
    assert r.status_code == 200 and r.json()[0]["id"] == resident.id
    r = requests.get(f"{live_server}{ASSIST}/residents", params={"q": "王秀英"}, headers=village_staff.auth,
                     timeout=10)
    assert r.status_code == 200
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "werkzeug"]
    assert any("/assist/residents/search" in line for line in lines)      # the log was captured
    assert not any(resident.id_number in line for line in lines)


def test_sms_consent_opens_the_resident_and_every_act_is_texted(client, village_staff, resident, county,
                                                                  citizen_login):
    base = f"{ASSIST}/residents/{resident.id}"
    data = {"bank_id": str(county["banks"]["RCB"]), "delivery": "post", "postal_address": "东庄村12号",
            "photo": (io.BytesIO(JPEG), "p.jpg")}
    r = client.post(f"{base}/applications", headers=village_staff.auth, data=data, content_type="multipart/form-data")
    assert r.status_code == 403 and r.json["error"]["code"] == "consent_required"
    assert client.post(f"{base}/consent/code", headers=village_staff.auth).status_code == 200
    r = client.post(f"{base}/consent", headers=village_staff.auth, data={"code": last_code(resident.mobile)},
                    content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["method"] == "sms" and r.json["status"] == "confirmed"
    assert any("取得您的代办授权" in t for t in texts_to(resident.mobile))
    # The consent lives on the server: no consent_id needed while it is valid.
    assert client.get(base, headers=village_staff.auth).json["status"] == "not_applied"
    data["photo"] = (io.BytesIO(JPEG), "p.jpg")
    r = client.post(f"{base}/applications", headers=village_staff.auth, data=data, content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["assisted"] is True
    assert any("为您提交社保卡申领" in t for t in texts_to(resident.mobile))
    auth = citizen_login(resident)
    actions = client.get(f"{API}/assisted-actions", headers=auth).json
    assert {a["action"] for a in actions} >= {"assist.consent", "card_application.submitted"}


def test_a_signed_form_must_be_a_real_picture_and_counts_only_once_town_staff_confirm_it(
        client, village_staff, town_staff, make_staff, resident, county):
    make_card(resident, county["banks"]["RCB"], status="issued")
    add_ledger(resident, make_project(county["departments"]["县民政局"]), county["banks"]["RCB"])
    base = f"{ASSIST}/residents/{resident.id}"

    def upload(data: bytes):
        return client.post(f"{base}/consent", headers=village_staff.auth, content_type="multipart/form-data",
                           data={"form": (io.BytesIO(data), "f.jpg")})

    assert upload(b"not an image").json["error"]["code"] == "form_type"
    assert upload(PNG).json["error"]["code"] == "form_unreadable"           # PNG magic and zeros: not a picture
    assert upload(picture(120, 90)).json["error"]["code"] == "form_too_small"
    r = upload(picture())
    assert r.status_code == 201 and r.json["status"] == "pending"
    consent = r.json["consent_id"]
    assert db.session.get(AssistConsent, consent).form_path.startswith("consents")
    # Not yet: no read, no act.
    assert client.get(base, headers=village_staff.auth).status_code == 403
    r = client.post(f"{base}/activate", headers=village_staff.auth, json={"consent_id": consent})
    assert r.status_code == 403
    assert client.get(f"{base}/subsidies?consent_id={consent}", headers=village_staff.auth).status_code == 403
    # The helper cannot confirm (not town staff); town staff of another town cannot see it.
    assert client.post(f"{ASSIST}/consents/{consent}/confirm", headers=village_staff.auth,
                       json={"approve": True}).status_code == 403
    far = make_staff("town_staff", town_id=county["towns"][1])
    assert client.get(f"{ASSIST}/consents/pending", headers=far.auth).json == []
    assert client.post(f"{ASSIST}/consents/{consent}/confirm", headers=far.auth,
                       json={"approve": True}).status_code == 404
    pending = client.get(f"{ASSIST}/consents/pending", headers=town_staff.auth).json
    assert [p["consent_id"] for p in pending] == [consent]
    r = client.get(f"{ASSIST}/consents/{consent}/form", headers=town_staff.auth)
    assert r.status_code == 200 and r.data[:3] == b"\xff\xd8\xff"
    r = client.post(f"{ASSIST}/consents/{consent}/confirm", headers=town_staff.auth, json={"approve": True})
    assert r.status_code == 200 and r.json["status"] == "confirmed"
    assert client.post(f"{ASSIST}/consents/{consent}/confirm", headers=town_staff.auth,
                       json={"approve": True}).status_code == 409                 # decided once
    r = client.post(f"{base}/activate", headers=village_staff.auth, json={})
    assert r.status_code == 200 and r.json["status"] == "active"
    assert any("为您激活社保卡" in t for t in texts_to(resident.mobile))
    r = client.get(f"{base}/subsidies", headers=village_staff.auth)
    assert r.status_code == 200 and len(r.json["items"]) == 1
    acts = set(db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.on_behalf_of == resident.id))
               .scalars())
    assert {"card.active", "assist.subsidies_read", "assist.consent", "assist.consent_confirmed"} <= acts
    # Expired, it no longer counts.
    db.session.execute(sa.update(AssistConsent).values(expires_at=datetime(2000, 1, 1)))
    db.session.commit()
    assert client.get(f"{base}/subsidies", headers=village_staff.auth).status_code == 403


def test_town_staff_cannot_confirm_a_form_they_uploaded(client, town_staff, resident):
    r = client.post(f"{ASSIST}/residents/{resident.id}/consent", headers=town_staff.auth,
                    content_type="multipart/form-data", data={"form": (io.BytesIO(picture()), "f.jpg")})
    consent = r.json["consent_id"]
    r = client.post(f"{ASSIST}/consents/{consent}/confirm", headers=town_staff.auth, json={"approve": True})
    assert r.status_code == 403 and r.json["error"]["code"] == "consent_own_form"


def test_the_assisted_modes_sign_in_token_works_only_in_the_assisted_mode(client, village_staff):
    """Issue #16 item 12, for the H5 door too: the helper's cookie holds a token that is no bearer token for the
    staff API, and an API token does not open the assisted pages."""
    from citizen_app.pages import STAFF_COOKIE
    from tests.citizen_app.test_pages import _csrf
    from tests.conftest import TEST_PASSWORD
    page = client.get("/m/assist/login").get_data(as_text=True)
    r = client.post("/m/assist/login", data={"csrf_token": _csrf(page), "username": village_staff.username,
                                             "password": TEST_PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    token = client.get_cookie(STAFF_COOKIE).value
    r = client.get("/api/staff/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json["error"]["code"] == "token_wrong_channel"
    assert client.get("/m/assist/").status_code == 200
    client.set_cookie(STAFF_COOKIE, village_staff.auth["Authorization"].split()[1])
    assert client.get("/m/assist/").status_code in (302, 303)       # an API token is sent to sign in
