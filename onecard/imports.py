"""All-or-nothing spreadsheet imports that apply each row through a domain's single-edit rule.

A master-data import (villages, households, groups, proxies, deaths) is the same use case as its single edit,
repeated: ``import_rows`` reads the file with ``onecard.sheets.read_rows``, hands each row's values (by field
name) to ``apply(row_no, values)`` — the very function the single edit calls, in the same transaction — and
turns each ``DomainError`` it raises into a row error naming the column of the error's field. If any row is
bad, nothing is kept: the transaction is rolled back and one ``sheet_invalid`` 422 lists every bad row.
The caller commits when it returns.

``ImportKind`` is one such import as every door offers it (an upload and a blank template); the kinds are
listed once, in ``onecard.people.kinds``, and the staff API, the console and the CLI generate their routes
and commands from that list.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from onecard.errors import DomainError
from onecard.extensions import db
from onecard.sheets import SheetErrors, header_key, mask_value, read_rows, write_xlsx


@dataclass(frozen=True)
class SheetSpec:
    """One import's layout: template headers in order, header -> service field, required headers, aliases."""
    sheet_name: str
    columns: dict[str, str]
    required: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    masked: dict[str, str] = field(default_factory=dict)   # field -> mask kind ("id", "account") in reports
    max_rows: int = 200_000
    example: tuple = ()     # one example row for the template (shown, then deleted by the user)

    def template(self) -> bytes:
        rows = [list(self.example)] if self.example else []
        return write_xlsx(list(self.columns), rows, sheet_name=self.sheet_name,
                          widths={h: 22 for h in self.columns})


@dataclass(frozen=True)
class ImportKind:
    """One master-data kind that comes in as a spreadsheet (基础信息导入), as all three doors offer it.

    ``run(actor, data, filename, **options)`` is the domain's import service: it checks ``permission`` itself
    and answers the counts that ``counts`` (a marshmallow schema) documents. ``by_department``: the rows are
    recorded for a department, given as ``department_id`` (the API's query, the console's form) or a
    department code (the CLI's ``--department``)."""
    key: str                       # the URL segment and command: /deaths/import, /deaths/template, import-deaths
    title: str                     # what the file holds, in Chinese; also the CLI actor's audit label
    sheet: SheetSpec
    run: Callable[..., dict]
    permission: str                # who may import (the service checks; the console guards its form by it)
    template_permission: str       # who may download the blank template from the console
    template_filename: str
    counts: type                   # marshmallow schema of run's answer
    summary: Callable[[dict], str]  # run's answer in one sentence, for the console
    hint: str = ""                 # how the file is read, beyond its columns
    by_department: bool = False

    def template(self) -> bytes:
        return self.sheet.template()


def import_rows(spec: SheetSpec, data, filename: str, apply: Callable[[int, dict], object], *,
                order: Callable[[dict], object] | None = None,
                prepare: Callable[[list[tuple[int, dict]]], None] | None = None,
                finish: Callable[[Callable[..., None]], None] | None = None) -> int:
    """Apply every row; returns the number applied. Raises ``sheet_invalid`` (and rolls back) if any is bad.

    ``order(values)``, when given, sorts the rows before applying (stable: file order within equal keys), for
    files whose rows refer to each other (a village to its town). ``prepare(rows)``, when given, sees every
    ``(row_no, values)`` before any is applied, to load at once what the rows will look up (a county's file
    checked one look-up per row takes hours). ``finish(report)``, when given, runs after
    the rows for checks across rows (a household without a head); ``report(row_no, field, message, value=None)``
    adds an error to the same report."""
    keys = {header_key(h): f for h, f in spec.columns.items()}
    column_of = {f: h for h, f in spec.columns.items()}
    errors = SheetErrors()
    rows: list[tuple[int, dict]] = []
    for row_no, cells in read_rows(data, filename, required=spec.required, header_aliases=spec.aliases):
        if len(rows) >= spec.max_rows:
            errors.add(row_no, None, None, f"一次最多导入{spec.max_rows}行，请分批上传")
            break
        rows.append((row_no, {keys[k]: v for k, v in cells.items() if k in keys}))
    if order is not None:
        rows.sort(key=lambda item: order(item[1]))
    if prepare is not None:
        prepare(rows)
    for row_no, values in rows:
        try:
            apply(row_no, values)
        except DomainError as exc:   # a rule refused this row: report it and go on checking the others
            column = column_of.get(exc.field or "")
            raw = values.get(exc.field) if exc.field else None
            errors.add(row_no, column, mask_value(raw, spec.masked.get(exc.field or "")), exc.message)
    if finish is not None:
        finish(lambda row_no, fld, message, value=None: errors.add(
            row_no, column_of.get(fld or ""), mask_value(value, spec.masked.get(fld or "")), message))
    if not rows and not errors:
        errors.add(None, None, None, "文件中没有数据，请在表头下方逐行填写")
    if errors:
        db.session.rollback()
        errors.raise_if_any()
    return len(rows)
