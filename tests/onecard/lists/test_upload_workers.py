"""Large uploads are validated and encrypted by worker processes: same answers as in-process.

The pool starts only after a few chunks; here the chunks are made tiny so a short file goes through it.
"""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from onecard.lists import importer
from onecard.lists.models import RecipientRow
from tests.factories import new_account, new_id_number
from tests.fixtures_lists import csv_bytes, upload
from tests.staff_api.test_lists import good_row

API = "/api/staff/v1"


@pytest.fixture(params=[0, 1], ids=["in_process", "worker_pool"])
def workers(request, app, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_ROWS", 3)
    monkeypatch.setattr(importer, "_POOL_AFTER_CHUNKS", 1)
    monkeypatch.setitem(app.config, "LIST_UPLOAD_WORKERS", request.param)
    return request.param


def test_errors_keep_their_rows_across_chunks_and_workers(client, operator, project, workers):
    listed = new_id_number()
    assert upload(client, operator, project.id, csv_bytes([good_row("孔德福", listed)])).status_code == 201
    dup = new_id_number()
    bad_card = new_account()
    bad_card = bad_card[:-1] + str((int(bad_card[-1]) + 1) % 10)
    rows = [good_row("正确人") for _ in range(7)]            # rows 2-8
    rows += [good_row("重复甲", dup), good_row("手机错", mobile="1234567")]   # 9, 10
    rows += [good_row("正确人") for _ in range(5)]           # 11-15
    rows += [good_row("卡号错", account=bad_card), good_row("重复乙", dup), good_row("超标准", amount="150.00"),
             good_row("已列入", listed), good_row("镇街错", town="不存在镇", village="")]   # 16-20
    r = upload(client, operator, project.id, csv_bytes(rows), name="有错的名单.csv")
    assert r.status_code == 422, r.json
    errors = r.json["error"]["details"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (9, "身份证号"), (10, "手机号"), (16, "银行卡号"), (17, "身份证号"), (18, "补贴额"), (19, "身份证号"),
        (20, "镇街")]
    reasons = {e["row"]: e["reason"] for e in errors}
    assert "第17行" in reasons[9] and "第9行" in reasons[17] and "已在本项目本期的名单中" in reasons[19]
    from onecard.extensions import db
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 1


def test_clean_file_is_stored_whole_in_file_order(client, operator, project, workers):
    rows = [good_row(amount=f"{10 + i}.5{i % 10}") for i in range(20)]
    r = upload(client, operator, project.id, csv_bytes(rows))
    assert r.status_code == 201, r.json
    assert r.json["row_count"] == 20
    assert r.json["total_fen"] == sum((10 + i) * 100 + 50 + i % 10 for i in range(20))
    from onecard.extensions import db
    stored = db.session.execute(sa.select(RecipientRow).where(RecipientRow.list_id == r.json["id"])
                                .order_by(RecipientRow.id)).scalars().all()
    assert [s.row_no for s in stored] == list(range(2, 22))
    # Ciphertexts written by a worker decrypt here with the app's keys.
    assert [(s.id_number, s.mobile, s.account) for s in stored] == [(row[1], row[3], row[7]) for row in rows]
    assert {s.expected_date for s in stored} == {date(2026, 11, 5)}


def test_row_limit_stops_the_pool_and_stores_nothing(client, operator, project, app, workers, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_ROWS", 10)
    r = upload(client, operator, project.id, csv_bytes([good_row() for _ in range(15)]))
    assert r.status_code == 413 and r.json["error"]["code"] == "too_many_rows"
    from onecard.extensions import db
    assert db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow)).scalar() == 0


def test_sqlite_page_cache_is_given_back_after_an_upload(client, operator, project, workers):
    from onecard.extensions import db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's per-connection page cache")
    with db.engine.connect() as conn:
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    assert upload(client, operator, project.id, csv_bytes([good_row() for _ in range(5)])).status_code == 201
    assert upload(client, operator, project.id, csv_bytes([good_row("手机错", mobile="12")])).status_code == 422
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
