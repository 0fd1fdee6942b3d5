"""Files holding personal numbers at rest (issue #16 item 8): payment files and refused-upload reports are sealed,
owner-only, and purged by the nightly job after their retention, the purge audited."""
from __future__ import annotations

import json
import os
import stat
import time

import pytest
import sqlalchemy as sa

from onecard import files_at_rest
from onecard.audit import AuditEntry
from onecard.lists.models import ListUploadReport
from onecard.payments import exports
from onecard.payments.models import Batch
from tests.fixtures_lists import csv_bytes, upload
from tests.onecard.payments.test_flow import API, post, run_to_approved
from tests.staff_api.test_lists import good_row


@pytest.fixture(autouse=True)
def bank_file_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "BANK_FILE_DIR", str(tmp_path / "bank_files"))


def _exported(client, pay):
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period="2026-10")
    assert r.status_code == 201, r.json
    run_to_approved(client, pay, r.json["id"])
    exported = post(client, f"/batches/{r.json['id']}/bank-file", pay.rcb)
    assert exported.status_code == 200
    return r.json["id"], exported.data


def test_the_payment_file_is_kept_sealed_and_owner_only_and_downloads_as_sent(client, db, pay, pension_list):
    batch_id, sent = _exported(client, pay)
    from onecard.cards.models import Card
    accounts = db.session.execute(sa.select(Card.account).where(
        Card.resident_id.in_([pay.people[n].id for n in ("王秀英", "李建国", "张桂兰")]))).scalars().all()
    assert accounts and all(a.encode() in sent for a in accounts)
    path = exports.bank_file_path(db.session.get(Batch, batch_id))
    on_disk = open(path, "rb").read()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert b"|" not in on_disk and sent not in on_disk            # not the file the bank got, in clear
    for account in accounts:
        assert account.encode() not in on_disk
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith((".tmp", ".body"))], \
        os.listdir(os.path.dirname(path))
    again = client.get(f"{API}/batches/{batch_id}/bank-file", headers=pay.rcb.auth)
    assert again.status_code == 200 and again.data == sent


def test_expired_payment_files_and_reports_are_purged_and_the_purge_audited(client, db, pay, pension_list, operator,
                                                                              project):
    batch_id, _ = _exported(client, pay)
    r = upload(client, operator, project.id, csv_bytes([good_row("", None)]))
    assert r.status_code == 422
    report_id = r.json["error"]["details"]["report_id"]
    raw = db.session.get(ListUploadReport, report_id).xlsx
    assert not raw.startswith(b"PK") and files_at_rest.unseal(raw).startswith(b"PK")   # sealed, not an xlsx
    # nothing is old yet
    assert files_at_rest.purge_expired() == {"bank_files": [], "upload_reports": []}
    path = exports.bank_file_path(db.session.get(Batch, batch_id))
    old = time.time() - 91 * 86400
    os.utime(path, (old, old))
    db.session.execute(sa.update(ListUploadReport).values(created_at=sa.func.datetime("now", "-8 days"))
                       if db.engine.dialect.name == "sqlite" else
                       sa.update(ListUploadReport).values(created_at=sa.text("now() - interval '8 days'")))
    db.session.commit()
    result = files_at_rest.purge_expired()
    number = db.session.get(Batch, batch_id).number
    assert result == {"bank_files": [number], "upload_reports": [report_id]}
    assert not os.path.exists(path) and db.session.get(ListUploadReport, report_id) is None
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "files.purged")).scalar_one()
    # The audit masks long digit runs like any number: the batch number, and a report id whose random hex
    # happens to hold one; what stays is one entry per purged file.
    purged = json.loads(entry.after)
    assert [n[:2] for n in purged["bank_files"]] == ["PB"] and len(purged["upload_reports"]) == 1
    gone = client.get(f"{API}/batches/{batch_id}/bank-file", headers=pay.rcb.auth)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "bank_file_purged"
    assert client.get(f"{API}/lists/reports/{report_id}.xlsx", headers=operator.auth).status_code == 404
