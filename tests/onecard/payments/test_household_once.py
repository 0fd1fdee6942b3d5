"""到户资金 pays the household once: one list line per household, project and period; one live payment line."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard.lists.models import RecipientRow
from onecard.payments.models import BatchLine
from tests.factories import make_card, make_household, make_resident, new_mobile
from tests.fixtures_lists import csv_bytes, upload
from tests.fixtures_payments import PERIOD, make_list

API = "/api/staff/v1"


def _row(resident, amount="260"):
    return [resident.name, resident.id_number, "汉族", new_mobile(), "济河街道", "东庄村", "农业银行", "", amount, ""]


@pytest.fixture
def family(pay):
    """A household of four (head 孔繁荣 with a usable card, three members), in the first town and village."""
    t, v = pay.county["towns"][0], pay.county["villages"][0]
    home = make_household(t, v)
    head = make_resident(t, v, name="孔繁荣", household=home, head=True)
    make_card(head, pay.county["banks"]["ABC"])
    members = [make_resident(t, v, name=n, household=home) for n in ("孔妻", "孔子一", "孔子二")]
    return home, head, members


def test_four_members_of_one_household_are_refused_at_upload_naming_the_first_row(client, db, pay, family):
    home, head, members = family
    r = upload(client, pay.agri_operator, pay.household.id, csv_bytes([_row(p) for p in (head, *members)]),
               period=PERIOD)
    assert r.status_code == 422, r.json
    errors = r.json["error"]["details"]["errors"]
    assert [e["row"] for e in errors] == [3, 4, 5]
    assert all("与第2行同属一户" in e["reason"] and home.code in e["reason"] for e in errors)
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 0

    # The head alone is accepted; a later list of the same period naming another member is refused,
    # naming the earlier list and its row.
    r = upload(client, pay.agri_operator, pay.household.id, csv_bytes([_row(head)]), period=PERIOD, name="户主.csv")
    assert r.status_code == 201, r.json
    first_list = r.json["id"]
    assert db.session.execute(sa.select(RecipientRow.household_id)).scalar_one() == home.id
    r = upload(client, pay.agri_operator, pay.household.id, csv_bytes([_row(members[0])]), period=PERIOD,
               name="补报.csv")
    assert r.status_code == 422, r.json
    reason = r.json["error"]["details"]["errors"][0]["reason"]
    assert f"名单编号{first_list}" in reason and "户主.csv" in reason and "第2行" in reason
    # Another period is another payment.
    r = upload(client, pay.agri_operator, pay.household.id, csv_bytes([_row(members[0])]), period="2026-11")
    assert r.status_code == 201, r.json


def test_a_per_person_project_lists_every_member(client, db, pay, family):
    _, head, members = family
    from tests.fixtures_payments import make_project
    per_person = make_project(pay.household.department_id, pay.county["banks"]["ABC"], "农机购置补贴")
    r = upload(client, pay.agri_operator, per_person.id, csv_bytes([_row(p) for p in (head, *members)]),
               period=PERIOD)
    assert r.status_code == 201, r.json
    assert db.session.execute(sa.select(RecipientRow.household_id)).scalars().all() == [None] * 4


def test_the_database_refuses_a_second_list_row_for_a_household(db, pay, family):
    home, head, members = family
    lst = make_list(pay.household, [(head, 26000, "usable"), (members[0], 26000, "usable")])
    rows = db.session.execute(sa.select(RecipientRow).where(RecipientRow.list_id == lst.id)
                              .order_by(RecipientRow.row_no)).scalars().all()
    rows[0].household_id = home.id
    db.session.commit()
    rows[1].household_id = home.id
    with pytest.raises(IntegrityError, match="household"):
        db.session.commit()
    db.session.rollback()


def _create_batch(client, pay):
    return client.post(f"{API}/batches", headers=pay.agri_operator.auth,
                       json={"project_id": pay.household.id, "period": PERIOD, "idempotency_key": uuid.uuid4().hex})


def _lines(client, pay, batch_id):
    return {x["name"]: x for x in client.get(f"{API}/batches/{batch_id}/lines", headers=pay.agri_operator.auth).json}


def test_a_batch_pays_a_household_listed_twice_once_and_the_index_refuses_a_second_live_line(client, db, pay,
                                                                                            family):
    """A list stored before the household was known (or by a direct insert) names two members: the batch pays
    the household once, into the head's card, and holds the other with the reason."""
    home, head, members = family
    make_list(pay.household, [(members[0], 26000, "usable"), (members[1], 26000, "usable")])
    r = _create_batch(client, pay)
    assert r.status_code == 201, r.json
    assert r.json["line_count"] == 1 and r.json["total_fen"] == 26000 and r.json["held_count"] == 1
    lines = _lines(client, pay, r.json["id"])
    assert lines["孔妻"]["route"] == "head_card" and lines["孔妻"]["payee_name"] == "孔繁荣"
    assert lines["孔子一"]["status"] == "held" and "每户每期只发一份" in lines["孔子一"]["route_reason"]
    assert "孔妻" in lines["孔子一"]["route_reason"]

    # The database itself refuses a second live line for the household, project and period.
    held = db.session.execute(sa.select(BatchLine).where(BatchLine.status == "held")).scalar_one()
    paid = db.session.execute(sa.select(BatchLine).where(BatchLine.status == "pending")).scalar_one()
    assert paid.household_id == home.id
    held.household_id, held.status, held.route = home.id, "pending", paid.route
    held.account, held.bank_id, held.resident_id = paid.account, paid.bank_id, held.resident_id
    with pytest.raises(IntegrityError, match="household"):
        db.session.commit()
    db.session.rollback()


def test_a_dead_heads_household_is_held_until_a_new_head_is_registered(client, db, pay, family):
    home, head, members = family
    head.deceased_on = date(2026, 9, 1)
    db.session.commit()
    make_list(pay.household, [(pay.people["孔德福"], 26000, "usable"), (members[0], 26000, "usable")])
    r = _create_batch(client, pay)
    assert r.status_code == 201 and r.json["line_count"] == 1 and r.json["held_count"] == 1
    line = db.session.execute(sa.select(BatchLine).where(BatchLine.resident_id == members[0].id)).scalar_one()
    assert line.status == "held" and "户主已故" in line.route_reason and line.account is None
    # 民政 registers the widow as the new head: the next batch pays her card.
    make_card(members[0], pay.county["banks"]["ABC"])
    home.head_id = members[0].id
    db.session.commit()
    r = _create_batch(client, pay)
    assert r.status_code == 201, r.json
    assert _lines(client, pay, r.json["id"])["孔妻"]["route"] == "head_card"


def test_a_household_paid_twice_planted_by_sql_is_found_by_the_risk_check(client, db, pay, family):
    """The guarantees above stop it; if it happens anyway (a direct write, an old import), finance finds it."""
    home, head, members = family
    make_list(pay.household, [(head, 26000, "usable")])
    r = _create_batch(client, pay)
    assert r.status_code == 201, r.json
    for i, person in enumerate((head, members[0]), start=1):
        db.session.execute(sa.text(
            "INSERT INTO ledger_entries (line_id, batch_id, project_id, department_id, period, resident_id,"
            " payee_resident_id, route, bank_id, account_last4, town_id, amount_fen, outcome, occurred_at,"
            " recorded_at) VALUES (:line, :batch, :project, :dept, :period, :rid, :head, 'head_card', :bank,"
            " '0001', :town, 26000, 'paid', :at, :at)"),
            {"line": 900000 + i, "batch": r.json["id"], "project": pay.household.id,
             "dept": pay.household.department_id, "period": PERIOD, "rid": person.id, "head": head.id,
             "bank": pay.household.bank_id, "town": home.town_id, "at": datetime(2026, 10, 20, 2, 0)})
    db.session.commit()
    run = client.post(f"{API}/oversight/risk-runs", headers=pay.finance.auth, json={"checks": ["household_paid_twice"]})
    assert run.status_code == 201, run.json
    found = client.get(f"{API}/oversight/risk-findings?check=household_paid_twice",
                       headers=pay.finance.auth).json["items"]
    assert len(found) == 1 and found[0]["resident_id"] == head.id
    assert found[0]["evidence"]["household_code"] == home.code and found[0]["evidence"]["payments"] == 2
    assert found[0]["amount_fen"] == 52000 and "到户资金每户只发一份" in found[0]["summary"]


def test_registering_a_new_head_through_the_api_releases_the_households_held_line(client, db, pay, family, admin):
    """The owed line of a household whose head died waits as 暂缓; the new head's registration (master data)
    makes it 待随下一批发放 at once, without the department remembering it."""
    home, head, members = family
    r = client.post(f"{API}/deaths", headers=admin.auth, json={
        "id_number": head.id_number, "name": head.name, "died_on": "2026-09-01", "source": "民政部门通知",
        "document": "泗民死〔2026〕8号"})
    assert r.status_code == 201, r.json
    make_list(pay.household, [(pay.people["孔德福"], 26000, "usable"), (members[0], 26000, "usable")])
    r = _create_batch(client, pay)
    assert r.status_code == 201
    r = client.post(f"{API}/batches/{r.json['id']}/submit", headers=pay.agri_operator.auth,
                    json={"idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 200, r.json     # a submitted batch's held lines are owed (应发未发)
    line = db.session.execute(sa.select(BatchLine).where(BatchLine.resident_id == members[0].id)).scalar_one()
    assert line.status == "held"
    make_card(members[0], pay.county["banks"]["ABC"])
    assert line.status == "held"
    r = client.post(f"{API}/households/{home.id}/head", headers=admin.auth,
                    json={"new_head": members[0].id, "reason": "原户主死亡"})
    assert r.status_code == 200, r.json
    db.session.expire_all()
    got = db.session.get(BatchLine, line.id)
    assert got.status == "released", got.route_reason
