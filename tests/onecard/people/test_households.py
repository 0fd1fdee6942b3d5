"""The rules beneath the household and proxy services: the routing they feed, history for old households,
the payee-change hook, the minor rule, and the database's own guarantees."""
from __future__ import annotations

import threading
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from onecard.actors import SYSTEM
from onecard.extensions import db as _db
from onecard.payments.routing import route_rows
from onecard.people import events, groups, households, proxies, residents
from onecard.people.models import HouseholdMembership, ProxyAppointment, ResidentCategory
from tests.factories import make_card, make_household, make_resident, new_id_number

PER_HOUSEHOLD = SimpleNamespace(per_household=True, via_passbook=False, bank_id=None)


@pytest.fixture
def family(db, county):
    """A household made the old way (as the demo does): head and two members, no membership rows."""
    town, village = county["towns"][0], county["villages"][0]
    h = make_household(town, village)
    head = make_resident(town, village, name="户主甲", household=h, head=True)
    spouse = make_resident(town, village, name="配偶乙", household=h)
    child = make_resident(town, village, name="子女丙", household=h, birth=date(2012, 5, 1))
    spouse.relation_to_head = "配偶"
    for person in (head, spouse, child):
        make_card(person, county["banks"]["ICBC"])
    return SimpleNamespace(household=h, head=head, spouse=spouse, child=child, county=county)


def test_a_dead_head_makes_the_households_lines_wait_for_a_new_head(db, family):
    today = date(2026, 11, 1)
    routed = route_rows(PER_HOUSEHOLD, [{"resident_id": family.spouse.id}], today)[0]
    assert routed["route"] == "head_card" and routed["payee_resident_id"] == family.head.id
    result = residents.record_death(SYSTEM, {"resident_id": family.head.id, "died_on": "2026-10-20",
                                             "source": "police", "document": "泗公户注〔2026〕7号"})
    assert result.headless_household_id == family.household.id
    routed = route_rows(PER_HOUSEHOLD, [{"resident_id": family.spouse.id}], today)[0]
    assert routed["status"] == "held" and "户主" in routed["route_reason"]
    households.change_head(SYSTEM, family.household.id, {"new_head": family.spouse.id, "reason": "原户主死亡"})
    routed = route_rows(PER_HOUSEHOLD, [{"resident_id": family.child.id}], today)[0]
    assert routed["route"] == "head_card" and routed["payee_resident_id"] == family.spouse.id


def test_a_household_recorded_before_memberships_gets_its_history_started(db, family):
    assert _db.session.execute(sa.select(sa.func.count(HouseholdMembership.id))).scalar() == 0
    households.remove_member(SYSTEM, family.household.id, {"member": family.child.id, "reason": "迁往县城"})
    rows = {(m.resident_id, m.relation, m.end_reason) for m in households.history(SYSTEM, family.household.id)}
    assert rows == {(family.head.id, "户主", None), (family.spouse.id, "配偶", None),
                    (family.child.id, "其他", "迁往县城")}
    assert family.child.household_id is None and family.household.head_id == family.head.id


def test_registering_a_head_or_a_proxy_tells_the_subscribers_after_commit(db, family):
    seen = []

    def listener(changes):
        # runs after the commit: a fresh query sees the new head
        seen.extend((change.kind, change.resident_ids, change.household_id) for change in changes)

    events.subscribe(listener)
    try:
        households.change_head(SYSTEM, family.household.id, {"new_head": family.spouse.id,
                                                            "former_head_relation": "配偶"})
        _db.session.add(ResidentCategory(resident_id=family.child.id, category="disabled", since=date(2020, 1, 1)))
        _db.session.commit()
        proxies.appoint(SYSTEM, {"ward_id_number": family.child.id_number, "proxy_id_number": family.head.id_number,
                                 "legal_basis": "（2026）鲁0831民特2号", "appointed_by": "泗水县人民法院"})
    finally:
        events.unsubscribe(listener)
    members = tuple(sorted((family.head.id, family.spouse.id, family.child.id)))
    assert seen == [("head_registered", members, family.household.id),
                    ("proxy_appointed", (family.child.id,), None)]


def test_minor_follows_from_the_birth_date():
    assert groups.is_minor(date(2008, 12, 3), date(2026, 12, 2))
    assert not groups.is_minor(date(2008, 12, 3), date(2026, 12, 3))
    assert groups.is_minor(date(2008, 2, 29), date(2026, 2, 28))
    assert not groups.is_minor(date(2008, 2, 29), date(2026, 3, 1))


def test_a_revoked_group_no_longer_counts_for_a_proxy(db, family):
    rec = ResidentCategory(resident_id=family.spouse.id, category="dibao", since=date(2020, 1, 1))
    _db.session.add(rec)
    _db.session.commit()
    assert "dibao" in groups.protected_groups(family.spouse, date(2026, 1, 1))
    groups.revoke_group(SYSTEM, rec.id, {"reason": "收入超标", "on": "2025-12-31"})
    assert "dibao" not in groups.protected_groups(family.spouse, date(2026, 1, 1))
    assert rec.until == date(2025, 12, 31)


def test_the_database_refuses_a_second_live_appointment_for_a_ward(db, family, app):
    """Two clerks appoint proxies for the same ward at once: one wins, the other gets a conflict."""
    _db.session.add(ResidentCategory(resident_id=family.child.id, category="disabled", since=date(2020, 1, 1)))
    _db.session.commit()
    ward = family.child.id_number
    candidates = [family.head.id_number, family.spouse.id_number]
    barrier = threading.Barrier(2)
    outcomes = []

    def appoint(proxy_id_number):
        with app.app_context():
            barrier.wait()
            try:
                proxies.appoint(SYSTEM, {"ward_id_number": ward, "proxy_id_number": proxy_id_number,
                                         "legal_basis": "（2026）鲁0831民特3号", "appointed_by": "泗水县人民法院"})
                outcomes.append("ok")
            except Exception as exc:   # the loser's error is the assertion's subject
                outcomes.append(type(exc).__name__)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=appoint, args=(c,)) for c in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Conflict", "ok"]
    assert _db.session.execute(sa.select(sa.func.count(ProxyAppointment.id))).scalar() == 1


def test_a_new_member_may_be_registered_without_a_card(db, family):
    newborn = new_id_number(date(2026, 6, 1))
    households.add_member(SYSTEM, family.household.id, {"id_number": newborn, "name": "新生丁", "relation": "孙子女"})
    person = residents.find_by_id_number(newborn)
    assert person.household_id == family.household.id and person.town_id == family.household.town_id


def test_a_department_sees_and_revokes_group_records_made_before_departments_were_recorded(db, family, make_staff):
    from onecard.reference.models import Department
    civil_id = _db.session.execute(sa.select(Department.id).where(Department.code == "03")).scalar_one()
    disabled_id = _db.session.execute(sa.select(Department.id).where(Department.code == "11")).scalar_one()
    _db.session.add_all([ResidentCategory(resident_id=family.spouse.id, category="dibao", since=date(2020, 1, 1)),
                         ResidentCategory(resident_id=family.child.id, category="disabled", since=date(2020, 1, 1))])
    _db.session.commit()
    civil = make_staff("dept_operator", department_id=civil_id).actor
    federation = make_staff("dept_operator", department_id=disabled_id).actor
    rows, total = groups.list_groups(civil)
    assert total == 1 and rows[0].category == "dibao"
    groups.revoke_group(civil, rows[0].id, {"reason": "复核"})
    assert [r.category for r in groups.list_groups(federation)[0]] == ["disabled"]


def test_two_clerks_moving_one_person_into_two_households_at_once_store_one_membership(db, family, county, app):
    other = make_household(county["towns"][0], county["villages"][0])
    make_resident(county["towns"][0], county["villages"][0], name="另户主", household=other, head=True)
    newcomer = make_resident(county["towns"][0], county["villages"][0], name="迁入者")
    barrier = threading.Barrier(2)
    outcomes = []

    def move_in(household_id):
        with app.app_context():
            barrier.wait()
            try:
                households.add_member(SYSTEM, household_id, {"id_number": newcomer.id_number, "relation": "其他"})
                outcomes.append("ok")
            except Exception as exc:   # the loser's error is the assertion's subject
                outcomes.append(type(exc).__name__)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=move_in, args=(h,)) for h in (family.household.id, other.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Conflict", "ok"]
    live = _db.session.execute(sa.select(sa.func.count(HouseholdMembership.id)).where(
        HouseholdMembership.resident_id == newcomer.id, HouseholdMembership.until.is_(None))).scalar()
    assert live == 1


def _household_file(rows) -> bytes:
    lines = ["户号,户主身份证号,与户主关系,姓名,身份证号,镇街,村（社区）,地址"] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_an_imported_file_registers_new_members_joins_registered_ones_and_continues_the_audit_chain(db, county):
    from onecard import audit
    from onecard.people.models import Household, Resident
    from onecard.reference.models import Town
    town = _db.session.get(Town, county["towns"][0])
    known = make_resident(town.id, name="王登记")
    spouse, head2, child2 = new_id_number(date(1952, 1, 1)), new_id_number(date(1960, 1, 1)), new_id_number()
    seen = []
    events.subscribe(seen.extend)
    try:
        counts = households.import_households(SYSTEM, _household_file([
            ["IMP1", "", "户主", "王登记", known.id_number, town.name, "", "一号"],
            ["IMP1", "", "配偶", "李新", spouse, town.name, "", ""],
            ["IMP2", head2, "", "赵户主", head2, town.name, "", ""],
            ["IMP2", head2, "", "赵小", child2, town.name, "", ""]]), "家庭户.csv")
    finally:
        events.unsubscribe(seen.extend)
    assert counts == {"households": 2, "members": 4}
    h1 = _db.session.execute(sa.select(Household).where(Household.code == "IMP1")).scalar_one()
    h2 = _db.session.execute(sa.select(Household).where(Household.code == "IMP2")).scalar_one()
    new = {r.id_number: r for r in _db.session.execute(sa.select(Resident).where(Resident.id != known.id)).scalars()}
    _db.session.refresh(known)
    assert (h1.head_id, h1.address, known.household_id, known.relation_to_head) == (known.id, "一号", h1.id, "户主")
    assert (new[spouse].name, new[spouse].household_id, new[spouse].relation_to_head) == ("李新", h1.id, "配偶")
    assert h2.head_id == new[head2].id and new[child2].relation_to_head == "其他"
    assert {(m.resident_id, m.relation) for m in households.history(SYSTEM, h2.id)} == {
        (new[head2].id, "户主"), (new[child2].id, "其他")}
    assert [(c.kind, c.resident_ids, c.household_id) for c in seen] == [
        ("head_registered", tuple(sorted((known.id, new[spouse].id))), h1.id),
        ("head_registered", tuple(sorted((new[head2].id, new[child2].id))), h2.id)]
    assert audit.verify_chain().ok
    [created] = audit.entries_for("household", h1.id)
    assert created.action == "household.created" and f'"head_id":{known.id}' in created.after
    assert [e.action for e in audit.entries_for("resident", new[spouse].id)] == ["resident.registered"]


def test_an_imported_file_is_refused_whole_for_dead_repeated_unnamed_or_misnamed_members(db, county):
    from onecard.errors import DomainError
    from onecard.people.models import Household
    from onecard.reference.models import Town
    town = _db.session.get(Town, county["towns"][0])
    dead = make_resident(town.id, name="故去者", deceased_on=date(2025, 1, 1))
    known = make_resident(town.id, name="王登记")
    fresh, unnamed, other_head = new_id_number(), new_id_number(), new_id_number()
    with pytest.raises(DomainError) as refused:
        households.import_households(SYSTEM, _household_file([
            ["BAD1", "", "户主", "王登记", known.id_number, town.name, "", ""],
            ["BAD1", "", "配偶", "故去者", dead.id_number, town.name, "", ""],      # dead
            ["BAD1", "", "子", "钱新", fresh, town.name, "", ""],
            ["BAD1", "", "子", "钱改", fresh, town.name, "", ""],                   # another name for row 4
            ["BAD1", "", "子", "钱新", fresh, town.name, "", ""],                   # the same person again
            ["BAD2", "", "户主", "", unnamed, town.name, "", ""],                    # unknown, no name
            ["BAD3", other_head, "户主", "王别名", known.id_number, town.name, "", ""]]), "家庭户.csv")
    errors = {(e["row"], e["column"]) for e in refused.value.details["errors"]}
    assert errors == {(3, "身份证号"), (5, "姓名"), (6, "身份证号"), (7, "姓名"), (8, "姓名")}
    assert _db.session.execute(sa.select(Household.id).where(Household.code.like("BAD%"))).first() is None
