"""Master-data imports from the command line (the same services as the API; the actor is the CLI).

One ``onecard import-<key> FILE`` per kind in ``onecard.people.kinds`` (``import-villages``,
``import-households``, ``import-groups --department 03``, ``import-proxies``, ``import-deaths``): all or
nothing; a refused file prints every bad row and exits 2.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from onecard.errors import DomainError
from onecard.imports import ImportKind
from onecard.people.kinds import KINDS


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


def _department_id(code: str) -> int:
    import sqlalchemy as sa

    from onecard.extensions import db
    from onecard.reference.models import Department
    department_id = db.session.execute(sa.select(Department.id).where(Department.code == code)).scalar()
    if department_id is None:
        click.echo(f"错误：没有代码为 {code} 的部门", err=True)
        sys.exit(2)
    return department_id


def _import_command(kind: ImportKind) -> click.Command:
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @with_appcontext
    def command(path: Path, department_code: str | None = None):
        options = {"department_id": _department_id(department_code)} if kind.by_department else {}
        with path.open("rb") as f:
            _run(kind.title, lambda actor: kind.run(actor, f, path.name, **options))
    if kind.by_department:
        command = click.option("--department", "department_code", required=True,
                               help="认定部门代码：03 民政局，11 残联，06 农业农村局")(command)
    help_text = f"导入{kind.title}（xlsx 或 csv），逐行校验，全部正确才导入。"
    if kind.by_department:
        help_text += "以 --department 指定的认定部门登记。"
    return click.command(f"import-{kind.key}", help=help_text)(command)


COMMANDS = [_import_command(kind) for kind in KINDS]
