"""One declaration per document: the services' views give exactly the fields of the schema the staff API answers
with, and the console's labels are the lifecycle machines'."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from console import payments_pages
from onecard.payments import agreements, common
from onecard.payments.lifecycle import BATCH_MACHINE, LINE_MACHINE
from onecard.payments.models import Agreement, Batch, BatchLine
from onecard.payments.schemas import AgreementOut, BatchOut, LineOut
from staff_api import payments as staff_payments

# Added by the use cases that return them (export, reconcile, re-issue), not by the view.
BATCH_EXTRAS = {"file_name", "reconciliation", "blocked"}


def test_doors_use_the_one_schema_and_labels():
    assert staff_payments.BatchOut is BatchOut and staff_payments.LineOut is LineOut
    assert staff_payments.AgreementOut is AgreementOut
    assert payments_pages.BATCH_LABELS is BATCH_MACHINE.labels and payments_pages.LINE_LABELS is LINE_MACHINE.labels


def test_views_give_exactly_the_schema_fields(client, db, pay, pension_list):
    r = client.post("/api/staff/v1/batches", headers=pay.operator.auth,
                    json={"project_id": pay.pension.id, "period": "2026-10", "idempotency_key": uuid.uuid4().hex})
    batch = db.session.get(Batch, r.json["id"])
    assert set(common.batch_view(batch)) == set(BatchOut().fields) - BATCH_EXTRAS
    line = db.session.execute(sa.select(BatchLine).where(BatchLine.batch_id == batch.id)).scalars().first()
    assert set(common.line_view(line)) == set(LineOut().fields)
    agreement = db.session.execute(sa.select(Agreement)).scalars().first()
    assert set(agreements.agreement_view(agreement)) == set(AgreementOut().fields)
