"""The list importer's stored columns are declared once (importer.ROW_FIELDS): the insert statement, the
checked row, the encryption and the duplicate report all address fields by name, so declaring them in
another order (as a new attachment-3 column in the middle would) still stores every field in its column."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from onecard.extensions import db
from onecard.lists import importer
from onecard.lists.models import RecipientRow
from tests.fixtures_lists import csv_bytes, upload
from tests.staff_api.test_lists import good_row


def _declare(monkeypatch, row_fields: tuple[str, ...]) -> None:
    """Re-declare the row fields in another order, with every position derived from it as the module does."""
    field = {name: i for i, name in enumerate(row_fields)}
    stored = importer.ROW_HEAD + row_fields
    monkeypatch.setattr(importer, "ROW_FIELDS", row_fields)
    monkeypatch.setattr(importer, "STORED_COLUMNS", stored)
    monkeypatch.setattr(importer, "_FIELD", field)
    monkeypatch.setattr(importer, "_STORED", {name: i for i, name in enumerate(stored)})
    for constant in importer._CONSTANTS:
        monkeypatch.setattr(importer, constant, field[constant.lower()])


def test_the_fast_and_careful_paths_agree_field_by_field(app):
    validator = importer.RowValidator(towns={"泉林镇": 1}, villages={(1, "东村"): 7}, bank_index={},
                                      standard_fen=50000, period="2026-11")
    validator.bank_cache["工商银行"] = 3
    validator.bind({key: i for i, (key, _h, _r) in enumerate(importer.COLUMNS)})
    row = good_row("孔德福", town="泉林镇", village="东村")
    fast = validator.fast_row(5, tuple(row))
    careful, errors = validator.validate(5, lambda key: row[[k for k, _h, _r in importer.COLUMNS].index(key)])
    assert errors == [] and set(careful) == set(importer.ROW_FIELDS)
    assert fast == tuple(careful[name] for name in importer.ROW_FIELDS)
    assert fast[importer.AMOUNT_FEN] == 10000 and fast[importer.TOWN_ID] == 1 and fast[importer.VILLAGE_ID] == 7


@pytest.mark.parametrize("order", ["reversed", "shifted"])
def test_a_reordered_declaration_still_stores_each_field_in_its_column(client, operator, project, monkeypatch,
                                                                       order):
    fields = importer.ROW_FIELDS
    _declare(monkeypatch, tuple(reversed(fields)) if order == "reversed" else fields[5:] + fields[:5])
    rows = [good_row("孔德福", amount="88.50"), good_row("孟秀英", account=None)]
    r = upload(client, operator, project.id, csv_bytes(rows))
    assert r.status_code == 201, r.json
    stored = db.session.execute(sa.select(RecipientRow).where(RecipientRow.list_id == r.json["id"])
                                .order_by(RecipientRow.row_no)).scalars().all()
    assert [(s.row_no, s.name, s.id_number, s.mobile, s.mobile_last4, s.account, s.amount_fen, s.expected_date)
            for s in stored] == [
        (2, "孔德福", rows[0][1], rows[0][3], rows[0][3][-4:], rows[0][7], 8850, date(2026, 11, 5)),
        (3, "孟秀英", rows[1][1], rows[1][3], rows[1][3][-4:], None, 10000, date(2026, 11, 5))]
    assert all(s.project_id == project.id and s.period == "2026-11" and s.ethnicity == "01" for s in stored)
    # The duplicate report reads the row number, blind index and amount by name too.
    again = upload(client, operator, project.id, csv_bytes([good_row("另一人"), good_row("孔德福", rows[0][1])]))
    assert again.status_code == 422
    (error,) = again.json["error"]["details"]["errors"]
    assert error["row"] == 3 and "第2行" in error["reason"]
