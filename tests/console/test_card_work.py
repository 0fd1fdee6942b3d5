"""Console pages of the card work: the bureau keeps bank branches; the bank clerk reads the applicant to make the card."""
from __future__ import annotations

import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.cards.models import CardApplication
from onecard.reference.models import BankBranch
from tests.console.test_oversight import _form
from tests.console.test_pages import signed_in
from tests.factories import make_card, make_resident


def test_admin_adds_and_closes_a_branch_on_the_reference_page(client, make_staff, county, db):
    signed_in(client, make_staff, "admin")
    action = "/console/reference/branches"
    guard = _form(client, "/console/reference", action)
    html = client.post(action, data={**guard, "bank_id": "", "name": ""}).get_data(as_text=True)
    assert "branch-error" in html and 'aria-invalid="true"' in html
    guard = _form(client, "/console/reference", action)
    r = client.post(action, data={**guard, "bank_id": str(county["banks"]["BOC"]), "name": "中行新城分理处",
                                  "address": "新城路8号"}, follow_redirects=True)
    assert "已新增网点" in r.get_data(as_text=True)
    branch = db.session.execute(sa.select(BankBranch).where(BankBranch.name == "中行新城分理处")).scalar_one()
    close = f"/console/reference/branches/{branch.id}/active"
    guard = _form(client, "/console/reference", close)
    client.post(close, data={**guard, "active": "0"})
    db.session.refresh(branch)
    assert branch.active is False
    clerk = client.application.test_client()
    signed_in(clerk, make_staff, "bank_operator", bank_id=county["banks"]["BOC"])
    assert 'id="branch-form"' not in clerk.get("/console/reference").get_data(as_text=True)
    assert clerk.post(action, data={"bank_id": "1", "name": "x"}).status_code in (400, 403)


def test_bank_clerk_reads_the_applicant_only_for_its_own_bank_and_the_view_is_audited(client, make_staff, county, db):
    bank = county["banks"]["ICBC"]
    resident = make_resident(county["towns"][0], county["villages"][0], name="曾凡英")
    card = make_card(resident, bank, "applied")
    application = CardApplication(resident_id=resident.id, card_id=card.id, bank_id=bank, delivery="post",
                                  postal_address="东庄村3组12号")
    db.session.add(application)
    db.session.commit()
    signed_in(client, make_staff, "bank_operator", bank_id=bank)
    url = f"/console/card-applications/{application.id}"
    assert url in client.get("/console/card-applications").get_data(as_text=True)
    html = client.get(url).get_data(as_text=True)
    assert resident.id_number in html and "曾凡英" in html and "东庄村3组12号" in html
    assert db.session.execute(sa.select(sa.func.count(AuditEntry.seq)).where(
        AuditEntry.action == "card_application.applicant_viewed")).scalar() == 1
    for role, scope in (("bank_operator", {"bank_id": county["banks"]["RCB"]}), ("admin", {})):
        other = client.application.test_client()
        signed_in(other, make_staff, role, **scope)
        r = other.get(url)
        assert r.status_code in (403, 404) and resident.id_number not in r.get_data(as_text=True)
