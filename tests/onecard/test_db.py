"""onecard.db.bulk_insert: the one driver-level executemany builder of the bulk paths."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from onecard.db import bulk_insert
from onecard.extensions import db
from onecard.people.models import Resident
from onecard.privacy import blind_index
from onecard.registry.importer import _RESIDENT_COLUMNS
from tests.factories import new_id_number


def _resident(id_number: str, town_id: int, at: datetime) -> tuple:
    return ("孔德福", id_number, blind_index(id_number, "id"), "370831***********5", "M", 1950, "01",
            None, None, None, town_id, None, False, at, at)


def test_converted_values_read_back_as_the_orm_writes_them(app, county):
    at = datetime(2026, 11, 30, 16, 0)    # whole seconds: SQLite's stored text must still match the ORM's
    id_number = new_id_number()
    town_id = county["towns"][0]
    assert bulk_insert(Resident.__table__, _RESIDENT_COLUMNS, [_resident(id_number, town_id, at)], convert=True) == 1
    person = db.session.execute(sa.select(Resident).where(Resident.created_at == at)).scalars().one()
    assert person.id_number == id_number and person.birth_year == 1950 and person.sms_opt_out is False
    raw = db.session.execute(sa.text("SELECT id_number FROM residents WHERE id = :id"), {"id": person.id}).scalar()
    assert raw != id_number            # encrypted on the way in, like the ORM's Encrypted type


def test_conflicting_rows_are_skipped_and_counted(app, county):
    at = datetime(2026, 11, 30, 16, 0)
    town_id = county["towns"][0]
    first, second = new_id_number(), new_id_number()
    rows = [_resident(first, town_id, at), _resident(first, town_id, at), _resident(second, town_id, at)]
    assert bulk_insert(Resident.__table__, _RESIDENT_COLUMNS, rows, ignore_conflicts=True, convert=True) == 2
    assert bulk_insert(Resident.__table__, _RESIDENT_COLUMNS, [], ignore_conflicts=True) == 0
