"""My subsidies (GET /api/citizen/v1/subsidies): the hot read keeps every refusal, message and shape.

The endpoint authenticates and reads in one query; these tests pin what it must still refuse
(missing, unknown, expired, revoked, staff and unbound tokens), the exact validation answers,
and that its JSON is the same document the H5 page and the village-assisted read get.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from onecard.citizens import service, sessions
from onecard.citizens.models import CitizenSession
from onecard.extensions import db
from onecard.staff.models import AuthToken
from onecard.timeutil import utcnow
from tests.factories import make_resident
from tests.fixtures_citizen import add_ledger, make_project

API = "/api/citizen/v1"
pytestmark = pytest.mark.usefixtures("citizen_env")


@pytest.fixture
def resident(county):
    return make_resident(county["towns"][0], county["villages"][0], name="王秀英")


@pytest.fixture
def paid(county, resident):
    """Five months paid and one failed this year, one payment last year, and another resident's payment."""
    dept = county["departments"]["县民政局"]
    bank = county["banks"]["RCB"]
    project = make_project(dept, "高龄津贴")
    year = datetime.now().year
    for month in range(1, 6):
        add_ledger(resident, project, bank, period=f"{year}-{month:02d}", amount_fen=12345,
                   occurred_at=datetime(year, month, 10, 2, 0))
    add_ledger(resident, project, bank, period=f"{year}-06", outcome="failed", failure_code="account_frozen",
               failure_reason="账户冻结", occurred_at=datetime(year, 6, 10, 2, 0))
    add_ledger(resident, project, bank, period=f"{year - 1}-12", amount_fen=5000,
               occurred_at=datetime(year - 1, 12, 31, 17, 0))   # 1 January in Shanghai
    other = make_resident(county["towns"][0], county["villages"][0])
    add_ledger(other, project, bank, amount_fen=99900, occurred_at=datetime(year, 3, 1))
    return year


def _token(auth: dict) -> str:
    return auth["Authorization"].split(" ", 1)[1]


def _token_row(auth: dict) -> AuthToken:
    import hashlib
    digest = hashlib.sha256(_token(auth).encode()).hexdigest()
    return db.session.execute(sa.select(AuthToken).where(AuthToken.token_hash == digest)).scalar_one()


def test_same_document_as_the_service_read(client, citizen_login, resident, paid):
    auth = citizen_login(resident)
    for query, kwargs in [("", {}), ("?per_page=2&page=2", {"per_page": 2, "page": 2}),
                          (f"?year={paid - 1}", {"year": paid - 1}), ("?page=9", {"page": 9})]:
        r = client.get(f"{API}/subsidies{query}", headers=auth)
        assert r.status_code == 200
        assert r.json == service.my_subsidies(resident.id, **kwargs)
        assert r.mimetype == "application/json"
    first = client.get(f"{API}/subsidies", headers=auth).json
    # The payment at 17:00 UTC on 31 December is 1 January in Shanghai: this year's.
    assert first["year_total_fen"] == 5 * 12345 + 5000 and first["year_total"] == "667.25元"
    assert first["items"][0]["outcome_label"] == "未到账" and first["items"][0]["failure_reason"] == "账户冻结"
    assert "冻结" in first["items"][0]["what_to_do"]
    assert [i["date"] for i in first["items"]][-1] == f"{paid}-01-01"     # the UTC 31 December in Shanghai
    assert 99900 not in {i["amount_fen"] for i in first["items"]}
    last_year = client.get(f"{API}/subsidies?year={paid - 1}", headers=auth).json
    assert last_year["year_total_fen"] == 0
    empty = client.get(f"{API}/subsidies?page=9", headers=auth).json
    assert empty["items"] == [] and empty["has_next"] is False and empty["year_total_fen"] == 5 * 12345 + 5000


def test_a_resident_without_payments_gets_an_empty_first_page(client, citizen_login, county):
    someone = make_resident(county["towns"][0], county["villages"][0])
    r = client.get(f"{API}/subsidies", headers=citizen_login(someone))
    assert r.status_code == 200
    assert r.json == {"items": [], "page": 1, "per_page": 20, "has_next": False, "year": datetime.now().year,
                      "year_total_fen": 0, "year_total": "0.00元"}


def _refused(client, headers, status, code, message):
    r = client.get(f"{API}/subsidies", headers=headers)
    assert r.status_code == status
    assert r.json == {"error": {"code": code, "message": message, "field": None}}
    return r


def test_refusals_keep_their_codes_and_messages(client, citizen_login, resident, paid, admin):
    _refused(client, {}, 401, "login_required", "请先登录")
    _refused(client, {"Authorization": "Basic abc"}, 401, "login_required", "请先登录")
    _refused(client, {"Authorization": "Bearer "}, 401, "login_required", "请先登录")
    _refused(client, {"Authorization": "Bearer not-a-token"}, 401, "token_invalid", "登录已过期，请重新登录")
    # A staff token is not a citizen token, even for a session id that exists.
    _refused(client, admin.auth, 401, "token_invalid", "登录已过期，请重新登录")
    # A phone that has not done real-name binding sees nothing.
    _refused(client, citizen_login(), 403, "binding_required", "请先完成实名绑定（姓名、身份证号和短信验证码）")


def test_expired_and_revoked_tokens_are_refused(client, citizen_login, resident, paid):
    auth = citizen_login(resident)
    assert client.get(f"{API}/subsidies", headers=auth).status_code == 200
    row = _token_row(auth)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    _refused(client, auth, 401, "token_invalid", "登录已过期，请重新登录")
    row.expires_at = utcnow() + timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"{API}/subsidies", headers=auth).status_code == 200
    sessions.logout(_token(auth))
    _refused(client, auth, 401, "token_invalid", "登录已过期，请重新登录")
    # Refused on an empty page too (no ledger row to join): the token check is not skipped there.
    r = client.get(f"{API}/subsidies?page=50", headers=auth)
    assert r.status_code == 401 and r.json["error"]["code"] == "token_invalid"


def test_a_session_moved_to_another_resident_reads_that_resident(client, citizen_login, resident, paid, county):
    auth = citizen_login(resident)
    other = make_resident(county["towns"][0], county["villages"][0])
    db.session.execute(sa.update(CitizenSession).where(CitizenSession.id == _token_row(auth).subject_id)
                       .values(resident_id=other.id))
    db.session.commit()
    assert client.get(f"{API}/subsidies", headers=auth).json["items"] == []


@pytest.mark.parametrize(("query", "field", "message"), [
    ("per_page=0", "per_page", "Must be greater than or equal to 1 and less than or equal to 100."),
    ("per_page=101", "per_page", "Must be greater than or equal to 1 and less than or equal to 100."),
    ("page=0", "page", "Must be greater than or equal to 1 and less than or equal to 100000."),
    ("page=100001", "page", "Must be greater than or equal to 1 and less than or equal to 100000."),
    ("page=abc", "page", "应为整数"),
    ("page=", "page", "应为整数"),
    ("page=1.5", "page", "应为整数"),
    ("page=-1", "page", "Must be greater than or equal to 1 and less than or equal to 100000."),
    ("year=1999", "year", "Must be greater than or equal to 2000 and less than or equal to 2100."),
    ("year=99999999999999999999", "year", "Must be greater than or equal to 2000 and less than or equal to 2100."),
])
def test_invalid_arguments_answer_as_before(client, citizen_login, resident, query, field, message):
    for headers in (citizen_login(resident), {}):     # arguments are checked before the token
        r = client.get(f"{API}/subsidies?{query}", headers=headers)
        assert r.status_code == 422
        error = r.json["error"]
        assert error["code"] == "invalid" and error["field"] == field
        assert error["message"] == f"{field}：{message}"
        assert set(error["details"]) == {"query"} and set(error["details"]["query"]) == {field}


def test_argument_forms_the_parser_accepts(client, citizen_login, resident, paid):
    auth = citizen_login(resident)
    for query, page, per_page in [("page=2&per_page=2", 2, 2), ("page=02&per_page=002", 2, 2),
                                  ("page=%202&per_page=+2", 2, 2), ("page=2&page=3&per_page=2", 2, 2),
                                  ("unknown=1&per_page=2", 1, 2)]:
        r = client.get(f"{API}/subsidies?{query}", headers=auth)
        assert r.status_code == 200, (query, r.json)
        assert (r.json["page"], r.json["per_page"]) == (page, per_page)
        assert r.json == service.my_subsidies(resident.id, page=page, per_page=per_page)


def test_documented_in_the_openapi_document(client):
    doc = client.get(f"{API}/openapi.json").json
    op = doc["paths"][f"{API}/subsidies"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"page", "per_page", "year"}
    assert op["security"] == [{"bearer": []}]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubsidyPage"}
    assert "422" in op["responses"] and op["summary"].startswith("补贴到账")


# ---------------------------------------------------------------- the hot read in front of Flask


def _call(wsgi, path, query="", headers=None, method="GET"):
    from werkzeug.test import EnvironBuilder
    environ = EnvironBuilder(path=path, query_string=query, headers=headers or {}, method=method).get_environ()
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, sorted(response_headers)
    answer["body"] = b"".join(wsgi(environ, start_response))
    return answer


def test_the_hot_read_is_installed_and_answers_exactly_as_the_flask_view(app, citizen_login, resident, paid):
    from citizen_app.hot_read import SubsidiesHotRead
    hot = app.wsgi_app
    assert isinstance(hot, SubsidiesHotRead)
    auth = {**citizen_login(resident), "X-Request-Id": "req-1"}
    for query in ["", "page=2&per_page=2", f"year={paid}", "per_page=100&page=1&unknown=7"]:
        fast = _call(hot, f"{API}/subsidies", query, auth)
        assert hot._answer(_environ(query, auth)) is not None      # answered in front of Flask
        assert fast == _call(hot.wsgi_app, f"{API}/subsidies", query, auth)
        assert fast["status"] == "200 OK"
        assert ("X-Request-Id", "req-1") in fast["headers"] and ("X-Content-Type-Options", "nosniff") in fast["headers"]
    no_id = _call(hot, f"{API}/subsidies", "", citizen_login(resident))
    (request_id,) = [v for k, v in no_id["headers"] if k == "X-Request-Id"]
    assert len(request_id) == 16


def _environ(query, headers):
    from werkzeug.test import EnvironBuilder
    return EnvironBuilder(path=f"{API}/subsidies", query_string=query, headers=headers).get_environ()


def test_the_hot_read_leaves_everything_else_to_the_flask_view(app, citizen_login, resident, paid):
    hot = app.wsgi_app
    auth = {**citizen_login(resident), "X-Request-Id": "req-2"}
    for query, headers in [("", {"X-Request-Id": "req-2"}), ("", {"Authorization": "Bearer nope", "X-Request-Id": "req-2"}), ("page=9", auth),
                           ("page=0", auth), ("page=%202", auth), ("page=2&page=3", auth), ("page=-1", auth),
                           ("per_page=1000", auth), ("year=1999", auth)]:
        assert hot._answer(_environ(query, headers)) is None, query
        assert _call(hot, f"{API}/subsidies", query, headers) == _call(hot.wsgi_app, f"{API}/subsidies", query, headers)
    assert _call(hot, f"{API}/subsidies", "", auth, method="HEAD")["status"] == "200 OK"
    unbound = citizen_login()
    assert hot._answer(_environ("", unbound)) is None


def test_a_database_failure_in_the_hot_read_is_answered_by_the_flask_view(client, citizen_login, resident, paid,
                                                                           monkeypatch):
    auth = citizen_login(resident)

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")
    monkeypatch.setattr(service, "subsidies_in_one_read", broken)
    r = client.get(f"{API}/subsidies", headers=auth)
    assert r.status_code == 500 and r.json["error"]["code"] == "internal_error"
    assert "database gone" not in r.get_data(as_text=True)


def test_a_rate_limit_on_the_endpoint_keeps_every_request_on_the_flask_view(app, monkeypatch):
    from citizen_app import hot_read
    from onecard.extensions import limiter
    assert hot_read._limits_apply(app) is False
    monkeypatch.setattr(limiter.limit_manager, "decorated_limits", lambda name: ["60/minute"])
    assert hot_read._limits_apply(app) is True
    before = app.wsgi_app
    hot_read.install(app)
    assert app.wsgi_app is before


@pytest.mark.parametrize(("query", "parsed"), [
    ("", {}), ("page=2", {"page": "2"}), ("page=2&per_page=10&year=2026", {"page": "2", "per_page": "10", "year": "2026"}),
    ("page=2&page=3", None), ("page=%32", None), ("page=+2", None), ("page=", None), ("page", None), ("&page=2", None),
    ("page=2&", None), ("page=2;per_page=3", None), ("page=1234567890", None), ("Page=2", None),
])
def test_the_hot_read_takes_only_plain_query_strings(query, parsed):
    from citizen_app.hot_read import _plain_query
    assert _plain_query(query) == parsed
