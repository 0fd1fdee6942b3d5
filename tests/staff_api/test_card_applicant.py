"""The issuing bank's card work: branches kept by the bureau, picked by the resident, and the applicant's
details decrypted only for the bank handling the application, only while it works on it, every view audited."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.extensions import db
from onecard.reference.models import BankBranch
from tests.factories import make_resident
from tests.fixtures_citizen import PNG

pytestmark = pytest.mark.usefixtures("citizen_env")
STAFF = "/api/staff/v1"


@pytest.fixture
def fresh_bank(county):
    """A bank with no branch at all, as on a fresh install (the county fixture gives the others two each)."""
    bank_id = county["banks"]["BOC"]
    db.session.execute(sa.delete(BankBranch).where(BankBranch.bank_id == bank_id))
    db.session.commit()
    return bank_id


def _apply(client, citizen_login, resident, bank_id, branch_id):
    auth = citizen_login(resident)
    return client.post("/api/citizen/v1/card/applications", headers=auth, content_type="multipart/form-data",
                       data={"bank_id": str(bank_id), "delivery": "branch", "branch_id": str(branch_id),
                             "photo": (io.BytesIO(PNG), "me.png")})


def test_bureau_adds_a_branch_the_resident_picks_and_only_that_bank_reads_the_applicant(
        client, citizen_login, county, make_staff, admin, fresh_bank):
    banks = client.get("/api/citizen/v1/banks", headers=citizen_login()).json
    assert next(b for b in banks if b["id"] == fresh_bank)["branches"] == []
    # Only the bureau's administrator keeps branches; bad input names each field.
    bank_clerk = make_staff("bank_operator", bank_id=fresh_bank)
    assert client.post(f"{STAFF}/branches", headers=bank_clerk.auth,
                       json={"bank_id": fresh_bank, "name": "中国银行泗水县支行营业部"}).status_code == 403
    r = client.post(f"{STAFF}/branches", headers=admin.auth, json={"bank_id": 0, "name": " "})
    assert r.status_code == 422 and set(r.json["error"]["details"]["fields"]) == {"bank_id", "name"}
    r = client.post(f"{STAFF}/branches", headers=admin.auth,
                    json={"bank_id": fresh_bank, "name": "中国银行泗水县支行营业部", "address": "泗河路1号"})
    assert r.status_code == 201, r.json
    branch = r.json["id"]
    assert client.post(f"{STAFF}/branches", headers=admin.auth,
                       json={"bank_id": fresh_bank, "name": "中国银行泗水县支行营业部"}).status_code == 409
    banks = client.get("/api/citizen/v1/banks", headers=citizen_login()).json
    assert [b["id"] for b in next(b for b in banks if b["id"] == fresh_bank)["branches"]] == [branch]

    resident = make_resident(county["towns"][0], county["villages"][0], name="孔秀云")
    # A branch of another bank is refused.
    other = client.get(f"{STAFF}/branches", headers=admin.auth,
                       query_string={"bank_id": county["banks"]["RCB"]}).json[0]["id"]
    r = _apply(client, citizen_login, resident, fresh_bank, other)
    assert r.status_code == 422 and r.json["error"]["field"] == "branch_id"
    r = _apply(client, citizen_login, resident, fresh_bank, branch)
    assert r.status_code == 201 and r.json["branch"] == "中国银行泗水县支行营业部"
    app_id = r.json["id"]

    # The handling bank's clerk reads who the applicant is, and the photo; each view is audited.
    r = client.get(f"{STAFF}/card-applications/{app_id}/applicant", headers=bank_clerk.auth)
    assert r.status_code == 200
    assert r.json["id_number"] == resident.id_number and r.json["name"] == "孔秀云"
    assert r.json["mobile"] == resident.mobile and r.json["branch_address"] == "泗河路1号"
    r = client.get(f"{STAFF}/card-applications/{app_id}/photo", headers=bank_clerk.auth)
    assert r.status_code == 200 and r.data == PNG
    actions = db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.entity_id == str(app_id),
                                 AuditEntry.entity_type == "card_application")).scalars().all()
    assert "card_application.applicant_viewed" in actions and "card_application.photo_viewed" in actions
    # Nobody else: another bank, the bureau, finance.
    for who in (make_staff("bank_operator", bank_id=county["banks"]["ICBC"]), admin, make_staff("finance")):
        assert client.get(f"{STAFF}/card-applications/{app_id}/applicant", headers=who.auth).status_code in (403, 404)
        assert client.get(f"{STAFF}/card-applications/{app_id}/photo", headers=who.auth).status_code in (403, 404)

    # A closed branch is no longer offered, and after the card is handed over the details are gone.
    assert client.post(f"{STAFF}/branches/{branch}/active", headers=admin.auth,
                       json={"active": False}).json["active"] is False
    assert client.get(f"{STAFF}/branches", headers=admin.auth, query_string={"bank_id": fresh_bank}).json == []
    for action, extra in (("accept", {}), ("in_production", {}), ("ready", {"account": "6217995860000123453"}),
                          ("collected", {})):
        r = client.post(f"{STAFF}/card-applications/{app_id}/moves", headers=bank_clerk.auth,
                        json={"action": action, **extra})
        assert r.status_code == 200, r.json
    r = client.get(f"{STAFF}/card-applications/{app_id}/applicant", headers=bank_clerk.auth)
    assert r.status_code == 409 and r.json["error"]["code"] == "applicant_not_visible"


def test_the_demo_gives_every_bank_branches_to_pick(db):
    from onecard.reference import demo as reference_demo
    from onecard.reference.models import Bank
    reference_demo.run(None)
    counts = dict(db.session.execute(sa.select(BankBranch.bank_id, sa.func.count(BankBranch.id))
                                     .group_by(BankBranch.bank_id)).all())
    banks = db.session.execute(sa.select(Bank.id)).scalars().all()
    assert banks and all(counts.get(b, 0) >= 2 for b in banks)
