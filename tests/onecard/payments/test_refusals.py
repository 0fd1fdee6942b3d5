"""What disbursement refuses: maker-checker, missing agreements, foreign banks, bad result files, reused keys."""
from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard.payments import bankformats
from onecard.payments.models import ArrivalEvent, Batch, BatchLine, LedgerEntry
from onecard.staff.models import StaffAccount
from tests.factories import make_card, make_resident
from tests.fixtures_payments import PERIOD, make_agreement, make_list, make_project, parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved


def _create(client, pay):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    return r.json


def _sent(client, pay):
    b = _create(client, pay)
    run_to_approved(client, pay, b["id"])
    r = post(client, f"/batches/{b['id']}/bank-file", pay.rcb)
    header, details, ok = parse_bank_file(r.data, "gb18030", "|")
    return b, details


def test_submitter_promoted_to_reviewer_cannot_review_own_batch(client, db, pay, pension_list):
    b = _create(client, pay)
    assert post(client, f"/batches/{b['id']}/submit", pay.operator).status_code == 200
    account = db.session.get(StaffAccount, pay.operator.id)
    account.role = "dept_reviewer"
    db.session.commit()
    r = post(client, f"/batches/{b['id']}/review", pay.operator)
    assert r.status_code == 403 and r.json["error"]["code"] == "maker_checker"


def test_reviewer_cannot_approve_and_operator_cannot_review(client, db, pay, pension_list):
    b = _create(client, pay)
    post(client, f"/batches/{b['id']}/submit", pay.operator)
    r = post(client, f"/batches/{b['id']}/review", pay.operator)
    assert r.status_code == 403
    assert post(client, f"/batches/{b['id']}/review", pay.reviewer).status_code == 200
    account = db.session.get(StaffAccount, pay.reviewer.id)
    account.role = "finance"
    account.department_id = None
    db.session.commit()
    r = post(client, f"/batches/{b['id']}/approve", pay.reviewer)
    assert r.status_code == 403 and r.json["error"]["code"] == "maker_checker"


def test_batch_needs_a_valid_agreement_covering_the_project(client, db, pay, county):
    late = make_project(county["departments"]["县人力资源社会保障局"], county["banks"]["RCB"], "高龄津贴")
    make_list(late, [(pay.people["王秀英"], 10000, "usable")])
    r = post(client, "/batches", pay.operator, project_id=late.id, period=PERIOD)
    assert r.status_code == 409 and r.json["error"]["code"] == "no_valid_agreement"
    make_agreement(late.department_id, late.bank_id, [late.id], valid_from=date(2020, 1, 1),
                   valid_until=date(2021, 12, 31))
    r = post(client, "/batches", pay.operator, project_id=late.id, period=PERIOD)
    assert r.status_code == 409 and r.json["error"]["code"] == "no_valid_agreement"
    assert db.session.execute(sa.select(sa.func.count(Batch.id))).scalar() == 0


def test_other_department_cannot_pay_or_see_the_batch(client, db, pay, pension_list):
    r = post(client, "/batches", pay.agri_operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 403
    b = _create(client, pay)
    assert client.get(f"{API}/batches/{b['id']}", headers=pay.agri_operator.auth).status_code == 404
    assert client.get(f"{API}/batches", headers=pay.abc.auth).json == []
    assert [x["id"] for x in client.get(f"{API}/batches", headers=pay.rcb.auth).json] == [b["id"]]


def test_second_batch_for_the_same_list_has_nobody_to_pay(client, db, pay, pension_list):
    _create(client, pay)
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 409 and r.json["error"]["code"] == "nothing_to_pay"


def test_database_refuses_a_second_live_line_for_the_same_person_and_period(client, db, pay, pension_list):
    b = _create(client, pay)
    line = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == b["id"],
                                                         BatchLine.status == "pending")).scalars().first()
    db.session.add(BatchLine(batch_id=b["id"], resident_id=line.resident_id, project_id=line.project_id,
                             department_id=line.department_id, period=line.period, name=line.name, amount_fen=1,
                             status="pending", route="own_card", route_reason="x", bank_id=line.bank_id,
                             account="6222", account_last4="6222"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_same_idempotency_key_replays_and_a_different_body_is_refused(client, db, pay, pension_list):
    b = _create(client, pay)
    r1 = post(client, f"/batches/{b['id']}/submit", pay.operator, idempotency_key="same")
    r2 = post(client, f"/batches/{b['id']}/submit", pay.operator, idempotency_key="same")
    assert r1.status_code == r2.status_code == 200 and r1.json == r2.json
    from onecard.audit import AuditEntry
    assert db.session.execute(sa.select(sa.func.count()).where(AuditEntry.action == "batch.submitted")).scalar() == 1
    r3 = post(client, f"/batches/{b['id']}/cancel", pay.operator, idempotency_key="same")
    assert r3.status_code == 409 and r3.json["error"]["code"] == "idempotency_key_reused"
    r4 = client.post(f"{API}/batches/{b['id']}/review", headers=pay.reviewer.auth, json={})
    assert r4.status_code == 422 and r4.json["error"]["code"] == "idempotency_key_required"


def test_totals_changed_after_submission_stop_the_batch(client, db, pay, pension_list):
    b = _create(client, pay)
    post(client, f"/batches/{b['id']}/submit", pay.operator)
    db.session.execute(sa.update(BatchLine).where(BatchLine.batch_id == b["id"], BatchLine.status == "pending")
                       .values(amount_fen=BatchLine.amount_fen + 1))
    db.session.commit()
    r = post(client, f"/batches/{b['id']}/review", pay.reviewer)
    assert r.status_code == 409 and r.json["error"]["code"] == "totals_mismatch"


def test_returned_batch_is_corrected_and_resubmitted(client, db, pay, pension_list):
    b = _create(client, pay)
    post(client, f"/batches/{b['id']}/submit", pay.operator)
    r = post(client, f"/batches/{b['id']}/return", pay.reviewer, reason="张桂兰金额待核实")
    assert r.status_code == 200 and r.json["status"] == "returned" and r.json["return_reason"] == "张桂兰金额待核实"
    lines = client.get(f"{API}/batches/{b['id']}/lines?status=pending", headers=pay.operator.auth).json
    target = next(x for x in lines if x["name"] == "张桂兰")
    r = client.post(f"{API}/batch-lines/{target['id']}/remove", headers=pay.operator.auth, json={"reason": "待核实"})
    assert r.status_code == 200 and r.json["line_count"] == 4
    r = post(client, f"/batches/{b['id']}/submit", pay.operator)
    assert r.status_code == 200 and r.json["submitted_count"] == 4
    # The removed person can be paid in a later batch of the same period.
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201 and r.json["line_count"] == 1


def test_only_the_agent_bank_exports_and_unencodable_names_are_refused(client, db, pay, county):
    odd = make_resident(county["towns"][0], county["villages"][0], name="刘䶮")
    make_card(odd, county["banks"]["ABC"])
    make_list(pay.household, [(odd, 5000, "usable")])
    odd.household_id = None
    db.session.commit()
    household_head = pay.household
    household_head.per_household = False
    db.session.commit()
    r = post(client, "/batches", pay.agri_operator, project_id=pay.household.id, period=PERIOD)
    run_to_approved(client, pay, r.json["id"], pay.agri_operator, pay.agri_reviewer)
    assert post(client, f"/batches/{r.json['id']}/bank-file", pay.rcb).status_code == 404
    f = post(client, f"/batches/{r.json['id']}/bank-file", pay.abc)
    assert f.status_code == 422 and f.json["error"]["code"] == "unencodable_character"
    assert client.get(f"{API}/batches/{r.json['id']}", headers=pay.abc.auth).json["status"] == "approved"


@pytest.mark.parametrize("spoil,code_part", [
    ("other_batch", "wrong_batch"), ("repeat", "重复"), ("missing", "缺少"), ("totals", "合计"),
    ("checksum", "校验值"), ("foreign_line", "不属于"), ("amounts", "金额与代发明细不符"),
])
def test_bad_result_files_are_refused_whole_and_change_nothing(client, db, pay, pension_list, spoil, code_part):
    b, details = _sent(client, pay)
    rows = [(int(d[1]), int(d[4].replace(".", "")), "S", "", "") for d in details]
    number = b["number"]
    if spoil == "other_batch":
        number = "PB000000000"
    elif spoil == "repeat":
        rows = rows[:-1] + [rows[0]]     # same count and total, one line twice
    elif spoil == "missing":
        rows = rows[:-1]
    elif spoil == "foreign_line":
        rows = rows[:-1] + [(999999, rows[-1][1], "S", "", "")]
    elif spoil == "amounts":     # same count and total, two lines' amounts wrong
        rows = [(rows[0][0], rows[0][1] + 1, "S", "", ""), (rows[1][0], rows[1][1] - 1, "S", "", "")] + rows[2:]
    data = bankformats.write_result_file(bankformats.RCB, number, rows)
    if spoil == "totals":
        data = data.replace(b"|5|915.00|", b"|5|916.00|", 1)
    if spoil == "checksum":
        head, _, body = data.partition(b"\r\n")
        data = head + b"\r\n" + body.replace(b"|S||", b"|F|frozen|", 1)
    r = client.post(f"{API}/batches/{b['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "k"},
                    data={"file": (io.BytesIO(data), "r.txt")})
    assert r.status_code in (409, 422), r.json
    err = r.json["error"]
    assert code_part in err["code"] or code_part in err["message"], err
    assert db.session.execute(sa.select(sa.func.count(LedgerEntry.id))).scalar() == 0
    assert db.session.execute(sa.select(sa.func.count(ArrivalEvent.id))).scalar() == 0
    assert db.session.get(Batch, b["id"]).status == "sent"
    assert db.session.execute(sa.select(sa.func.count()).where(BatchLine.status == "sent")).scalar() == 5


def test_unknown_failure_code_is_refused(client, db, pay, pension_list):
    b, details = _sent(client, pay)
    rows = [{"line_id": int(d[1]), "amount_fen": 18300, "outcome": "failed", "failure_code": "whatever"}
            for d in details]
    r = post(client, f"/batches/{b['id']}/results", pay.rcb, batch_number=b["number"], count=5, total_fen=91500,
             results=rows)
    assert r.status_code == 422 and r.json["error"]["code"] == "unknown_failure_code"


def test_proxy_needs_a_protected_category_and_a_legal_basis(client, db, pay, county):
    from onecard.people.models import ProxyAppointment
    adult = make_resident(county["towns"][0], county["villages"][0], name="曾国平")
    make_card(adult, county["banks"]["RCB"], status="issued")
    helper = pay.people["周海燕"]
    db.session.add(ProxyAppointment(resident_id=adult.id, proxy_resident_id=helper.id, category="dibao",
                                    legal_basis="村委会证明", appointed_by="某村委会", valid_from=date(2025, 1, 1)))
    db.session.commit()
    make_list(pay.pension, [(adult, 18300, "not_activated"), (pay.people["王秀英"], 18300, "usable")])
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.operator.auth).json}
    assert lines["曾国平"]["status"] == "held" and "未激活" in lines["曾国平"]["route_reason"]


def test_failure_worklist_is_scoped_and_reissue_is_refused_for_other_departments(client, db, pay, pension_list):
    b, details = _sent(client, pay)
    first = int(details[0][1])
    answer = result_file(bankformats.RCB, b["number"], details, {first: "closed"})
    r = client.post(f"{API}/batches/{b['id']}/result-file", headers={**pay.rcb.auth, "Idempotency-Key": "x"},
                    data={"file": (io.BytesIO(answer), "r.txt")})
    assert r.status_code == 200
    assert len(client.get(f"{API}/payment-failures", headers=pay.rcb.auth).json) == 1
    assert client.get(f"{API}/payment-failures", headers=pay.abc.auth).json == []
    r = post(client, "/reissues", pay.agri_operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 403


def test_held_person_joins_a_later_batch_once_the_card_is_fixed(client, db, pay, pension_list):
    b = _create(client, pay)
    held = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == b["id"], BatchLine.name == "孙玉凤")
                              ).scalar_one()
    assert held.status == "held"
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 409 and r.json["error"]["code"] == "nothing_to_pay"
    from onecard.cards.models import Card
    card = db.session.execute(sa.select(Card).where(Card.resident_id == pay.people["孙玉凤"].id)).scalar_one()
    card.status = "active"      # 解除挂失
    db.session.commit()
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201 and r.json["line_count"] == 1
    db.session.expire_all()
    assert db.session.get(BatchLine, held.id).status == "rejoined"
    later = client.get(f"{API}/batches/{r.json['id']}/lines?status=pending", headers=pay.operator.auth).json
    assert [x["name"] for x in later] == ["孙玉凤"] and later[0]["route"] == "own_card"


def _proxied_line(client, db, pay, county, ward, *, proxy_dead=False, category="dibao"):
    from onecard.people.models import ProxyAppointment
    helper = pay.people["周海燕"]
    if proxy_dead:
        helper.deceased_on = date(2026, 1, 5)
    db.session.add(ProxyAppointment(resident_id=ward.id, proxy_resident_id=helper.id, category=category,
                                    legal_basis="（2025）鲁0831民特12号", appointed_by="泗水县人民法院",
                                    valid_from=date(2025, 1, 1)))
    db.session.commit()
    make_list(pay.pension, [(ward, 18300, "not_applied"), (pay.people["王秀英"], 18300, "usable")])
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    lines = {x["name"]: x for x in client.get(f"{API}/batches/{r.json['id']}/lines", headers=pay.operator.auth).json}
    return lines[ward.name]


def test_a_minor_is_paid_to_the_proxy_by_birth_date_alone(client, db, pay, county):
    child = make_resident(county["towns"][0], county["villages"][0], name="曾小雨", birth=date(2015, 6, 1))
    line = _proxied_line(client, db, pay, county, child, category="minor")
    assert line["status"] == "pending" and line["route"] == "proxy", line


def test_an_adult_appointed_as_a_minor_is_not_paid_to_the_proxy(client, db, pay, county):
    grown = make_resident(county["towns"][0], county["villages"][0], name="曾大雨", birth=date(2000, 6, 1))
    line = _proxied_line(client, db, pay, county, grown, category="minor")
    assert line["status"] == "held", line


def test_a_dead_proxy_receives_nothing(client, db, pay, county):
    ward = make_resident(county["towns"][0], county["villages"][0], name="曾国安", categories=("dibao",))
    line = _proxied_line(client, db, pay, county, ward, proxy_dead=True)
    assert line["status"] == "held", line


def test_a_revoked_group_no_longer_lets_the_proxy_receive(client, db, pay, county):
    from onecard.people.models import ResidentCategory
    ward = make_resident(county["towns"][0], county["villages"][0], name="曾国庆", categories=("dibao",))
    db.session.execute(sa.update(ResidentCategory).where(ResidentCategory.resident_id == ward.id)
                       .values(revoked_at=date(2026, 1, 1)))
    line = _proxied_line(client, db, pay, county, ward)
    assert line["status"] == "held", line


def test_a_list_paid_by_a_batch_made_by_project_and_period_cannot_be_withdrawn(client, pay, pension_list):
    """Issue #16: a batch made without list_id still pays the list's rows; withdrawing the list answered 500."""
    b = _create(client, pay)
    assert db_batch_list_id(b["id"]) is None
    r = client.post(f"{API}/lists/{pension_list.id}/withdraw", headers=pay.operator.auth, json={"reason": "重复上传"})
    assert r.status_code == 409 and r.json["error"]["code"] == "list_in_batch", r.json


def db_batch_list_id(batch_id):
    from onecard.extensions import db
    return db.session.get(Batch, batch_id).list_id
