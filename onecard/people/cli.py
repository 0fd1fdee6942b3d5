"""Master-data imports from the command line (the same services as the API; the actor is the CLI).

``onecard import-villages FILE``, ``import-households``, ``import-groups --department 03``,
``import-proxies``, ``import-deaths``: all or nothing; a refused file prints every bad row and exits 2.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from onecard.errors import DomainError


def _run(label: str, call) -> None:
    from onecard.actors import cli_actor
    from onecard.extensions import db
    try:
        result = call(cli_actor(f"命令行：{label}"))
    except DomainError as exc:
        db.session.rollback()
        click.echo(f"错误：{exc.message}", err=True)
        details = exc.details if isinstance(exc.details, dict) else {}
        for e in details.get("errors", []):
            click.echo(f"  第{e['row'] or '-'}行 {e['column'] or ''}（{e['value'] if e['value'] is not None else ''}）："
                       f"{e['reason']}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, ensure_ascii=False))


def _file_command(name: str, label: str, service):
    @click.command(name, help=f"导入{label}（xlsx 或 csv），逐行校验，全部正确才导入。")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @with_appcontext
    def command(path: Path):
        with path.open("rb") as f:
            _run(label, lambda actor: service()(actor, f, path.name))
    return command


def _places():
    from onecard.reference.places import import_places
    return import_places


def _households():
    from onecard.people.households import import_households
    return import_households


def _proxies():
    from onecard.people.proxies import import_appointments
    return import_appointments


def _deaths():
    from onecard.people.residents import import_deaths
    return import_deaths


@click.command("import-groups", help="导入特殊群体认定名单（xlsx 或 csv），以 --department 指定的认定部门登记。")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--department", "department_code", required=True, help="认定部门代码：03 民政局，11 残联，06 农业农村局")
@with_appcontext
def import_groups_command(path: Path, department_code: str):
    import sqlalchemy as sa

    from onecard.extensions import db
    from onecard.people.groups import import_groups
    from onecard.reference.models import Department
    department_id = db.session.execute(sa.select(Department.id).where(Department.code == department_code)).scalar()
    if department_id is None:
        click.echo(f"错误：没有代码为 {department_code} 的部门", err=True)
        sys.exit(2)
    with path.open("rb") as f:
        _run("特殊群体", lambda actor: import_groups(actor, f, path.name, department_id=department_id))


COMMANDS = [
    _file_command("import-villages", "镇街和村（社区）（统计用区划代码表）", _places),
    _file_command("import-households", "家庭户", _households),
    import_groups_command,
    _file_command("import-proxies", "代管代持", _proxies),
    _file_command("import-deaths", "死亡名单", _deaths),
]
