"""My subsidies (GET /api/citizen/v1/subsidies): the plain Flask view keeps every refusal, message and shape.

The endpoint authenticates and reads in one query; these tests pin what it must still refuse
(missing, unknown, expired, revoked, staff and unbound tokens), the exact validation answers,
and that its JSON is the same document the H5 page and the village-assisted read get.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from onecard.citizens import sessions
from onecard.citizens.models import CitizenSession
from onecard.extensions import db
from onecard.payments import my_subsidies
from onecard.payments.models import LedgerEntry
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
        assert r.json == my_subsidies.my_subsidies(resident.id, **kwargs)
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
        assert r.json == my_subsidies.my_subsidies(resident.id, page=page, per_page=per_page)


def test_documented_in_the_openapi_document(client):
    doc = client.get(f"{API}/openapi.json").json
    op = doc["paths"][f"{API}/subsidies"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"page", "per_page", "year"}
    assert op["security"] == [{"bearer": []}]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubsidyPage"}
    assert "422" in op["responses"] and op["summary"].startswith("补贴到账")


# ---------------------------------------------------------------- the plain Flask view's hooks and failures


def test_the_view_echoes_the_request_id_and_answers_head(client, citizen_login, resident, paid):
    auth = citizen_login(resident)
    r = client.get(f"{API}/subsidies", headers={**auth, "X-Request-Id": "req-1"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "req-1"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert len(client.get(f"{API}/subsidies", headers=auth).headers["X-Request-Id"]) == 16
    head = client.head(f"{API}/subsidies", headers=auth)
    assert head.status_code == 200 and head.data == b""


def test_a_database_failure_is_a_500_without_internals(client, citizen_login, resident, paid, monkeypatch):
    auth = citizen_login(resident)

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")
    monkeypatch.setattr(my_subsidies, "my_subsidies_by_token", broken)
    r = client.get(f"{API}/subsidies", headers=auth)
    assert r.status_code == 500 and r.json["error"]["code"] == "internal_error"
    assert "database gone" not in r.get_data(as_text=True)


# ---------------------------------------------------------------- the cheap paths the view takes for speed


def test_the_connections_the_page_read_used_still_roll_back_what_they_write(client, citizen_login, resident, paid):
    """The page read runs in autocommit on PostgreSQL; the pool must lend its connections on transactional."""
    auth = citizen_login(resident)
    for _ in range(3):      # more reads than one connection: whichever the pool lends next was used
        assert client.get(f"{API}/subsidies", headers=auth).status_code == 200
    for _ in range(3):
        with db.engine.connect() as conn:
            conn.execute(sa.update(LedgerEntry).where(LedgerEntry.resident_id == resident.id)
                         .values(amount_fen=1))
            conn.rollback()
    kept = db.session.execute(sa.select(sa.func.sum(LedgerEntry.amount_fen))
                              .where(LedgerEntry.resident_id == resident.id)).scalar()
    assert kept == 5 * 12345 + 10000 + 5000      # five paid, the failed one (its amount too), last year's


def test_the_page_sent_as_is_is_what_the_documented_schema_dumps(client, citizen_login, resident, paid, county):
    """The view returns the page already shaped (flask-smorest sends a Response as is): SubsidyPage must not
    change it, for an item of every kind (paid, failed, received for someone else)."""
    from citizen_app.api import SubsidyPage
    head = make_resident(county["towns"][0], county["villages"][0], name="孔德福")
    project = make_project(county["departments"]["县民政局"], "到户补贴")
    entry = add_ledger(resident, project, county["banks"]["RCB"], amount_fen=30000)
    db.session.execute(sa.update(LedgerEntry).where(LedgerEntry.id == entry).values(payee_resident_id=head.id))
    db.session.commit()
    for who in (resident, head):
        page = client.get(f"{API}/subsidies?per_page=100", headers=citizen_login(who)).json
        assert page["items"]
        assert SubsidyPage().dump(page) == page
    assert page["items"][0]["received_for"] == "王*英名下的到户补贴，发放到户主社保卡"


def test_rate_limits_cost_nothing_to_a_view_without_one(app):
    """Limits live on the views that have them; no hook runs them on every request (it cost my subsidies a sixth)."""
    hooks = [*app.before_request_funcs.get(None, []), *app.after_request_funcs.get(None, []),
             *app.teardown_request_funcs.get(None, [])]
    assert not [h for h in hooks if "limit" in getattr(h, "__qualname__", repr(h)).lower()]


@pytest.mark.parametrize("query", [
    "", "page=2", "page=02&per_page=100&year=2026", "per_page=1", "page=100000", "page=100001", "page=0",
    "year=1999", "year=2100", "page=%202", "page=+2", "page=", "page=1.5", "page=-1", "page=２", "page=²",
    "page=2&page=3", "unknown=7&per_page=5", "page=99999999999999999999", "page=" + "9" * 5000,
])
def test_the_plain_reading_of_subsidy_arguments_is_marshmallows(query):
    """SubsidyArgs' plain reading (onecard.web.http.PlainIntegerQuery) gives marshmallow's numbers or declines."""
    from marshmallow import EXCLUDE, ValidationError
    from werkzeug import Request

    from citizen_app.api import SubsidyArgs
    args = Request.from_values(query_string=query).args       # as Flask reads the query string
    schema = SubsidyArgs()
    plain = schema.plain_load(args)
    try:
        loaded = schema.load({k: args.get(k) for k in args}, unknown=EXCLUDE)
    except ValidationError:
        loaded = None
    assert plain is None or plain == loaded
    if query in ("", "page=2", "page=02&per_page=100&year=2026", "page=2&page=3", "unknown=7&per_page=5"):
        assert plain is not None       # what the mini-program sends takes the plain reading
