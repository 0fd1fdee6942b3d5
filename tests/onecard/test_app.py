"""The app factory, configuration, health check and error format."""
from __future__ import annotations

import pytest

from onecard import create_app
from onecard.config import DEV_FIELD_KEY, check_production


def test_healthz_reports_database_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "db": "ok"}


def test_healthz_answers_503_with_reason_when_database_unreachable():
    app = create_app({"ENV": "testing", "DATABASE_URL": "postgresql+psycopg://127.0.0.1:1/none?connect_timeout=1",
                      "PASSWORD_HASH_PROFILE": "test"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.json["db"] == "unreachable"
    assert r.json["reason"]


def test_production_refuses_development_secrets():
    with pytest.raises(RuntimeError) as e:
        check_production({"ENV": "production", "FIELD_KEY": DEV_FIELD_KEY, "DEV_LOGIN": False,
                          "PASSWORD_HASH_PROFILE": "production"})
    assert "ONECARD_FIELD_KEY" in str(e.value)


def test_production_refuses_dev_login(monkeypatch):
    import base64
    import os
    values = {"ENV": "production", "SECRET_KEY": "x" * 40,
              "FIELD_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
              "BLIND_INDEX_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
              "TWILIO_AUTH_TOKEN": "real-token", "PASSWORD_HASH_PROFILE": "production", "DEV_LOGIN": True}
    with pytest.raises(RuntimeError) as e:
        check_production(values)
    assert "DEV_LOGIN" in str(e.value)
    values["DEV_LOGIN"] = False
    check_production(values)  # real secrets and no dev login: starts


def test_environment_variables_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("ONECARD_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("ONECARD_TOKEN_TTL_MINUTES", "15")
    app = create_app({"PASSWORD_HASH_PROFILE": "test"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")
    assert app.config["TOKEN_TTL_MINUTES"] == 15


def test_unknown_route_answers_json_404(client):
    r = client.get("/api/staff/v1/no-such-thing")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"


def test_malformed_json_is_a_clear_4xx(client):
    r = client.post("/api/staff/v1/auth/login", data="{not json", content_type="application/json")
    assert 400 <= r.status_code < 500
    assert "error" in r.json


def test_missing_field_names_the_field(client):
    r = client.post("/api/staff/v1/auth/login", json={"username": "a"})
    assert r.status_code == 422
    assert r.json["error"]["field"] == "password"


def test_sqlite_default_uses_wal_and_foreign_keys(db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    import sqlalchemy as sa
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_numbers_no_row_can_have_are_refused_before_the_database(client, admin):
    # A URL id beyond the INTEGER columns is just an unknown id; in arguments it names the field.
    assert client.get(f"/api/staff/v1/batches/{2**31}", headers=admin.auth).status_code == 404
    r = client.get(f"/api/staff/v1/contacts?department_id={2**63}", headers=admin.auth)
    assert r.status_code == 422 and r.json["error"]["field"] == "department_id"
    assert r.json["error"]["code"] == "value_out_of_range"
    r = client.get(f"/api/staff/v1/contacts?department_id={2**31}", headers=admin.auth)
    assert r.status_code == 422


def test_money_in_fen_may_exceed_32_bits():
    from marshmallow import Schema, fields

    from onecard.errors import Invalid
    from onecard.web.http import _check

    class Totals(Schema):
        total_fen = fields.Integer()
        items = fields.List(fields.Integer())

    _check(Totals(), {"total_fen": 18_300_000_000, "items": [1, 2]})      # a million pensions
    try:
        _check(Totals(), {"items": [1, 2**40]})
        raise AssertionError("an id beyond INTEGER passed")
    except Invalid as exc:
        assert exc.field == "items.1"


def test_text_with_a_nul_byte_is_refused_naming_the_field(client, admin):
    r = client.get("/api/staff/v1/batches?status=sent%00", headers=admin.auth)
    assert r.status_code == 422 and r.json["error"]["field"] == "status"
    assert r.json["error"]["code"] == "invalid_characters"
    r = client.put("/api/staff/v1/notice-templates/P%000501", headers=admin.auth, json={"body": "到账{amount}元"})
    assert r.status_code == 404
