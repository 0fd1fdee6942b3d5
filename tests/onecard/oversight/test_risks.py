"""Risk checks: each finds exactly its planted irregularity and none of the clean look-alikes."""
from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from onecard.audit import AuditEntry
from onecard.oversight import risks
from onecard.oversight.models import RiskFinding
from onecard.people.models import ProxyAppointment
from tests.factories import make_card, make_household, make_resident, new_account

RUNS = "/api/staff/v1/oversight/risk-runs"
FINDINGS = "/api/staff/v1/oversight/risk-findings"


@pytest.fixture
def planted(ov, county, db):
    t, v = county["towns"][0], county["villages"][0]
    dibao = ov.project("县民政局", "最低生活保障金", required_category="dibao")
    elder = ov.project("县民政局", "高龄津贴", standard_fen=10000)
    disabled = ov.project("县残疾人联合会", "护理补贴", standard_fen=9000)
    p = {}

    def person(key, **kw):
        p[key] = make_resident(t, v, name=kw.pop("name", "孔" + key[:2]), **kw)
        return p[key]

    # Clean look-alikes.
    clean = person("clean", categories=("dibao",))
    clean_acct = new_account()
    make_card(clean, ov.bank(), "active", account=clean_acct)
    ov.pay(clean, dibao, "2026-03", 50000, account=clean_acct)
    ov.pay(clean, elder, "2026-03", 10000, account=clean_acct)
    home = make_household(t, v)
    head = person("head", household=home, head=True)
    member = person("member", household=home)
    head_acct = new_account()
    make_card(head, ov.bank(), "active", account=head_acct)
    ov.pay(head, elder, "2026-03", 10000, account=head_acct)
    ov.pay(member, elder, "2026-03", 10000, account=head_acct, payee=head, route="head_card")
    late = person("late", deceased_on=date(2026, 4, 1))
    ov.pay(late, elder, "2026-03", 10000)
    renewed = person("renewed")
    old_acct, new_acct = new_account(), new_account()
    make_card(renewed, ov.bank(), "cancelled", account=old_acct)
    make_card(renewed, ov.bank(), "active", account=new_acct)
    ov.pay(renewed, elder, "2026-03", 10000, account=new_acct)
    small_proxy = person("smallproxy")
    for i in range(2):
        ward = person(f"sw{i}", categories=("tekun",))
        db.session.add(ProxyAppointment(resident_id=ward.id, proxy_resident_id=small_proxy.id, category="tekun",
                                        legal_basis="民政局认定书", appointed_by="县民政局", valid_from=date(2026, 1, 1)))
    # The planted irregularities.
    dup = person("dup")
    ov.pay(dup, elder, "2026-03", 10000, batch_id=1)
    ov.pay(dup, elder, "2026-03", 10000, batch_id=2)
    shared = new_account()
    u1, u2 = person("u1"), person("u2")
    ov.pay(u1, disabled, "2026-03", 9000, account=shared)
    ov.pay(u2, disabled, "2026-03", 9000, account=shared)
    proxy = person("proxy")
    for i in range(6):
        ward = person(f"w{i}", categories=("tekun",))
        db.session.add(ProxyAppointment(resident_id=ward.id, proxy_resident_id=proxy.id, category="tekun",
                                        legal_basis="民政局认定书", appointed_by="县民政局", valid_from=date(2026, 1, 1)))
    db.session.commit()
    dead = person("dead", deceased_on=date(2026, 2, 1))
    ov.pay(dead, elder, "2026-03", 10000)
    cancelled = person("cancelled")
    gone_acct = new_account()
    make_card(cancelled, ov.bank(), "cancelled", account=gone_acct)
    ov.pay(cancelled, elder, "2026-03", 10000, account=gone_acct)
    above = person("above")
    ov.pay(above, elder, "2026-03", 12000)
    notdibao = person("notdibao")
    ov.pay(notdibao, dibao, "2026-03", 50000)
    # 到户资金: a household paid once (clean), one paid for two members (planted), one paid into a dead head's card.
    farm = ov.project("县农业农村局", "耕地地力保护补贴")
    farm.per_household = True
    once_home, twice_home, orphan_home = make_household(t, v), make_household(t, v), make_household(t, v)
    once_head = person("oncehead", household=once_home, head=True)
    ov.pay(person("oncemember", household=once_home), farm, "2026-03", 26000, payee=once_head, route="head_card")
    ov.pay(once_head, farm, "2026-04", 26000, payee=once_head, route="head_card")
    twice_head = person("twicehead", household=twice_home, head=True)
    ov.pay(twice_head, farm, "2026-03", 26000, payee=twice_head, route="head_card")
    ov.pay(person("twicemember", household=twice_home), farm, "2026-03", 26000, payee=twice_head, route="head_card")
    dead_head = person("deadhead", household=orphan_home, head=True, deceased_on=date(2026, 2, 1))
    ov.pay(person("orphan", household=orphan_home), farm, "2026-03", 26000, payee=dead_head, route="head_card")
    sleeping = person("sleeping")
    sleeping_acct = new_account()
    make_card(sleeping, ov.bank(), "issued", account=sleeping_acct)
    ov.pay(sleeping, elder, "2026-03", 10000, account=sleeping_acct)
    return p


EXPECTED = {
    "duplicate_payment": {"dup"}, "shared_account": {"u1", "u2"}, "proxy_many_wards": {"proxy"},
    "paid_deceased": {"dead"}, "paid_cancelled_card": {"cancelled"}, "above_standard": {"above"},
    "category_mismatch": {"notdibao"}, "unactivated_card": {"sleeping"},
    "household_paid_twice": {"twicehead"}, "paid_deceased_payee": {"deadhead"},
}


def _findings(client, who, **query):
    r = client.get(FINDINGS, headers=who.auth, query_string={"per_page": 200, **query})
    assert r.status_code == 200, r.json
    return r.json["items"]


def test_each_check_finds_exactly_its_planted_case(client, finance, planted):
    r = client.post(RUNS, headers=finance.auth, json={})
    assert r.status_code == 201, r.json
    # (excluded_subsidies needs a rule between projects: tests/onecard/test_exclusions.py plants that case)
    assert {c["code"]: c["findings"] for c in r.json["checks"]} == {**{k: 1 for k in EXPECTED},
                                                                     "excluded_subsidies": 0}
    ids = {v.id: k for k, v in planted.items()}
    items = _findings(client, finance)
    for check, expected in EXPECTED.items():
        found = [f for f in items if f["check"] == check]
        assert len(found) == 1, check
        f = found[0]
        if check == "shared_account":
            who = {ids[p["resident_id"]] for p in f["evidence"]["people"]}
        else:
            who = {ids[f["resident_id"]]}
        assert who == expected, check
        assert f["status"] == "open" and f["summary"]


def test_evidence_is_masked_and_traceable(client, finance, planted):
    client.post(RUNS, headers=finance.auth, json={})
    items = _findings(client, finance)
    body = str(items)
    for resident in planted.values():
        assert resident.id_number not in body
    dup = next(f for f in items if f["check"] == "duplicate_payment")
    assert len(dup["evidence"]["ledger_ids"]) == 2 and dup["evidence"]["payments"] == 2
    assert "*" in dup["evidence"]["name"] and "*" in dup["evidence"]["id_number"]
    shared = next(f for f in items if f["check"] == "shared_account")
    assert shared["subject_key"] == "account" and shared["evidence"]["account"].startswith("****")


def test_thresholds_are_configurable_per_run(client, finance, planted):
    r = client.post(RUNS, headers=finance.auth, json={"thresholds": {"proxy_max_wards": 1, "account_max_households": 2},
                                                      "checks": ["proxy_many_wards", "shared_account"]})
    assert r.status_code == 201
    counts = {c["code"]: c["findings"] for c in r.json["checks"]}
    assert counts == {"proxy_many_wards": 2, "shared_account": 0}
    bad = client.post(RUNS, headers=finance.auth, json={"thresholds": {"proxy_max_wards": 0}})
    assert bad.status_code == 422


def test_rerun_keeps_decisions_and_does_not_duplicate(client, finance, planted, db):
    first = client.post(RUNS, headers=finance.auth, json={}).json
    assert first["new_findings"] == len(EXPECTED)
    dup = _findings(client, finance, check="duplicate_payment")[0]
    r = client.post(f"{FINDINGS}/{dup['id']}/mark", headers=finance.auth, json={"status": "dismissed"})
    assert r.status_code == 422 and r.json["error"]["code"] == "note_required"
    r = client.post(f"{FINDINGS}/{dup['id']}/mark", headers=finance.auth,
                    json={"status": "dismissed", "note": "银行重复回盘，已核实只到账一次"})
    assert r.status_code == 200 and r.json["status"] == "dismissed"
    second = client.post(RUNS, headers=finance.auth, json={}).json
    assert second["new_findings"] == 0
    assert db.session.execute(sa.select(sa.func.count(RiskFinding.id))).scalar() == len(EXPECTED)
    again = _findings(client, finance, check="duplicate_payment")[0]
    assert again["status"] == "dismissed" and again["last_run_id"] == second["id"]
    actions = db.session.execute(sa.select(AuditEntry.action)).scalars().all()
    assert actions.count("risk.run") == 2 and "risk_finding.dismissed" in actions


def test_only_finance_marks_and_only_finance_or_bureau_runs(client, make_staff, finance, planted, ov, auditor):
    op = make_staff("dept_operator", department_id=ov.dept("县民政局"))
    assert client.post(RUNS, headers=op.auth, json={}).status_code == 403
    assert client.post(RUNS, headers=auditor.auth, json={}).status_code == 403
    client.post(RUNS, headers=finance.auth, json={})
    fid = _findings(client, finance)[0]["id"]
    for who in (op, auditor):
        r = client.post(f"{FINDINGS}/{fid}/mark", headers=who.auth, json={"status": "confirmed"})
        assert r.status_code == 403


def test_department_sees_only_findings_about_its_projects(client, make_staff, finance, planted, ov):
    client.post(RUNS, headers=finance.auth, json={})
    cl = make_staff("dept_reviewer", department_id=ov.dept("县残疾人联合会"))
    mine = _findings(client, cl)
    assert mine == [] or all(f["department_id"] == ov.dept("县残疾人联合会") for f in mine)
    mz = make_staff("dept_operator", department_id=ov.dept("县民政局"))
    checks = {f["check"] for f in _findings(client, mz)}
    assert {"duplicate_payment", "paid_deceased", "above_standard", "category_mismatch"} <= checks
    assert len(_findings(client, finance)) == len(EXPECTED)


def test_scheduled_job_runs_with_the_system_actor(planted, db):
    from onecard.oversight import jobs
    func, trigger = jobs.JOBS[0]
    assert trigger["trigger"] == "cron"
    run_id = func()
    assert db.session.get(risks.RiskRun, run_id).trigger == "schedule"


def test_payment_before_death_date_is_clean(ov, county, db, finance):
    t, v = county["towns"][0], county["villages"][0]
    elder = ov.project("县民政局", "高龄津贴", standard_fen=10000)
    r = make_resident(t, v, deceased_on=date(2026, 3, 3))
    ov.pay(r, elder, "2026-03", 10000, occurred_at=datetime(2026, 3, 2, 23, 0))
    assert risks.check_paid_deceased(risks.thresholds()) == []
    ov.pay(r, elder, "2026-04", 10000, occurred_at=datetime(2026, 3, 3, 1, 0))
    assert len(risks.check_paid_deceased(risks.thresholds())) == 1
