"""Property-based checks of both OpenAPI documents with schemathesis, over real HTTP: whatever a client
sends -- what the schema allows and plenty it does not -- the answer is never a 5xx."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig

from onecard import create_app
from tests import conftest
from tests.factories import make_resident

# derandomize: the same cases every run, so a red CI means a regression, not a new random find; explore more
# locally with HYPOTHESIS settings or a larger max_examples.
FUZZ = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _spec(path: str) -> dict:
    # The documents do not depend on data, so a throwaway in-memory app serves them at collection time.
    return create_app(conftest.testing_config("sqlite://")).test_client().get(path).json


staff = schemathesis.openapi.from_dict(_spec("/api/staff/v1/openapi.json"))
citizen = schemathesis.openapi.from_dict(_spec("/api/citizen/v1/openapi.json"))

# Every check schemathesis has (issue #16). A schema-valid request may still break a business rule (a wrong old
# password, a period the project's cycle does not have) or meet a rate limit: 409, 422 and 429 answers with our
# error body are acceptances of the document, not violations of it.
ALL_CHECKS = SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
    "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}}})
staff_all = schemathesis.openapi.from_dict(_spec("/api/staff/v1/openapi.json"), config=ALL_CHECKS)
citizen_all = schemathesis.openapi.from_dict(_spec("/api/citizen/v1/openapi.json"), config=ALL_CHECKS)
FUZZ_ALL = settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("document", [staff.raw_schema, citizen.raw_schema], ids=["staff", "citizen"])
def test_both_documents_are_valid_openapi_3(document):
    """Upload forms were declared ``in: formData`` (OpenAPI 2 only): openapi-spec-validator refused both."""
    validate(document)


def test_dev_login_documents_its_body_as_optional(client):
    """No body is a new, unbound user: the document must not require one the view does not need."""
    op = citizen.raw_schema["paths"]["/api/citizen/v1/auth/dev-login"]["post"]
    assert op["requestBody"].get("required") is not True
    assert client.post("/api/citizen/v1/auth/dev-login").status_code == 200


def _no_server_error(case, response) -> None:
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])


@staff.parametrize()
@FUZZ
def test_staff_api_never_answers_a_server_error(case, request):
    base, admin = request.getfixturevalue("live_server"), request.getfixturevalue("admin")
    request.getfixturevalue("county")
    _no_server_error(case, case.call(base_url=base, headers=admin.auth))


@citizen.parametrize()
@FUZZ
def test_citizen_api_never_answers_a_server_error(case, request):
    request.getfixturevalue("citizen_env")
    app, wechat = request.getfixturevalue("app"), request.getfixturevalue("fake_wechat")
    monkeypatch = request.getfixturevalue("monkeypatch")
    for key, value in (("WECHAT_APPID", wechat.appid), ("WECHAT_SECRET", wechat.secret),
                       ("WECHAT_API_BASE_URL", wechat.base_url)):
        monkeypatch.setitem(app.config, key, value)     # login codes go to the fake WeChat server
    base = request.getfixturevalue("live_server")
    county = request.getfixturevalue("county")
    resident = make_resident(county["towns"][0], county["villages"][0], name="王秀英")
    auth = request.getfixturevalue("citizen_login")(resident)
    _no_server_error(case, case.call(base_url=base, headers=auth))


@staff_all.parametrize()
@FUZZ_ALL
def test_staff_api_conforms_to_its_document_under_every_check(case, request):
    base, admin = request.getfixturevalue("live_server"), request.getfixturevalue("admin")
    request.getfixturevalue("county")
    case.call_and_validate(base_url=base, headers=admin.auth)


@citizen_all.parametrize()
@FUZZ_ALL
def test_citizen_api_conforms_to_its_document_under_every_check(case, request):
    request.getfixturevalue("citizen_env")
    app, wechat = request.getfixturevalue("app"), request.getfixturevalue("fake_wechat")
    monkeypatch = request.getfixturevalue("monkeypatch")
    for key, value in (("WECHAT_APPID", wechat.appid), ("WECHAT_SECRET", wechat.secret),
                       ("WECHAT_API_BASE_URL", wechat.base_url)):
        monkeypatch.setitem(app.config, key, value)
    base = request.getfixturevalue("live_server")
    county = request.getfixturevalue("county")
    resident = make_resident(county["towns"][0], county["villages"][0], name="王秀英")
    auth = request.getfixturevalue("citizen_login")(resident)
    case.call_and_validate(base_url=base, headers=auth)
