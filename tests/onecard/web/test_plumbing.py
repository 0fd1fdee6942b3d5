"""onecard.web: the plumbing the doors share, and the rule that the domain never imports it."""
from __future__ import annotations

import pathlib

import pytest
from flask import Flask

from onecard.web import XLSX, bearer_token, send_download, send_xlsx

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Bearer ", None), ("Basic abc", None), (None, None), ("", None)])
def test_one_bearer_token_rule(header, token):
    assert bearer_token(header) == token


def test_file_responses_are_attachments_with_chinese_names():
    app = Flask(__name__)
    with app.test_request_context():
        r = send_xlsx(b"PK\x03\x04", "台账.xlsx")
        assert r.mimetype == XLSX
        disposition = r.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "filename*=UTF-8''%E5%8F%B0%E8%B4%A6.xlsx" in disposition
        r = send_download(b"a,b\n", "bank.csv", "text/csv")
        r.direct_passthrough = False
        assert r.mimetype == "text/csv" and r.get_data() == b"a,b\n"


def test_every_response_carries_a_request_id(client):
    r = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert r.headers["X-Request-Id"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 16
