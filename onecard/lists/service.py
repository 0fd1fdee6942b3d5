"""Recipient lists (发放名单, attachment 3): template, upload, reading, withdrawal.

A department operator uploads one file for one coded project of its own department
and one period. Every row is validated; a file with any bad row stores nothing and
returns every problem at once (and as a downloadable xlsx report), a clean file is
stored whole as one list with its uploader and SHA-256.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from onecard import audit, files_at_rest, sheets
from onecard.actors import Actor
from onecard.errors import Conflict, Invalid, NotFound, TooLarge
from onecard.extensions import db
from onecard.lifecycle import StateMachine
from onecard.lists import importer, reader
from onecard.lists.models import MATCH_RESULTS, ListUploadReport, RecipientList, RecipientRow
from onecard.privacy import mask_id, mask_last4
from onecard.projects.models import CYCLES, Project
from onecard.reference.models import Bank, Town, Village
from onecard.serving import metrics
from onecard.staff import permissions
from onecard.timeutil import local_str
from onecard.validation import format_fen, parse_period

permissions.register({
    "list.report.read": ["dept_operator", "dept_reviewer", "admin"],
    "match.rematch_all": ["admin"],
})

LIST_STATES = {"uploaded": "已上传", "matched": "已比对", "withdrawn": "已撤回"}
LIST_MACHINE = StateMachine(
    name="recipient_list",
    state_attr="status",
    transitions={"uploaded": frozenset({"matched", "withdrawn"}), "matched": frozenset({"withdrawn"})},
    labels=LIST_STATES,
    timestamps={"matched": "matched_at"},
)

_CYCLE_PERIOD = {
    "monthly": (re.compile(r"\d{4}-\d{2}"), "按月发放的项目，期间请填写月份，如 2026-11"),
    "quarterly": (re.compile(r"\d{4}-Q[1-4]"), "按季发放的项目，期间请填写季度，如 2026-Q1"),
    "half_yearly": (re.compile(r"\d{4}-H[12]"), "按半年发放的项目，期间请填写半年，如 2026-H1"),
    "yearly": (re.compile(r"\d{4}"), "按年发放的项目，期间请填写年份，如 2026"),
}
MAX_ERRORS_IN_ANSWER = 5000
ANALYZE_AFTER_ROWS = 10_000


def _too_many_rows(limit: int) -> TooLarge:
    return TooLarge(f"文件超过{limit}行的上限，请拆分为多个文件分别上传", code="too_many_rows", field="file")


# ---------------------------------------------------------------- template

def template_xlsx() -> bytes:
    """The blank attachment 3 (any staff member may download it)."""
    return importer.template_xlsx()


# ---------------------------------------------------------------- upload

def _project_for_upload(actor: Actor, project_id: int) -> Project:
    permissions.require(actor, "list.upload")
    project = db.session.get(Project, project_id)
    if project is None:
        raise NotFound("补贴项目不存在", code="project_not_found", field="project_id")
    permissions.require(actor, "list.upload", project)
    if project.status == "retired":
        raise Conflict("该补贴项目已停用，不能再上传发放名单", code="project_retired", field="project_id")
    if project.status != "coded":
        raise Conflict("该补贴项目尚未由人社局赋码，赋码后才能上传发放名单", code="project_not_coded",
                       field="project_id")
    return project


def _period_for(project: Project, raw: str) -> str:
    period = parse_period(raw, field="period")
    rule = _CYCLE_PERIOD.get(project.cycle)
    if rule and not rule[0].fullmatch(period):
        raise Invalid(rule[1], code="period_cycle_mismatch", field="period")
    return period


def _file_facts(stream: BinaryIO) -> tuple[int, bytes]:
    """Size (without reading the body) and the first bytes, which tell xlsx (a zip) from CSV."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    return size, head


def _sha256(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def upload(actor: Actor, *, project_id: int, period: str, file_name: str, stream: BinaryIO,
           max_bytes: int | None = None, max_rows: int | None = None) -> RecipientList:
    """A department operator uploads attachment 3 for one project of its department and one period.

    Refuses: a file over the size limit before reading it (413), over the row limit while reading (413),
    a byte-identical re-upload of a stored list (409), and any file with a bad row (422 ``sheet_invalid``,
    listing every bad row and column; the same report is kept as xlsx under ``report_id``). Nothing is
    stored unless every row is good.
    """
    started = time.perf_counter()
    project = _project_for_upload(actor, project_id)
    period = _period_for(project, period)
    max_bytes = max_bytes if max_bytes is not None else current_app.config["UPLOAD_MAX_BYTES"]
    max_rows = max_rows if max_rows is not None else current_app.config["UPLOAD_MAX_ROWS"]
    file_name = (file_name or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
    size, head = _file_facts(stream)
    if size > max_bytes:
        raise TooLarge(f"文件大小超过{max_bytes // (1024 * 1024) or 1}MB的上限，请拆分后分别上传",
                       code="file_too_large", field="file")
    if size == 0:
        raise Invalid("上传的文件是空的，请选择填写好的发放名单", code="file_empty", field="file")
    fmt = sheets.detect_format(file_name, head)
    sha = _sha256(stream)
    earlier = db.session.execute(
        sa.select(RecipientList).where(RecipientList.project_id == project.id, RecipientList.period == period,
                                       RecipientList.file_sha256 == sha, RecipientList.status != "withdrawn")
    ).scalars().first()
    if earlier is not None:
        raise Conflict(f"同一文件已于{local_str(earlier.created_at)}上传为名单（编号{earlier.id}，“{earlier.file_name}”），"
                       "请勿重复上传", code="list_duplicate_file", field="file")

    rows = sheets.iter_rows(stream, fmt)
    header_row_no, header = reader.find_header(rows)
    positions = reader.map_header(list(header))
    skipped: list[dict] = []
    rows = _data_rows(rows, header_row_no, skipped)
    recipient_list = RecipientList(project_id=project.id, period=period, department_id=project.department_id,
                                   uploaded_by=actor.id, file_name=file_name, file_sha256=sha,
                                   row_count=0, total_fen=0, status="uploaded")
    db.session.add(recipient_list)
    db.session.flush()
    validator = importer.RowValidator.from_database(standard_fen=project.standard_fen, period=period).bind(positions)
    outcome = importer.store_rows(recipient_list, rows, validator, max_rows=max_rows, too_many=_too_many_rows,
                                  workers=_upload_workers())
    if project.per_household:
        try:
            outcome.errors.extend(importer.assign_households(recipient_list))
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("同时有另一份名单列入了同一户，请稍后重新上传", code="list_household_concurrent",
                           field="file") from None
    warnings = importer.village_warnings(recipient_list)
    if outcome.errors:
        db.session.rollback()   # nothing of a bad file is kept
        _refuse_with_report(actor, project, period, file_name, stream, fmt, outcome.errors, warnings)
    if outcome.row_count == 0:
        raise Invalid("文件中只有表头，没有名单数据", code="file_empty", field="file")
    recipient_list.row_count = outcome.row_count
    recipient_list.total_fen = outcome.total_fen
    recipient_list.upload_notes = json.dumps({"header_row": header_row_no, "skipped": skipped[:MAX_NOTES],
                                              "warnings": warnings}, ensure_ascii=False)
    audit.record("list.upload", actor=actor, entity_type="recipient_list", entity_id=recipient_list.id,
                 after={"project_id": project.id, "period": period, "file_name": file_name, "sha256": sha,
                        "rows": outcome.row_count, "total_fen": outcome.total_fen, "header_row": header_row_no,
                        "skipped": len(skipped), "warnings": len(warnings)})
    db.session.commit()
    metrics.list_uploaded(outcome.row_count, time.perf_counter() - started)
    if outcome.row_count >= ANALYZE_AFTER_ROWS and db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics for the matching that follows: with the table's old row count the planner
        # guessed a few hundred rows for a list of a million. After the commit: no lock is held meanwhile.
        db.session.execute(sa.text("ANALYZE recipient_rows"))
        db.session.commit()
    return recipient_list


MAX_NOTES = 1000


def _data_rows(rows, header_row_no: int, skipped: list[dict]):
    """The rows below the header that hold data: blank rows and the form's notes (注：…, 填表人：…) are passed over
    and recorded in ``skipped`` (said in the upload's answer, never counted as bad rows)."""
    previous = header_row_no
    for row_no, values in rows:
        skipped.extend({"row": n, "reason": "空行，已跳过"} for n in range(previous + 1, min(row_no, previous + 51)))
        previous = row_no
        if sheets.is_footnote(values):
            skipped.append({"row": row_no, "reason": "表格注释或签章行，已跳过"})
            continue
        yield row_no, values


def _upload_workers() -> int:
    """Worker processes validating and encrypting a large upload beside the inserting one.

    LIST_UPLOAD_WORKERS overrides; by default one fewer than the CPUs (0 on one CPU: all in-process).
    """
    configured = current_app.config.get("LIST_UPLOAD_WORKERS")
    if configured is not None:
        return max(int(configured), 0)
    return max((os.cpu_count() or 1) - 1, 0)


def _refuse_with_report(actor, project, period, file_name, stream, fmt, errors, warnings) -> None:
    order = {label: i for i, label in enumerate(reader.LABELS.values())}
    errors.sort(key=lambda e: (e.row, order.get(e.column, 0)))
    rows = sheets.iter_rows(stream, fmt)
    _, header = reader.find_header(rows)
    report = ListUploadReport(id=secrets.token_hex(16), department_id=project.department_id,
                              uploaded_by=actor.id, project_id=project.id, period=period, file_name=file_name,
                              error_count=len(errors),
                              xlsx=files_at_rest.seal(importer.build_report_xlsx(rows, header, errors, warnings)))
    db.session.add(report)
    db.session.commit()
    bad_rows = len({e.row for e in errors})
    details = {"errors": [e.to_dict() for e in errors[:MAX_ERRORS_IN_ANSWER]], "error_count": len(errors),
               "report_id": report.id, "warnings": warnings}
    message = (f"发现{len(errors)}处错误（涉及{bad_rows}行），名单未保存。请按错误说明逐项修改后重新上传，"
               "也可下载带错误说明的表格")
    raise Invalid(message, code="sheet_invalid", field="file", details=details)


def report_xlsx(actor: Actor, report_id: str) -> tuple[str, bytes]:
    """The annotated xlsx of a refused upload, for its department (and the bureau)."""
    permissions.require(actor, "list.report.read")
    report = db.session.get(ListUploadReport, report_id)
    if report is None or not permissions.in_scope(actor, report):
        raise NotFound("校验报告不存在或已过期", code="report_not_found")
    stem = report.file_name.rsplit(".", 1)[0]
    return f"{stem}-错误说明.xlsx", files_at_rest.unseal(report.xlsx)


def purge_upload_reports(older_than) -> list[str]:
    """Delete the refused-upload reports made before ``older_than`` (the caller audits and commits); their ids."""
    ids = list(db.session.execute(sa.select(ListUploadReport.id)
                                  .where(ListUploadReport.created_at < older_than)).scalars())
    if ids:
        db.session.execute(sa.delete(ListUploadReport).where(ListUploadReport.id.in_(ids)))
    return ids


# ---------------------------------------------------------------- reading

def load_list(actor: Actor, list_id: int, action: str = "list.read") -> RecipientList:
    """A list the actor may see; another department's list is 404 (its existence does not leak)."""
    permissions.require(actor, action)
    recipient_list = db.session.get(RecipientList, list_id)
    if recipient_list is None or not permissions.in_scope(actor, recipient_list):
        raise NotFound("发放名单不存在", code="list_not_found")
    return recipient_list


def list_lists(actor: Actor, *, project_id: int | None = None, period: str | None = None,
               status: str | None = None) -> list[RecipientList]:
    """Lists in the actor's scope, newest first: a department sees its own; the bureau, finance, auditors all."""
    permissions.require(actor, "list.read")
    stmt = sa.select(RecipientList).where(permissions.scope_filter(actor, RecipientList))
    if project_id is not None:
        stmt = stmt.where(RecipientList.project_id == project_id)
    if period:
        stmt = stmt.where(RecipientList.period == parse_period(period))
    if status:
        stmt = stmt.where(RecipientList.status == status)
    return db.session.execute(stmt.order_by(RecipientList.id.desc())).scalars().all()


@dataclass
class RowPage:
    items: list[dict]
    total: int
    page: int
    page_size: int


def list_rows(actor: Actor, list_id: int, *, page: int = 1, page_size: int = 50,
              match_result: str | None = None) -> RowPage:
    """One page of a list's rows, masked (ID, mobile, accounts), with the registry card filled in when matched."""
    recipient_list = load_list(actor, list_id)
    from onecard.cards.models import Card
    card_bank = sa.orm.aliased(Bank)
    conditions = [RecipientRow.list_id == recipient_list.id]
    if match_result:
        if match_result not in MATCH_RESULTS:
            raise Invalid("比对结果取值不正确", code="invalid", field="match_result")
        conditions.append(RecipientRow.match_result == match_result)
    total = db.session.execute(sa.select(sa.func.count()).select_from(RecipientRow).where(*conditions)).scalar()
    stmt = (sa.select(RecipientRow, Town.name, Village.name, Bank.name, Card.account_last4, Card.status,
                      card_bank.name)
            .join(Town, Town.id == RecipientRow.town_id)
            .outerjoin(Village, Village.id == RecipientRow.village_id)
            .join(Bank, Bank.id == RecipientRow.bank_id)
            .outerjoin(Card, Card.id == RecipientRow.card_id)
            .outerjoin(card_bank, card_bank.id == Card.bank_id)
            .where(*conditions).order_by(RecipientRow.row_no)
            .limit(page_size).offset((page - 1) * page_size))
    items = []
    for row, town, village, bank, card_last4, card_status, card_bank_name in db.session.execute(stmt):
        items.append({
            "id": row.id, "row_no": row.row_no, "name": row.name, "id_number": mask_id(row.id_number),
            "ethnicity": row.ethnicity, "mobile": ("*******" + row.mobile_last4) if row.mobile_last4 else None,
            "town": town, "village": village or row.village_text,
            "village_unlisted": row.village_text is not None,    # as written; not in the town's village table
            "bank": bank,
            "account": mask_last4(row.account_last4),
            "amount": format_fen(row.amount_fen), "amount_fen": row.amount_fen,
            "expected_date": row.expected_date.isoformat() if row.expected_date else None,
            "match_result": row.match_result, "match_label": MATCH_RESULTS.get(row.match_result),
            "card_account": mask_last4(card_last4),
            "card_bank": card_bank_name, "card_status": card_status,
        })
    return RowPage(items, total, page, page_size)


def withdraw(actor: Actor, list_id: int, *, reason: str | None = None) -> RecipientList:
    """The department (or the bureau) withdraws a list not yet used by a payment batch.

    Its rows are removed so the same people can be listed again for that project and period;
    the list itself stays, marked withdrawn, with its audit trail.
    """
    recipient_list = load_list(actor, list_id, "list.withdraw")
    if recipient_list.status == "withdrawn":
        raise Conflict("该名单已撤回", code="list_already_withdrawn", field="status")
    if _used_by_batch(recipient_list.id):
        raise Conflict("该名单已用于发放批次，不能撤回", code="list_in_batch", field="status")
    LIST_MACHINE.transition(recipient_list, "withdrawn", actor, action="list.withdraw", note=reason,
                            audit_after={"rows": recipient_list.row_count})
    db.session.execute(sa.delete(RecipientRow).where(RecipientRow.list_id == recipient_list.id))
    db.session.commit()
    return recipient_list


def _used_by_batch(list_id: int) -> bool:
    """Whether anything of a later domain (payment batches, their lines) refers to this list or one of its rows.

    Read from the schema's foreign keys, since the batches belong to a later domain: a batch made by project and
    period has no list_id, yet its lines point at the list's rows (issue #16: withdrawing such a list hit the
    foreign key and answered 500)."""
    rows, list_table = RecipientRow.__table__, RecipientList.__table__
    for table in db.metadata.tables.values():
        if table is rows:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is list_table:
                condition = fk.parent == list_id
            elif fk.column.table is rows:
                condition = fk.parent.in_(sa.select(rows.c.id).where(rows.c.list_id == list_id))
            else:
                continue
            if db.session.execute(sa.select(sa.literal(1)).select_from(table).where(condition).limit(1)).first():
                return True
    return False


def describe(recipient_list: RecipientList) -> dict:
    """What the API shows of a list."""
    project = db.session.get(Project, recipient_list.project_id)
    return {
        "id": recipient_list.id, "project_id": recipient_list.project_id, "project_code": project.code,
        "project_name": project.name, "cycle": CYCLES.get(project.cycle), "period": recipient_list.period,
        "department_id": recipient_list.department_id, "uploaded_by": recipient_list.uploaded_by,
        "file_name": recipient_list.file_name, "file_sha256": recipient_list.file_sha256,
        "row_count": recipient_list.row_count, "total_fen": recipient_list.total_fen,
        "total": format_fen(recipient_list.total_fen), "status": recipient_list.status,
        "status_label": LIST_STATES.get(recipient_list.status),
        "created_at": local_str(recipient_list.created_at, "%Y-%m-%d %H:%M:%S"),
        "matched_at": local_str(recipient_list.matched_at, "%Y-%m-%d %H:%M:%S") or None,
        **_notes(recipient_list),
    }


def _notes(recipient_list: RecipientList) -> dict:
    notes = json.loads(recipient_list.upload_notes or "{}")
    return {"header_row": notes.get("header_row"), "skipped_rows": notes.get("skipped", []),
            "warnings": notes.get("warnings", [])}
