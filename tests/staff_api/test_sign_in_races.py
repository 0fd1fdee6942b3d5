"""Sign-in under bursts (issue #16 item 5): the lockout cannot be raced, password spraying from one address meets a
limit on the staff API and console together, and concurrent argon2 checks are bounded (the overflow is told to
come back instead of starving the other requests)."""
from __future__ import annotations

import collections
import threading

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from onecard import passwords
from onecard.staff.models import StaffAccount
from onecard.web.ratelimit import limiter
from tests.conftest import TEST_PASSWORD
from tests.console.test_auth import login as console_login

# Costly enough (~50 ms) that concurrent attempts overlap, as the production profile's 300 ms do.
_SLOW = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1)


@pytest.fixture
def slow_account(db, make_staff):
    staff = make_staff("auditor")
    account = db.session.get(StaffAccount, staff.id)
    account.password_hash = _SLOW.hash(TEST_PASSWORD)
    db.session.commit()
    return staff


@pytest.fixture
def verify_slots(app):
    """verify_slots(concurrency, wait): the process's bound on concurrent password checks, restored after."""
    def set_(concurrency, wait):
        passwords.configure(app.config["PASSWORD_HASH_PROFILE"], concurrency=concurrency, wait_seconds=wait)
    yield set_
    passwords.configure(app.config["PASSWORD_HASH_PROFILE"], concurrency=app.config["PASSWORD_VERIFY_CONCURRENCY"],
                        wait_seconds=app.config["PASSWORD_VERIFY_WAIT_SECONDS"])


def _burst(app, n, password_for, username):
    barrier = threading.Barrier(n)
    answers = []
    lock = threading.Lock()

    def one(i):
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/staff/v1/auth/login", json={"username": username, "password": password_for(i)})
        with lock:
            answers.append((r.status_code, (r.json or {}).get("error", {}).get("code"), r.headers.get("Retry-After")))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_a_burst_of_wrong_passwords_is_checked_at_most_the_limit_and_the_right_one_after_is_refused(
        app, client, db, slow_account, verify_slots):
    verify_slots(32, 30.0)
    answers = _burst(app, 23, lambda i: f"wrong-guess-{i}", slow_account.username)
    codes = collections.Counter(code for _status, code, _ra in answers)
    assert codes["bad_credentials"] <= app.config["LOGIN_MAX_FAILURES"], codes
    assert codes["bad_credentials"] + codes["account_locked"] == 23, codes
    r = client.post("/api/staff/v1/auth/login", json={"username": slow_account.username, "password": TEST_PASSWORD})
    assert r.status_code == 401 and r.json["error"]["code"] == "account_locked"
    db.session.expire_all()
    assert db.session.get(StaffAccount, slow_account.id).locked_until is not None


def test_password_spraying_from_one_address_meets_the_sign_in_limit_on_api_and_console(app, client, db, make_staff,
                                                                                       monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_SIGN_IN_RATE_LIMIT", "10/minute")
    limiter.reset()
    try:
        accounts = [make_staff("auditor") for _ in range(25)]
        answers = []
        for i, staff in enumerate(accounts):
            if i % 2:
                r = console_login(client, staff.username, "Spring2026!")
            else:
                r = client.post("/api/staff/v1/auth/login", json={"username": staff.username,
                                                                  "password": "Spring2026!"})
            answers.append(r)
        assert [r.status_code for r in answers[:10]] == [401] * 10
        assert all(r.status_code == 429 and int(r.headers["Retry-After"]) > 0 for r in answers[10:])
        # the guesses past the limit were never checked: those accounts counted no failure
        db.session.expire_all()
        failures = db.session.execute(sa.select(sa.func.sum(StaffAccount.failed_logins))).scalar()
        assert failures == 10
    finally:
        limiter.reset()


def test_concurrent_password_checks_are_bounded_and_the_overflow_is_told_to_retry(app, db, slow_account,
                                                                                  verify_slots):
    verify_slots(1, 0.01)
    # four at once: fewer than the failures that lock the account, so each is either checked or turned away
    answers = _burst(app, 4, lambda i: f"wrong-{i}", slow_account.username)
    busy = [a for a in answers if a[1] == "sign_in_busy"]
    checked = [a for a in answers if a[1] == "bad_credentials"]
    assert busy and all(status == 503 and retry_after == "1" for status, _code, retry_after in busy)
    assert len(busy) + len(checked) == 4, answers
    # a request turned away unchecked does not count against the account
    db.session.expire_all()
    assert db.session.get(StaffAccount, slow_account.id).failed_logins == len(checked)
