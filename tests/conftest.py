"""Shared fixtures: the app, a clean database per test, a client, and staff of every role.

SQLite (default): the schema is built once into a template file and copied
over the test database before each test. PostgreSQL (ONECARD_TEST_DATABASE_URL):
one schema per xdist worker, emptied with TRUNCATE between tests.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from onecard import create_app
from onecard.extensions import db as _db

pytest_plugins = ["tests.fakes.fixtures", "tests.browser", "tests.fixtures_payments", "tests.fixtures_notifications",
                  "tests.fixtures_oversight", "tests.fixtures_citizen", "tests.fixtures_lists"]

PG_URL = os.environ.get("ONECARD_TEST_DATABASE_URL")
# Towns are truncated and re-seeded: the bureau adds and renames them (onecard.reference.places).
KEEP_TABLES = {"banks", "departments", "alembic_version"}
TEST_PASSWORD = "Test2026pass"


def _worker() -> str:
    # The name becomes part of a PostgreSQL schema name: keep it to letters, digits and underscores.
    return re.sub(r"\W", "_", os.environ.get("PYTEST_XDIST_WORKER", "main"))


def _pg_url_with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if PG_URL:
        schema = f"onecard_test_{_worker()}"
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        return _pg_url_with_schema(PG_URL, schema)
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


def testing_config(database_url: str, **extra) -> dict:
    return {"ENV": "testing", "DATABASE_URL": database_url, "PASSWORD_HASH_PROFILE": "test",
            "SMS_PROVIDER": "console", "QUIET_HOURS": "", "RATELIMIT_STORAGE_URI": "memory://",
            "STAFF_SIGN_IN_RATE_LIMIT": "1000/minute",
            "PUBLIC_BASE_URL": "http://localhost", **extra}


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(testing_config(database_url))
    with app.app_context():
        _db.create_all()
        from onecard.reference import service as reference
        reference.seed()
        _db.session.remove()
        if not PG_URL:
            _db.engine.dispose()
            path = database_url.removeprefix("sqlite:///")
            shutil.copyfile(path, path + ".template")
    return app


def _reset(app, database_url):
    if PG_URL:
        with app.app_context():
            tables = [t.name for t in reversed(_db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
            with _db.engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
                from onecard.audit import GENESIS
                conn.execute(sa.text(f"INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '{GENESIS}')"))
                from onecard.reference.data import TOWNS
                from onecard.reference.models import Town
                conn.execute(sa.insert(Town.__table__), [{"code": c, "name": n} for c, n in TOWNS])
    else:
        with app.app_context():
            _db.engine.dispose()
        path = database_url.removeprefix("sqlite:///")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        shutil.copyfile(path + ".template", path)


@pytest.fixture
def db(app, database_url):
    """A clean database with the county's reference data, inside an app context."""
    _reset(app, database_url)
    ctx = app.app_context()
    ctx.push()
    yield _db
    _db.session.remove()
    ctx.pop()


@pytest.fixture
def client(app, db):
    return app.test_client()


@dataclass
class Staff:
    id: int
    username: str
    role: str
    token: str
    department_id: int | None = None
    bank_id: int | None = None
    town_id: int | None = None
    village_id: int | None = None

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def actor(self):
        from onecard.extensions import db
        from onecard.staff.models import StaffAccount
        from onecard.staff.service import actor_for
        return actor_for(db.session.get(StaffAccount, self.id))


@pytest.fixture
def make_staff(db):
    """make_staff(role, username=None, **scope) -> Staff with a live bearer token."""
    from onecard import passwords
    from onecard.staff import service
    from onecard.staff.models import StaffAccount
    counter = {"n": 0}

    def make(role: str, username: str | None = None, **scope) -> Staff:
        counter["n"] += 1
        username = username or f"{role}{counter['n']}"
        if role == "village_staff" and "town_id" not in scope:
            from onecard.reference.models import Village
            scope["town_id"] = _db.session.get(Village, scope["village_id"]).town_id
        account = StaffAccount(username=username, display_name=username, role=role,
                               password_hash=passwords.hash_password(TEST_PASSWORD), **scope)
        _db.session.add(account)
        _db.session.commit()
        result = service.login(username, TEST_PASSWORD)
        return Staff(account.id, username, role, result.token, account.department_id, account.bank_id,
                     account.town_id, account.village_id)

    return make


@pytest.fixture
def county(db):
    """A small county: two villages in two towns, and handy ids for departments and banks."""
    from onecard.reference.models import Bank, Department, Town, Village
    towns = _db.session.execute(sa.select(Town).order_by(Town.code)).scalars().all()
    v1 = Village(town_id=towns[0].id, code=towns[0].code + "001", name="东庄村")
    v2 = Village(town_id=towns[1].id, code=towns[1].code + "001", name="西峪村")
    _db.session.add_all([v1, v2])
    _db.session.commit()
    depts = {d.name: d.id for d in _db.session.execute(sa.select(Department)).scalars()}
    banks = {b.code: b.id for b in _db.session.execute(sa.select(Bank)).scalars()}
    from onecard.reference.models import BankBranch
    for b in _db.session.execute(sa.select(Bank)).scalars().all():   # collection branches (网点) to pick from
        _db.session.add_all([BankBranch(bank_id=b.id, name=f"{b.branch_name}营业部", address="泗水县城"),
                             BankBranch(bank_id=b.id, name=f"{b.name}营业部", address="泗水县城")])
    _db.session.commit()
    return {"towns": [towns[0].id, towns[1].id], "villages": [v1.id, v2.id], "departments": depts, "banks": banks}


@pytest.fixture
def admin(make_staff):
    return make_staff("admin", "admin_t")


@pytest.fixture
def finance(make_staff):
    return make_staff("finance", "finance_t")


@pytest.fixture
def auditor(make_staff):
    return make_staff("auditor", "auditor_t")
