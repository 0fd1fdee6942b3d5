"""Bank formats are a registry and the bank's format is data; a result file is read with the format the batch
recorded when its payment file was exported, not with the bank's format of today."""
from __future__ import annotations

import io
import uuid

import pytest
import sqlalchemy as sa

from onecard.errors import Conflict
from onecard.payments import bankformats
from onecard.payments.models import Batch
from onecard.reference import data
from onecard.reference.models import Bank
from tests.fixtures_payments import parse_bank_file
from tests.onecard.payments.test_flow import API, post, result_file, run_to_approved


def test_registry_holds_every_format_under_its_own_code():
    assert set(bankformats.BANK_FORMATS) == {"generic", "rcb"}
    assert all(code == fmt.code for code, fmt in bankformats.BANK_FORMATS.items())
    # Every seeded bank names a registered format; the rural commercial bank has its own.
    assert {row[0]: row[4] for row in data.BANKS}["RCB"] == "rcb"
    assert all(row[4] in bankformats.BANK_FORMATS for row in data.BANKS)


def test_seeded_banks_carry_their_format(db, county):
    formats = dict(db.session.execute(sa.select(Bank.code, Bank.bank_format)).all())
    assert formats["RCB"] == "rcb" and formats["ICBC"] == "generic"


def test_unknown_format_is_refused_not_guessed():
    with pytest.raises(Conflict) as refused:
        bankformats.format_named("xyz")
    assert refused.value.code == "bank_format_unknown"


def test_result_file_is_read_with_the_format_recorded_at_export(client, db, pay, pension_list):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    batch = r.json
    run_to_approved(client, pay, batch["id"])
    r = post(client, f"/batches/{batch['id']}/bank-file", pay.rcb)
    assert r.status_code == 200
    assert db.session.get(Batch, batch["id"]).bank_layout == "rcb"
    _, details, ok = parse_bank_file(r.data, "gb18030", "|")
    assert ok
    # The county switches the bank to the generic format after the file went out (put back afterwards: on
    # PostgreSQL the reference data outlives the test).
    bank = db.session.get(Bank, pay.county["banks"]["RCB"])
    bank.bank_format = "generic"
    db.session.commit()
    try:
        answer = result_file(bankformats.RCB, batch["number"], details, {})
        r = client.post(f"{API}/batches/{batch['id']}/result-file",
                        headers={**pay.rcb.auth, "Idempotency-Key": uuid.uuid4().hex},
                        data={"file": (io.BytesIO(answer), "result.txt")})
    finally:
        db.session.rollback()
        db.session.get(Bank, pay.county["banks"]["RCB"]).bank_format = "rcb"
        db.session.commit()
    assert r.status_code == 200, r.json
    assert r.json["status"] == "feedback_received" and r.json["paid_count"] == len(details)
    assert r.json["bank_layout"] == "rcb"


def test_a_batch_never_exported_refuses_a_result_file(client, db, pay, pension_list):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    batch = r.json
    run_to_approved(client, pay, batch["id"])
    answer = bankformats.RCB.write_result_file(batch["number"], [(1, 18300, "S", "", "")])
    r = client.post(f"{API}/batches/{batch['id']}/result-file",
                    headers={**pay.rcb.auth, "Idempotency-Key": uuid.uuid4().hex},
                    data={"file": (io.BytesIO(answer), "result.txt")})
    assert r.status_code == 409 and r.json["error"]["code"] == "batch_invalid_transition"
    assert db.session.get(Batch, batch["id"]).status == "approved"
