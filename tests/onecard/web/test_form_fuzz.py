"""Every form on the H5 pages and the staff console, sent hostile values: a page or a redirect, never a 500.

The API's arguments are fuzzed from its OpenAPI documents (test_api_fuzz.py); the pages' forms have no such
document, so this test finds them the way a person does: it signs in as each kind of user, follows the links
of the menu and the pages it reaches (GET only), reads every POST form on them, and sends each form back
with every field set to one hostile value (NUL, huge numbers, full-width digits, overlong text, markup…),
then with one field at a time set to NUL and the others as the page filled them. Each send uses a freshly
loaded page, so the CSRF token and the act-once nonce are valid and the refusal comes from the field itself.
"""
from __future__ import annotations

import io
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.console.test_auth import login as console_login
from tests.factories import make_resident
from tests.fixtures_payments import PERIOD
from tests.onecard.payments.test_flow import post

HOSTILE = ["\x00", "99999999999999999999", "-1", "１２３", "x" * 5000, "<script>alert(1)</script>",
           "' OR 1=1 --", "2026-13-45", "💥\u202e", " "]
GUARD_FIELDS = {"csrf_token", "form_nonce"}
MAX_PAGES = 40
# Signing out ends the crawl's session; downloads and images have no forms.
SKIP = ("logout", ".xlsx", ".csv", ".png", ".jpg", "/static/", "/photo")


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                          "multipart": "multipart" in (a.get("enctype") or ""), "fields": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select") and a.get("name"):
            kind = a.get("type", "text").lower() if tag == "input" else tag
            if kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                value = None    # unchecked: not sent by a browser
            else:
                value = a.get("value", "")
            self._form["fields"].append({"name": a["name"], "kind": kind, "value": value})
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._select is not None and self._form is not None:
            field = next(f for f in reversed(self._form["fields"]) if f["name"] == self._select)
            if field["value"] is None or "selected" in a or field["value"] == "":
                field["value"] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _parse(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def _crawl(client, start: list[str], prefix: str) -> list[str]:
    """Pages under ``prefix`` reachable by links from ``start`` (GET only), in the order found."""
    seen: list[str] = []
    queue = list(start)
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen or any(s in path for s in SKIP):
            continue
        r = client.get(path)
        assert r.status_code < 500, (path, r.status_code)
        seen.append(path)
        if r.status_code != 200 or "text/html" not in r.content_type:
            continue
        for href in _parse(r.get_data(as_text=True)).links:
            url = urlsplit(urljoin(path, href))
            if not url.netloc and url.path.startswith(prefix):
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return seen


def _send(client, page: str, index: int, values: dict[str, str] | str) -> None:
    """Load ``page`` afresh and send its form ``index`` with hostile ``values`` (one value for every field,
    or a field -> value map over the page's own values); anything below 500 is an answer."""
    r = client.get(page)
    if r.status_code != 200:
        return
    forms = [f for f in _parse(r.get_data(as_text=True)).forms if f["method"] == "post"]
    if index >= len(forms):
        return
    form = forms[index]
    data: dict = {}
    for field in form["fields"]:
        name = field["name"]
        if name in GUARD_FIELDS:
            data[name] = field["value"]
            continue
        value = values if isinstance(values, str) else values.get(name, field["value"])
        if value is None:
            continue
        if field["kind"] == "file":
            data[name] = (io.BytesIO(value.encode("utf-8", "surrogatepass")), "x.xlsx")
        else:
            data[name] = value
    action = urljoin(page, form["action"] or page)
    response = client.post(action, data=data,
                           content_type="multipart/form-data" if form["multipart"] else None)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, (page, action, {k: str(v)[:40] for k, v in data.items()}, body[:300])
    assert "Traceback" not in body


def _fuzz_forms(client, pages: list[str]) -> int:
    sent = 0
    for page in pages:
        if any(s in page for s in SKIP):
            continue
        r = client.get(page)
        if r.status_code != 200 or "text/html" not in r.content_type:
            continue
        forms = [f for f in _parse(r.get_data(as_text=True)).forms if f["method"] == "post"]
        for index, form in enumerate(forms):
            if "logout" in form["action"]:
                continue
            for value in HOSTILE:
                _send(client, page, index, value)
                sent += 1
            for field in form["fields"]:
                if field["name"] not in GUARD_FIELDS:
                    _send(client, page, index, {field["name"]: "\x00"})
                    sent += 1
    return sent


@pytest.mark.parametrize("role", ["admin", "dept_operator", "dept_reviewer", "finance", "bank_operator",
                                  "village_staff", "auditor"])
def test_console_forms_answer_hostile_values_without_a_server_error(app, client, pay, pension_list, make_staff,
                                                                    role):
    # A batch waiting for review, so the batch pages carry their action forms too.
    r = post(client, "/batches", pay.operator, project_id=pay.pension.id, period=PERIOD)
    assert r.status_code == 201, r.json
    assert post(client, f"/batches/{r.json['id']}/submit", pay.operator).status_code == 200
    staff = {"dept_operator": pay.operator, "dept_reviewer": pay.reviewer, "finance": pay.finance,
             "bank_operator": pay.rcb}.get(role)
    if staff is None:
        scope = {"village_id": pay.county["villages"][0]} if role == "village_staff" else {}
        staff = make_staff(role, **scope)
    client = app.test_client()
    assert console_login(client, staff.username).status_code == 302
    pages = _crawl(client, ["/console/"], "/console/")
    assert len(pages) > 1, pages
    assert _fuzz_forms(client, pages) > 0


@pytest.mark.usefixtures("citizen_env")
def test_h5_forms_answer_hostile_values_without_a_server_error(app, county):
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔德福")
    anonymous = app.test_client()
    pages = _crawl(anonymous, ["/m/", "/m/login", "/m/policies"], "/m/")
    assert _fuzz_forms(anonymous, pages) > 0
    signed_in = app.test_client()
    page = signed_in.get("/m/login").get_data(as_text=True)
    token = next(f for f in _parse(page).forms[0]["fields"] if f["name"] == "csrf_token")["value"]
    assert signed_in.post("/m/login", data={"csrf_token": token, "resident_id": str(resident.id)}).status_code == 302
    pages = _crawl(signed_in, ["/m/", "/m/card", "/m/subsidies", "/m/settings", "/m/complaints", "/m/apply",
                               "/m/activate", "/m/loss", "/m/assist"], "/m/")
    assert _fuzz_forms(signed_in, pages) > 0


# ---------------------------------------------------------------- the rules the fuzzing found missing

def test_form_ids_are_ascii_digits_within_integer():
    from onecard.web.http import form_int, form_ints
    assert form_int(" 42 ") == 42 and form_int("2147483647") == 2147483647
    for text in ("", "abc", "-1", "１２３", "²", "2147483648", "99999999999999999999", "4.2", None):
        assert form_int(text) is None, text
    assert form_ints(["3", "x", "１", "7"]) == [3, 7]


@pytest.mark.usefixtures("citizen_env")
def test_h5_text_with_a_nul_byte_is_refused_in_plain_words_and_nothing_is_stored(app, county, db):
    import sqlalchemy as sa

    from onecard.complaints.models import Complaint
    resident = make_resident(county["towns"][0], county["villages"][0], name="孔德福")
    client = app.test_client()
    page = client.get("/m/login").get_data(as_text=True)
    token = next(f for f in _parse(page).forms[0]["fields"] if f["name"] == "csrf_token")["value"]
    client.post("/m/login", data={"csrf_token": token, "resident_id": str(resident.id)})
    form = _parse(client.get("/m/complaints").get_data(as_text=True)).forms[-1]
    token = next(f["value"] for f in form["fields"] if f["name"] == "csrf_token")
    r = client.post("/m/complaints", data={"csrf_token": token, "text": "补贴没到\x00账"})
    assert r.status_code == 400
    assert "无法识别的字符（字段 text）" in r.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Complaint)).scalar() == 0
    # A number no row can have is no ledger entry: the complaint is filed without one.
    r = client.post("/m/complaints", data={"csrf_token": token, "text": "补贴没到账", "ledger_entry_id": "9" * 20})
    assert r.status_code == 200 and "已提交" in r.get_data(as_text=True)
    assert db.session.execute(sa.select(Complaint.ledger_entry_id)).scalar_one() is None


def test_console_department_beyond_any_id_is_a_refusal_on_the_form(app, make_staff, county):
    from tests.console.test_auth import hidden
    admin = make_staff("admin")
    client = app.test_client()
    console_login(client, admin.username)
    page = client.get("/console/projects")
    r = client.post("/console/projects", data={**hidden(page), "name": "高龄津贴", "category": "老龄福利",
                                               "cycle": "monthly", "department_id": "99999999999999999999"})
    assert r.status_code == 422
    assert "系统内部错误" not in r.get_data(as_text=True)


def test_console_text_with_a_nul_byte_is_refused_in_plain_words_and_nothing_is_stored(app, make_staff, db):
    import sqlalchemy as sa

    from onecard.staff.models import StaffAccount
    from tests.console.test_auth import hidden
    admin = make_staff("admin")
    client = app.test_client()
    console_login(client, admin.username)
    page = client.get("/console/accounts")
    r = client.post("/console/accounts", data={**hidden(page), "username": "mz\x00new", "display_name": "民政经办新",
                                               "role": "auditor", "password": "Initial2026pw"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "无法识别的字符（字段 username）" in body and "Initial2026pw" not in body
    assert db.session.execute(sa.select(StaffAccount).where(StaffAccount.display_name == "民政经办新")).first() is None
