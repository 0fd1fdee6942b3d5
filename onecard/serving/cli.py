"""Operations commands: ``onecard serve``, ``backup``, ``restore``, ``rotate-keys``.

``serve`` needs no app in the CLI process (it checks the configuration, then becomes gunicorn), so it is
added to the command group itself rather than through ``create_app``.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from onecard import config
from onecard.errors import DomainError


def _fail(message: str, code: int = 2):
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def production_environment(environ=None) -> dict[str, str]:
    """The environment gunicorn runs with: production, with a metrics folder of its own.

    Refuses (RuntimeError, in Chinese) a configuration that keeps a development secret, the development
    login or the cheap password profile — whatever ONECARD_ENV says: ``onecard serve`` is always production.
    """
    env = dict(os.environ if environ is None else environ)
    env["ONECARD_ENV"] = "production"
    values = config.load(env)
    config.check_production(values)
    # Build the app once here: a bad key or URL is reported before any worker tries to boot.
    from onecard import create_app
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="onecard-metrics-")
    return env


@click.command("serve")
@click.option("--bind", default=None, help="监听地址，如 127.0.0.1:8000（默认取 ONECARD_BIND）")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="工作进程数（默认按 CPU 数计算）")
def serve_command(bind, workers):
    """以生产方式运行（gunicorn）：拒绝开发密钥；kill -HUP 平滑重载。试用请用 make run。"""
    try:
        env = production_environment()
    except (RuntimeError, SystemExit) as exc:
        _fail(str(exc) if str(exc) else "配置无效，拒绝启动")
    if bind:
        env["ONECARD_BIND"] = bind
    if workers:
        env["ONECARD_WORKERS"] = str(workers)
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:onecard.serving.gunicorn_conf"]
    sys.stdout.flush()
    # exec: gunicorn's master takes this process id, so systemd's MAINPID and `kill -HUP` reach it.
    os.execvpe(argv[0], argv, env)


def _database_url() -> str:
    return current_app.config["SQLALCHEMY_DATABASE_URI"]


def _release_connections() -> None:
    """Close this process's pooled connections: a restore must not race its own session."""
    from onecard.extensions import db
    db.session.remove()
    db.engine.dispose()


@click.command("backup")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="备份文件路径（默认 instance/backups/onecard-<时间>.<sqlite|dump>）")
@with_appcontext
def backup_command(output):
    """在线备份整个数据库（SQLite 在线备份接口；PostgreSQL pg_dump 自定义格式），输出一行 JSON。"""
    from onecard.serving import backup
    url = _database_url()
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        suffix = "sqlite" if url.startswith("sqlite") else "dump"
        output = os.path.join(current_app.instance_path, "backups", f"onecard-{stamp}.{suffix}")
    try:
        result = backup.backup(url, output)
    except DomainError as exc:
        _fail(exc.message)
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False))


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="目标数据库已有数据时仍然覆盖（删除现有的一切）")
@with_appcontext
def restore_command(backup_file, force):
    """把备份恢复到 ONECARD_DATABASE_URL 指向的空数据库（非空时拒绝，除非 --force）。恢复后请运行 audit-verify。"""
    from onecard.serving import backup
    _release_connections()
    try:
        result = backup.restore(_database_url(), backup_file, force=force)
    except DomainError as exc:
        _fail(exc.message)
    click.echo(json.dumps(result, ensure_ascii=False))


@click.command("rotate-keys")
@click.option("--chunk", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="每批处理的行数")
@click.option("--pause", type=click.FloatRange(0, 60), default=0.0, show_default=True,
              help="两批之间暂停的秒数（减轻数据库压力）")
@click.option("--quiet", is_flag=True, help="不逐批输出进度")
@with_appcontext
def rotate_keys_command(chunk, pause, quiet):
    """把所有密文和盲索引换成新密钥（配置中排在第一位的密钥）；可随时中断，再次运行从中断处继续。"""
    from onecard import privacy
    from onecard.serving import keys
    if len(privacy.field_key_ids()) == 1 and len(privacy.blind_key_ids()) == 1:
        _fail("没有需要轮换的密钥：请把新密钥放在 ONECARD_FIELD_KEY 或 ONECARD_BLIND_INDEX_KEY 的第一位、"
              "旧密钥放在其后（逗号分隔），重启所有进程后再运行")
    if len(privacy.blind_key_ids()) > 1:
        click.echo("注意：盲索引轮换期间，名单上传与比对、户籍导入、回盘导入和夜间风险检查可能漏配，请在轮换完成后进行。",
                   err=True)
    echo = None if quiet else (lambda p: click.echo(json.dumps(p, ensure_ascii=False)))
    summary = keys.rotate(chunk=chunk, pause=pause, echo=echo)
    click.echo(json.dumps(summary, ensure_ascii=False))
    if not summary["done"]:
        _fail(f"仍有 {summary['left_under_old_keys']} 个字段由旧密钥加密（有进程尚未用新密钥重启）："
              "请重启所有进程后再次运行 onecard rotate-keys", code=1)
    click.echo("轮换完成：现在可以从配置中删除旧密钥并重启所有进程。", err=True)


GROUP_COMMANDS = [serve_command]      # added to the `onecard` group directly (no app needed)
APP_COMMANDS: list = [backup_command, restore_command, rotate_keys_command]   # registered through create_app
