"""Backup and restore of the whole database: ``onecard backup`` and ``onecard restore``.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot while the
  platform keeps running (readers and the writer go on; WAL included). Restoring copies the file back the
  same way, page by page, into the target database.
* PostgreSQL: ``pg_dump --format=custom`` (compressed, restorable table by table) and ``pg_restore``. When
  the URL selects a schema (``options=-csearch_path=...``) only that schema is dumped. The password, if
  any, goes to the tools through PGPASSWORD, never on their command line.

A restore goes into an EMPTY database: over a database holding tables it is refused unless ``force``
(which replaces everything). The field and blind-index keys are not in a backup: a backup restores only
with the keys it was taken under, kept apart from it (README, "Running it for real").
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from urllib.parse import unquote

import sqlalchemy as sa

from onecard.errors import Conflict, Invalid


@dataclass(frozen=True)
class BackupResult:
    path: str
    dialect: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict:
        return {"file": self.path, "dialect": self.dialect, "bytes": self.bytes, "sha256": self.sha256}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_path(url: sa.engine.URL) -> str:
    if not url.database or url.database == ":memory:":
        raise Invalid("内存数据库无法备份", code="backup_unsupported", field="database")
    return url.database


def _pg_target(url: sa.engine.URL) -> tuple[list[str], dict[str, str], str | None]:
    """(connection arguments for pg_dump/pg_restore, extra environment, schema named in search_path)."""
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
            "--username", url.username or "postgres", "--dbname", url.database or "postgres"]
    env = {}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    schema = None
    options = unquote(str(url.query.get("options") or ""))
    for part in options.split():
        if part.startswith("-csearch_path="):
            schema = part.split("=", 1)[1].split(",")[0].strip() or None
    if schema:
        env["PGOPTIONS"] = f"-csearch_path={schema}"
    return args, env, schema


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    if shutil.which(argv[0]) is None:
        raise Conflict(f"找不到 {argv[0]}：请安装与数据库同版本的 PostgreSQL 客户端", code="backup_tool_missing")
    result = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise Conflict(f"{what}失败：{result.stderr.strip()[-500:]}", code="backup_failed")


def backup(database_url: str, output: str) -> BackupResult:
    """Write a backup of the database at ``database_url`` to ``output`` (written beside, then renamed)."""
    url = sa.engine.make_url(database_url)
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".onecard-backup-", dir=folder)
    os.close(fd)
    try:
        if url.get_backend_name() == "sqlite":
            source = sqlite3.connect(_sqlite_path(url))
            target = sqlite3.connect(partial)
            try:
                with target:
                    source.backup(target)
            finally:
                target.close()
                source.close()
        elif url.get_backend_name() == "postgresql":
            args, env, schema = _pg_target(url)
            argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", partial, *args]
            if schema:
                argv += ["--schema", schema]
            _run(argv, env, "pg_dump 备份")
        else:
            raise Invalid(f"不支持备份此类数据库：{url.get_backend_name()}", code="backup_unsupported")
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return BackupResult(os.path.abspath(output), url.get_backend_name(), os.path.getsize(output), _sha256(output))


def _tables(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
                return sa.inspect(conn).get_table_names(schema=schema)
            return sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore(database_url: str, backup_file: str, *, force: bool = False) -> dict:
    """Restore ``backup_file`` into the database at ``database_url``, which must be empty unless ``force``."""
    if not os.path.isfile(backup_file):
        raise Invalid(f"找不到备份文件：{backup_file}", code="backup_missing", field="backup_file")
    url = sa.engine.make_url(database_url)
    backend = url.get_backend_name()
    existing = _tables(database_url)
    if existing and not force:
        raise Conflict(f"目标数据库不是空的（已有 {len(existing)} 张表）：恢复只写入空数据库；"
                       "确要覆盖请加 --force", code="restore_target_not_empty", field="database")
    if backend == "sqlite":
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            check = source.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            source.close()
            raise Invalid("备份文件不是可读的 SQLite 数据库", code="backup_unreadable", field="backup_file") from exc
        if check != "ok":
            source.close()
            raise Invalid(f"备份文件已损坏：{check}", code="backup_unreadable", field="backup_file")
        target = sqlite3.connect(_sqlite_path(url))
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
    elif backend == "postgresql":
        args, env, schema = _pg_target(url)
        _run(["pg_restore", "--list", backup_file], {}, "读取备份文件")
        argv = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", *args]
        if force and existing:
            argv += ["--clean", "--if-exists"]
        if schema and not existing:
            # The dump creates its schema itself; an empty one made for the restore would clash with it.
            drop = sa.create_engine(database_url.split("?")[0])
            try:
                with drop.begin() as conn:
                    if not sa.inspect(conn).get_table_names(schema=schema):
                        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}"'))
            finally:
                drop.dispose()
        _run([*argv, backup_file], env, "pg_restore 恢复")
    else:
        raise Invalid(f"不支持恢复到此类数据库：{backend}", code="backup_unsupported")
    return {"restored": os.path.abspath(backup_file), "dialect": backend, "tables": len(_tables(database_url))}
