"""Held payments release themselves (应发未发): through the HTTP API, a resident whose card was not activated when
the batch was made is paid in the next batch after activation, once, as a late payment of the original period,
with the SMS; the follow-up lists and statistics; the department's cancellation and its refusals; a race."""
from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from notifications.jobs import drain_once
from onecard.audit import AuditEntry
from onecard.notices import service as notice_service
from onecard.payments import bankformats, owed
from onecard.payments.models import BatchLine, LedgerEntry
from onecard.timeutil import local_day_start, local_today
from onecard.validation import format_yuan
from tests.factories import make_card, make_resident
from tests.fixtures_payments import make_list, parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved
from tests.onecard.payments.test_races import race

CITIZEN = "/api/citizen/v1"


def pay_through(client, pay, batch):
    """Approve, send and answer a batch: everyone paid."""
    run_to_approved(client, pay, batch["id"])
    data = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb).data
    _, details, _ = parse_bank_file(data, "gb18030", "|")
    answer = result_file(bankformats.RCB, batch["number"], details, {})
    r = client.post(f"{API}/batches/{batch['id']}/result-file",
                    headers={**pay.rcb.auth, "Idempotency-Key": uuid.uuid4().hex},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 200, r.json


@pytest.fixture
def sleeper(pay):
    """钱桂芝: listed for the pension, her card issued but not activated."""
    county = pay.county
    r = make_resident(county["towns"][0], county["villages"][0], name="钱桂芝")
    make_card(r, county["banks"]["RCB"], status="issued")
    return r


def h5_subsidies(client, resident) -> str:
    phone = client.application.test_client()
    login_page = phone.get("/m/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    phone.post("/m/login", data={"csrf_token": token, "resident_id": str(resident.id)})
    return phone.get("/m/subsidies").get_data(as_text=True)


def lines_of(client, pay, batch_id):
    return client.get(f"{API}/batches/{batch_id}/lines", headers=pay.operator.auth).json


def test_a_card_activated_after_the_batch_is_paid_in_the_next_batch_once_with_the_sms(
        client, db, pay, sleeper, citizen_env, citizen_login, twilio_app, fake_twilio):
    wang = pay.people["王秀英"]
    make_list(pay.pension, [(wang, 18300, "usable"), (sleeper, 18300, "not_activated")], period="2026-10")
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    assert r.status_code == 201, r.json
    october = r.json
    held = next(x for x in lines_of(client, pay, october["id"]) if x["name"] == "钱桂芝")
    assert held["status"] == "held" and "未激活" in held["route_reason"]
    pay_through(client, pay, october)

    # The resident's page: 待发放, why, and what to do.
    auth = citizen_login(sleeper)
    [item] = client.get(f"{CITIZEN}/subsidies/owed", headers=auth).json
    assert item["status_label"] == "待发放" and "未激活" in item["reason"] and "激活" in item["what_to_do"]
    assert "待发放" in h5_subsidies(client, sleeper)

    # She activates her card herself: the owed line is released at once (audited).
    assert client.post(f"{CITIZEN}/card/activate/code", headers=auth).status_code == 200
    code = re.search(r"验证码(\d{6})", fake_twilio.messages[-1].body).group(1)    # sent through Twilio here
    r = client.post(f"{CITIZEN}/card/activate", headers=auth, json={"code": code})
    assert r.status_code == 200 and r.json["status"] == "active"
    assert db.session.get(BatchLine, held["id"]).status == "released"
    [item] = client.get(f"{CITIZEN}/subsidies/owed", headers=auth).json
    assert item["status_label"] == "将随下一批发放" and item["reason"] is None
    assert "将随下一批发放" in h5_subsidies(client, sleeper)
    assert db.session.execute(sa.select(AuditEntry.action).where(AuditEntry.entity_type == "batch_line",
                                                                 AuditEntry.entity_id == str(held["id"]))
                              ).scalars().all() == ["payment.owed_released"]

    # The department's next batch (November) pays her October late, in October, beside November.
    make_list(pay.pension, [(wang, 18300, "usable"), (sleeper, 18300, "usable")], period="2026-11")
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-11")
    assert r.status_code == 201, r.json
    november = r.json
    assert november["line_count"] == 3
    late = next(x for x in lines_of(client, pay, november["id"]) if x["late_of_line_id"] == held["id"])
    assert late["period"] == "2026-10" and late["route"] == "own_card" and late["status"] == "pending"
    assert db.session.get(BatchLine, held["id"]).status == "rejoined"
    pay_through(client, pay, november)
    periods = db.session.execute(sa.select(LedgerEntry.period).where(LedgerEntry.resident_id == sleeper.id,
                                                                     LedgerEntry.outcome == "paid")
                                 .order_by(LedgerEntry.period)).scalars().all()
    assert periods == ["2026-10", "2026-11"]
    assert client.get(f"{CITIZEN}/subsidies/owed", headers=auth).json == []

    # The SMS: one per payment, the late one naming October.
    notice_service.enqueue_arrivals()
    drain_once()
    to_her = [m.body for m in fake_twilio.messages if m.to.endswith(sleeper.mobile[-4:])]
    arrivals = [b for b in to_her if "验证码" not in b]
    assert len(arrivals) == 2 and any("2026年10月" in b for b in arrivals)

    # Once: December's batch does not pay October again, and the database refuses a second October.
    make_list(pay.pension, [(sleeper, 18300, "usable")], period="2026-12")
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-12")
    assert r.status_code == 201 and r.json["line_count"] == 1
    second = db.session.get(BatchLine, late["id"])
    db.session.add(BatchLine(batch_id=r.json["id"], resident_id=sleeper.id, project_id=pay.pension.id,
                             department_id=second.department_id, period="2026-10", name="钱桂芝", amount_fen=18300,
                             status="pending", route="own_card", route_reason="x", bank_id=second.bank_id,
                             account="6222", late_of_line_id=None))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_owed_lines_are_listed_and_counted_by_town_village_and_reason_with_their_age(
        client, db, pay, sleeper, pension_list):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    batch = r.json
    pay_through(client, pay, batch)
    rows = client.get(f"{API}/owed-payments", headers=pay.operator.auth).json
    held = {x["name"]: x for x in rows}
    assert set(held) == {"孙玉凤"}        # the unmatched row has no resident; 周明华 was paid to the proxy
    assert held["孙玉凤"]["age_days"] == 0 and held["孙玉凤"]["status_label"] == "暂缓"
    by_reason = client.get(f"{API}/owed-payments/summary?by=reason", headers=pay.operator.auth).json
    assert [(x["count"], x["fen"]) for x in by_reason] == [(1, 18300)] and "挂失" in by_reason[0]["label"]
    by_town = client.get(f"{API}/owed-payments/summary?by=town", headers=pay.finance.auth).json
    assert sum(x["count"] for x in by_town) == 1 and by_town[0]["oldest_age_days"] == 0
    assert client.get(f"{API}/owed-payments/summary?by=bank", headers=pay.operator.auth).status_code == 422
    assert client.get(f"{API}/owed-payments", headers=pay.agri_operator.auth).json == []
    assert client.get(f"{API}/owed-payments", headers=pay.rcb.auth).status_code == 403


def owed_since(db, moments: dict[int, datetime]) -> None:
    """Backdate held lines: a held line is owed since its batch made it (test data only, as if months had passed)."""
    for line_id, at in moments.items():
        db.session.execute(sa.update(BatchLine).where(BatchLine.id == line_id).values(created_at=at))
    db.session.commit()


def test_owed_money_is_counted_by_age_band_per_town_and_reason(client, db, pay, make_staff):
    """Bands by days owed, on the county's (Shanghai) calendar: under 30, 30-90, 91-180, over 180; the boundaries
    fall at local midnight, and a line owed since 23:59 local (15:59 UTC) is in its local day's band."""
    towns, villages = pay.county["towns"], pay.county["villages"]
    ages = [0, 29, 30, 90, 91, 180, 181, 400]
    sleepers = []
    for i, age in enumerate(ages):
        r = make_resident(towns[i % 2], villages[i % 2], name=f"欠发{age}")
        make_card(r, pay.county["banks"]["RCB"], status="issued")
        sleepers.append(r)
    # Each its own amount, so every band's money says which lines it holds.
    make_list(pay.pension, [(r, 10000 + 100 * i, "not_activated") for i, r in enumerate(sleepers)]
              + [(pay.people["王秀英"], 18300, "usable")], period="2026-10")
    batch = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, batch)
    held = {x["name"]: x["id"] for x in lines_of(client, pay, batch["id"]) if x["status"] == "held"}
    today = local_today()
    day_start = lambda n: local_day_start(today - timedelta(days=n))  # noqa: E731
    moments = {}
    for age in ages:
        # Ages 29 and 180: the first minute of the local day; 30 and 181: its last; others mid-day.
        at = (day_start(age) if age in (29, 180) else day_start(age - 1) - timedelta(minutes=1)
              if age in (30, 181) else day_start(age) + timedelta(hours=12))
        moments[held[f"欠发{age}"]] = at
    owed_since(db, moments)
    listed = {x["name"]: x["age_days"] for x in client.get(f"{API}/owed-payments", headers=pay.operator.auth).json}
    assert listed == {f"欠发{a}": a for a in ages}          # the list's own age of each line, as set up

    def bands(row):
        return {b["band"]: (b["count"], b["fen"]) for b in row["age_bands"]}
    [by_reason] = client.get(f"{API}/owed-payments/summary?by=reason", headers=pay.operator.auth).json
    assert by_reason["count"] == 8 and by_reason["oldest_age_days"] == 400
    assert [b["band"] for b in by_reason["age_bands"]] == ["under_30", "30_90", "91_180", "over_180"]
    assert [b["label"] for b in by_reason["age_bands"]] == ["不满30天", "30至90天", "91至180天", "180天以上"]
    assert bands(by_reason) == {"under_30": (2, 10000 + 10100), "30_90": (2, 10200 + 10300),
                                "91_180": (2, 10400 + 10500), "over_180": (2, 10600 + 10700)}
    assert sum(b["fen"] for b in by_reason["age_bands"]) == by_reason["fen"]
    assert by_reason["age_bands"][3]["yuan"] == format_yuan(10600 + 10700)

    # By town: ages 0, 30, 91, 181 live in the first town, 29, 90, 180, 400 in the second.
    by_town = {x["key"]: x for x in client.get(f"{API}/owed-payments/summary?by=town", headers=pay.finance.auth).json}
    assert bands(by_town[towns[0]]) == {"under_30": (1, 10000), "30_90": (1, 10200), "91_180": (1, 10400),
                                        "over_180": (1, 10600)}
    assert bands(by_town[towns[1]]) == {"under_30": (1, 10100), "30_90": (1, 10300), "91_180": (1, 10500),
                                        "over_180": (1, 10700)}
    # Village staff: their own village's bands only.
    village = make_staff("village_staff", "cx_bands", village_id=villages[1])
    [mine] = client.get(f"{API}/owed-payments/summary?by=village", headers=village.auth).json
    assert mine["count"] == 4 and bands(mine)["over_180"] == (1, 10700)


def test_only_the_owning_department_cancels_an_owed_line_with_a_reason(client, db, pay, pension_list):
    batch = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, batch)
    lines = {x["name"]: x for x in lines_of(client, pay, batch["id"])}
    held, paid = lines["孙玉凤"]["id"], lines["王秀英"]["id"]

    def cancel(staff, line_id, reason="本人已迁出本县，经核实不再发放"):
        return post(client, f"/owed-payments/{line_id}/cancel", staff, reason=reason)
    assert cancel(pay.rcb, held).status_code == 403
    assert cancel(pay.finance, held).status_code == 403
    assert cancel(pay.agri_operator, held).status_code == 404
    r = cancel(pay.operator, paid)
    assert r.status_code == 409 and r.json["error"]["code"] == "line_not_owed"
    assert cancel(pay.operator, held, reason="").status_code == 422
    r = cancel(pay.operator, held)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "payment.owed_cancelled")).scalar_one()
    assert entry.note == "本人已迁出本县，经核实不再发放" and entry.entity_id == str(held)
    assert cancel(pay.operator, held).json["error"]["code"] == "line_not_owed"
    # A cancelled line never joins a later batch, even once the card works again.
    card_owner = pay.people["孙玉凤"]
    assert owed.release(db.session, [card_owner.id]) == {"released": 0, "held": 0}


def test_two_batches_made_at_once_pay_a_released_line_once(app, client, db, pay, sleeper):
    make_list(pay.pension, [(sleeper, 18300, "not_activated"), (pay.people["王秀英"], 18300, "usable")],
              period="2026-10")
    october = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, october)
    from onecard.cards.models import Card
    card = db.session.execute(sa.select(Card).where(Card.resident_id == sleeper.id)).scalar_one()
    card.status = "active"
    db.session.commit()
    assert owed.release(db.session, [sleeper.id]) == {"released": 1, "held": 0}
    db.session.commit()
    for period in ("2026-11", "2026-12"):
        make_list(pay.pension, [(pay.people["王秀英"], 18300, "usable")], period=period)
    results = race(app, [("/batches", pay.operator.auth, {"project_id": pay.pension.id, "period": p,
                                                          "idempotency_key": uuid.uuid4().hex})
                         for p in ("2026-11", "2026-12")])
    assert sorted(s for s, _ in results) in ([201, 201], [201, 409]), results
    late = db.session.execute(sa.select(sa.func.count(BatchLine.id)).where(
        BatchLine.resident_id == sleeper.id, BatchLine.period == "2026-10", BatchLine.status == "pending")).scalar()
    assert late == 1


def test_the_registry_import_activating_a_card_releases_the_owed_line(client, db, pay, sleeper, admin):
    from tests.staff_api.test_registry import _csv as registry_csv
    from tests.staff_api.test_registry import _row, _town_names, _upload
    make_list(pay.pension, [(sleeper, 18300, "not_activated"), (pay.people["王秀英"], 18300, "usable")],
              period="2026-10")
    october = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, october)
    held = next(x for x in lines_of(client, pay, october["id"]) if x["name"] == "钱桂芝")
    from onecard.cards.models import Card
    card = db.session.execute(sa.select(Card).where(Card.resident_id == sleeper.id)).scalar_one()
    t1, _, _ = _town_names(db, pay.county)
    r = _upload(client, admin, registry_csv([_row("钱桂芝", sleeper.id_number, card.card_number, status="正常",
                                                  bank="农商银行", town=t1)]))
    assert r.status_code in (200, 201), r.json
    db.session.expire_all()
    assert db.session.get(Card, card.id).status == "active"
    assert db.session.get(BatchLine, held["id"]).status == "released"


def test_a_late_payment_taken_out_waits_again_and_a_card_lost_again_holds_it(client, db, pay, sleeper):
    from onecard.cards.models import Card
    make_list(pay.pension, [(sleeper, 18300, "not_activated"), (pay.people["王秀英"], 18300, "usable")],
              period="2026-10")
    october = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10").json
    pay_through(client, pay, october)
    held = next(x for x in lines_of(client, pay, october["id"]) if x["name"] == "钱桂芝")
    card = db.session.execute(sa.select(Card).where(Card.resident_id == sleeper.id)).scalar_one()
    card.status = "active"
    db.session.commit()
    owed.release(db.session, [sleeper.id])
    db.session.commit()
    make_list(pay.pension, [(pay.people["王秀英"], 18300, "usable")], period="2026-11")
    november = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-11").json
    late = next(x for x in lines_of(client, pay, november["id"]) if x["late_of_line_id"] == held["id"])
    # Taken out of the draft: the owed line waits for the next batch again (已并入新批次 → 待随下一批发放).
    r = client.post(f"{API}/batch-lines/{late['id']}/remove", headers=pay.operator.auth, json={"reason": "下月再发"})
    assert r.status_code == 200, r.json
    assert db.session.get(BatchLine, held["id"]).status == "released"
    # The card is lost before the next batch: re-evaluated, it is held again with the new reason.
    card = db.session.get(Card, card.id)
    card.status = "lost"
    db.session.commit()
    assert owed.release(db.session, [sleeper.id]) == {"released": 0, "held": 1}
    db.session.commit()
    line = db.session.get(BatchLine, held["id"])
    assert line.status == "held" and "挂失" in line.route_reason
    # Given up by the department while waiting: 已移出 (cancelling a released line, too).
    card.status = "active"
    db.session.commit()
    owed.release(db.session, [sleeper.id])
    db.session.commit()
    r = post(client, f"/owed-payments/{held['id']}/cancel", pay.operator, reason="本人书面放弃")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
