"""Fixtures for recipient-list and matching tests: a coded project, its department's staff, file builders."""
from __future__ import annotations

import csv
import io
import itertools

import pytest

from onecard.extensions import db
from onecard.lists.reader import COLUMNS
from onecard.projects.models import Project
from onecard.timeutil import utcnow

HEADERS = [header for _key, header, _req in COLUMNS]
_codes = itertools.count(1)


@pytest.fixture
def civil_affairs(county):
    """The 县民政局 department id (the department uploading in these tests)."""
    return county["departments"]["县民政局"]


@pytest.fixture
def make_project(county):
    def make(department_id: int, *, cycle: str = "monthly", standard_fen: int | None = 10000,
             status: str = "coded", name: str | None = None) -> Project:
        n = next(_codes)
        p = Project(department_id=department_id, category="老龄福利", name=name or f"高龄津贴{n}", cycle=cycle,
                    standard_fen=standard_fen, status=status,
                    code=None if status == "registered" else f"T{n:06d}",
                    coded_at=None if status == "registered" else utcnow())
        db.session.add(p)
        db.session.commit()
        return p
    return make


@pytest.fixture
def project(make_project, civil_affairs):
    return make_project(civil_affairs)


@pytest.fixture
def operator(make_staff, civil_affairs):
    return make_staff("dept_operator", "civil_op", department_id=civil_affairs)


def csv_bytes(rows: list[list], *, encoding: str = "utf-8-sig", headers: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers or HEADERS)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list], headers: list[str] | None = None) -> bytes:
    import xlsxwriter
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    for col, h in enumerate(headers or HEADERS):
        sheet.write_string(0, col, h)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int | float):
                sheet.write_number(r, col, value)
            else:
                sheet.write_string(r, col, str(value))
    book.close()
    return buffer.getvalue()


def upload(client, staff, project_id: int, data: bytes, *, period: str = "2026-11", name: str = "名单.csv"):
    return client.post("/api/staff/v1/lists", headers=staff.auth, content_type="multipart/form-data",
                       data={"project_id": str(project_id), "period": period, "file": (io.BytesIO(data), name)})
