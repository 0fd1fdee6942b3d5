"""The command line: `onecard <command>` (a Flask CLI group, so `onecard run` and `onecard db ...` work too).

Every command answers bad input with a Chinese message and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import functools
import json
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from onecard.errors import DomainError


def _domain_errors(fn):
    """Turn a refusal into a message and exit code 2 (the CLI's form of a 4xx)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            from onecard.extensions import db
            db.session.rollback()
            where = f"（{exc.field}）" if exc.field else ""
            click.echo(f"错误{where}：{exc.message}", err=True)
            sys.exit(2)
    return wrapper


def upgrade_database() -> None:
    """Apply every Alembic migration, then seed the county's fixed reference data."""
    from flask_migrate import upgrade

    from onecard.reference import service as reference
    upgrade()
    reference.seed()


@click.command("init-db")
@with_appcontext
def init_db_command():
    """创建或升级数据库结构（Alembic 迁移），并写入镇街、银行、部门等基础数据。"""
    upgrade_database()
    click.echo("数据库已就绪。")


@click.command("create-admin")
@click.option("--username", required=True, help="管理员用户名")
@click.option("--password", required=True, prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default="人社局管理员")
@with_appcontext
@_domain_errors
def create_admin_command(username, password, display_name):
    """创建第一个人社局管理员账号（已有管理员时拒绝）。"""
    from onecard.staff import service
    account = service.create_first_admin(username, password, display_name)
    click.echo(f"已创建管理员 {account.username}。")


@click.command("demo")
@click.option("--residents", default=10_000, show_default=True, type=click.IntRange(100, 2_000_000))
@click.option("--seed", default=2021, show_default=True, type=int)
@click.option("--if-empty", is_flag=True, help="数据库已有数据时跳过而不报错（供 make run 反复执行）")
@with_appcontext
@_domain_errors
def demo_command(residents, seed, if_empty):
    """生成合成的泗水县演示数据（居民、户、社保卡、补贴项目、各岗位演示账号）。"""
    import sqlalchemy as sa
    from tqdm import tqdm

    from onecard import demo
    from onecard.extensions import db
    from onecard.people.models import Resident
    upgrade_database()
    if db.session.execute(sa.select(sa.func.count(Resident.id))).scalar():
        if if_empty:
            click.echo("已有演示数据，跳过生成。")
            return
        click.echo("错误：数据库中已有居民数据，演示数据只能生成到空数据库。", err=True)
        sys.exit(2)
    with tqdm(total=residents, desc="生成居民", unit="人") as bar:
        ctx = demo.build(residents=residents, seed=seed, progress=bar)
    click.echo(f"已生成演示县：{ctx.residents} 名居民（合成数据）。所有演示账号的密码：{demo.DEMO_PASSWORD}")


@click.command("audit-verify")
@click.option("--anchors", "anchors_dir", type=click.Path(file_okay=False), default=None,
              help="审计锚点目录：同时核对每个锚点（签名、锚定的哈希、有无缺失的日期）")
@with_appcontext
def audit_verify_command(anchors_dir):
    """校验审计链：任何记录被改动、删除或插入都会报告，并以非零状态退出。"""
    from onecard import audit
    report = audit.verify_chain(anchors_dir=anchors_dir)
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    if not report.ok:
        sys.exit(1)


@click.command("audit-anchor")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="写入目录（默认 ONECARD_AUDIT_ANCHOR_DIR 或 instance/audit_anchors）")
@with_appcontext
def audit_anchor_command(directory):
    """把审计链当天的链头写成签名、带日期的锚点文件（每天一个，已有则不覆盖），交审计人员保存。"""
    from onecard import audit
    path, written = audit.anchor(directory or audit.default_anchor_dir())
    click.echo(f"{'已写入' if written else '今天的锚点已存在'}：{path}")


@click.command("bank-format")
@click.option("--bank", "bank_code", required=True, help="银行代码，如 RCB")
@click.option("--format", "format_code", required=True, help="文件格式代码（onecard/payments/bankformats 中登记的）")
@with_appcontext
@_domain_errors
def bank_format_command(bank_code, format_code):
    """设置合作银行的代发/回盘文件格式（已导出的批次仍按导出时的格式读取回盘）。"""
    from onecard.actors import cli_actor
    from onecard.payments import agreements
    bank = agreements.set_bank_format(cli_actor(), bank_code, format_code)
    click.echo(f"{bank.name} 的文件格式已设为 {bank.bank_format}。")


COMMANDS = [init_db_command, create_admin_command, demo_command, audit_verify_command, audit_anchor_command,
            bank_format_command]
from onecard.oversight.cli import COMMANDS as OVERSIGHT_COMMANDS  # noqa: E402  (oversight-rebuild-summary)

COMMANDS += OVERSIGHT_COMMANDS
from onecard.people.cli import COMMANDS as PEOPLE_COMMANDS  # noqa: E402  (import-villages, import-households...)

COMMANDS += PEOPLE_COMMANDS
from onecard.serving.cli import APP_COMMANDS as SERVING_COMMANDS  # noqa: E402  (backup, restore, rotate-keys)

COMMANDS += SERVING_COMMANDS


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():
    from onecard import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main():
    """泗水县社保卡“一卡通”平台命令行。"""


from onecard.serving.cli import GROUP_COMMANDS  # noqa: E402  (serve: needs no app in the CLI process)

for _command in GROUP_COMMANDS:
    main.add_command(_command)
