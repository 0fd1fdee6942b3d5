"""Card registry (社保卡制卡数据): the bureau imports the province's card-issuing file.

Only the bureau's administrator imports. One import is one transaction and one
audit entry with its counts (not one per row). The file's SHA-256, who imported
it and the full report are kept in ``registry_imports``. In the same transaction
the recipient lists of the current and next period are matched again
(``onecard.lists.matching.rematch_all``), so follow-up lists and the next batch
reflect the new registry; what changed is part of the import's report.
"""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from onecard import audit
from onecard.actors import Actor
from onecard.errors import NotFound
from onecard.extensions import db
from onecard.lists import matching
from onecard.registry import importer
from onecard.registry.models import RegistryImport
from onecard.sheets import write_xlsx
from onecard.staff import permissions
from onecard.timeutil import local_today, utcnow

permissions.register({
    "registry.import": {"admin"},
    "registry.report": {"admin", "auditor"},
})


def _sha256(stream) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def import_registry(actor: Actor, stream, filename: str) -> RegistryImport:
    """Import the card-issuing file; bad rows are reported and skipped, good rows applied in bulk.

    Refuses anyone but the bureau's administrator (403), and a file that cannot be
    read or lacks the required columns (422 sheet_invalid).
    """
    permissions.require(actor, "registry.import")
    if db.engine.dialect.name == "postgresql":
        # One import at a time: two would race on the same cards' compare-and-set moves.
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(370831001)"))
    record = RegistryImport(imported_by=actor.id if actor.kind == "staff" else None, file_name=(filename or "")[:200],
                            file_sha256=_sha256(stream), started_at=utcnow())
    report = importer.Report()
    importer.run(stream, filename, report)
    record.finished_at = utcnow()
    record.rows_total, record.rows_applied = report.rows_total, report.rows_applied
    record.new_residents, record.new_cards = report.new_residents, report.new_cards
    record.status_changes = sum(report.status_changes.values())
    record.status_change_detail = importer.status_detail(report)
    record.account_changes, record.replaced_cards = report.account_changes, report.replaced_cards
    record.unchanged, record.error_count = report.unchanged, report.errors.count
    record.errors = json.dumps(report.errors.items, ensure_ascii=False, default=str)
    # Re-match before the commit: the import and the match results it changes land together, and a failure
    # of either leaves neither (the registry stays as it was; the file can be imported again).
    rematch = matching.rematch_all(actor, periods=matching.current_and_next_periods(local_today()), commit=False)
    record.rematch = "done"
    record.rematch_detail = json.dumps(rematch, ensure_ascii=False)
    db.session.add(record)
    db.session.flush()
    audit.record("registry.imported", actor=actor, entity_type="registry_import", entity_id=record.id,
                 after={"file": record.file_name, "sha256": record.file_sha256, **counts(record),
                        "rematch": {k: rematch[k] for k in ("lists_checked", "changed")}})
    db.session.commit()
    return record


def counts(record: RegistryImport) -> dict:
    return {"rows_total": record.rows_total, "rows_applied": record.rows_applied,
            "new_residents": record.new_residents, "new_cards": record.new_cards,
            "status_changes": record.status_changes,
            "status_change_detail": json.loads(record.status_change_detail or "{}"),
            "account_changes": record.account_changes, "replaced_cards": record.replaced_cards,
            "unchanged": record.unchanged, "error_count": record.error_count}


def get_import(actor: Actor, import_id: int) -> RegistryImport:
    """An import's report (administrator and auditor)."""
    permissions.require(actor, "registry.report")
    record = db.session.get(RegistryImport, import_id)
    if record is None:
        raise NotFound("导入记录不存在", code="registry_import_not_found")
    return record


def list_imports(actor: Actor, *, limit: int = 50) -> list[RegistryImport]:
    permissions.require(actor, "registry.report")
    return db.session.execute(sa.select(RegistryImport).order_by(RegistryImport.id.desc()).limit(limit)).scalars().all()


def template_xlsx() -> bytes:
    """The blank card-issuing template with the documented headers and one example row."""
    return write_xlsx(importer.COLUMNS, [], sheet_name="社保卡制卡数据")
