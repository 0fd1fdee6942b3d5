"""The command line: migrations, demo data, first admin, audit check; bad input exits non-zero."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(tmp_path, *args, env_extra=None):
    env = {**os.environ, "ONECARD_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
           "ONECARD_PASSWORD_HASH_PROFILE": "test", **(env_extra or {})}
    env.pop("ONECARD_TEST_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "onecard.cli_entry", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_init_db_then_demo_then_audit_verify(tmp_path):
    r = run_cli(tmp_path, "init-db")
    assert r.returncode == 0, r.stderr
    r = run_cli(tmp_path, "demo", "--residents", "300")
    assert r.returncode == 0, r.stderr
    assert "合成" in r.stdout
    r = run_cli(tmp_path, "demo", "--residents", "300")
    assert r.returncode == 2 and "已有居民数据" in r.stderr
    r = run_cli(tmp_path, "demo", "--if-empty")
    assert r.returncode == 0
    r = run_cli(tmp_path, "audit-verify")
    assert r.returncode == 0 and '"ok": true' in r.stdout


def test_create_admin_refuses_weak_password_with_a_message(tmp_path):
    run_cli(tmp_path, "init-db")
    r = run_cli(tmp_path, "create-admin", "--username", "boss", "--password", "short")
    assert r.returncode == 2
    assert "密码至少10位" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(tmp_path, "create-admin", "--username", "boss", "--password", "GoodPass2026")
    assert r.returncode == 0, r.stderr
    r = run_cli(tmp_path, "create-admin", "--username", "boss2", "--password", "GoodPass2026")
    assert r.returncode == 2 and "已存在管理员" in r.stderr


def test_demo_refuses_a_bad_resident_count(tmp_path):
    r = run_cli(tmp_path, "demo", "--residents", "-5")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("table", ["residents", "cards", "projects", "staff_accounts"])
def test_migrated_schema_has_the_core_tables(tmp_path, table):
    run_cli(tmp_path, "init-db")
    import sqlite3
    names = {r[0] for r in sqlite3.connect(f"{tmp_path}/cli.db").execute(
        "select name from sqlite_master where type='table'")}
    assert table in names


def test_migrations_match_the_models(tmp_path):
    """Alembic's head must equal the models: a model change without a migration fails here."""
    run_cli(tmp_path, "init-db")
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    import console.guard  # noqa: F401  (the console's own table, registered with its blueprint)
    import onecard.models  # noqa: F401
    from onecard.extensions import db
    engine = create_engine(f"sqlite:///{tmp_path}/cli.db")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []


def test_bank_format_is_set_from_the_command_line_and_refuses_what_is_not_registered(tmp_path):
    import sqlite3
    assert run_cli(tmp_path, "init-db").returncode == 0
    r = run_cli(tmp_path, "bank-format", "--bank", "ICBC", "--format", "rcb")
    assert r.returncode == 0, r.stderr
    assert "rcb" in r.stdout
    r = run_cli(tmp_path, "bank-format", "--bank", "ICBC", "--format", "nope")
    assert r.returncode == 2 and "未登记" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(tmp_path, "bank-format", "--bank", "NOPE", "--format", "generic")
    assert r.returncode == 2 and "没有代码为" in r.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        formats = dict(conn.execute("SELECT code, bank_format FROM banks"))
        actions = [a for (a,) in conn.execute("SELECT action FROM audit_entries WHERE action = 'bank.format_set'")]
    assert formats["ICBC"] == "rcb" and formats["RCB"] == "rcb" and formats["ABC"] == "generic"
    assert actions == ["bank.format_set"]


def test_a_fresh_install_imports_villages_and_households_from_the_command_line(tmp_path):
    import sqlite3
    assert run_cli(tmp_path, "init-db").returncode == 0
    (tmp_path / "v.csv").write_text("统计用区划代码,城乡分类代码,名称\n370831100201,220,卞桥村委会\n", encoding="utf-8-sig")
    r = run_cli(tmp_path, "import-villages", str(tmp_path / "v.csv"))
    assert r.returncode == 0, r.stderr
    assert '"villages": 1' in r.stdout
    (tmp_path / "h.csv").write_text("户号,与户主关系,姓名,身份证号,镇街,村（社区）\n"
                                    "H1,户主,张三,37083119600101001X,泉林镇,卞桥村\n", encoding="utf-8-sig")
    r = run_cli(tmp_path, "import-households", str(tmp_path / "h.csv"))
    assert r.returncode == 2 and "第2行 身份证号" in r.stderr and "Traceback" not in r.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        assert conn.execute("SELECT count(*) FROM households").fetchone() == (0,)
        assert conn.execute("SELECT name FROM villages").fetchall() == [("卞桥村委会",)]
