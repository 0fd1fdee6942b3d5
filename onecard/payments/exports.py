"""The payment file (代发文件) of an approved batch: written in the bank's format, kept for re-download."""
from __future__ import annotations

import os

import sqlalchemy as sa
from flask import current_app

from onecard import files_at_rest, privacy
from onecard.actors import Actor
from onecard.errors import Conflict, NotFound
from onecard.extensions import db
from onecard.payments import bankformats, idempotency, routing
from onecard.payments.common import CHUNK, _bulk_cache, _lines, batch_view, check_totals, load_batch
from onecard.payments.lifecycle import BATCH_MACHINE, move_lines
from onecard.payments.models import Batch
from onecard.projects.models import Project
from onecard.reference.models import Bank

_SEALED_SUFFIX = ".csv.sealed"


def _file_dir() -> str:
    path = current_app.config.get("BANK_FILE_DIR") or os.path.join(current_app.instance_path, "bank_files")
    return files_at_rest.private_dir(path)


def bank_file_path(batch: Batch) -> str:
    """Where the batch's payment file is kept: sealed (it holds every payee's full account), owner-only."""
    return os.path.join(_file_dir(), f"{batch.number}{_SEALED_SUFFIX}")


def bank_file_name(batch: Batch) -> str:
    return f"{batch.number}.csv"


def read_bank_file(batch: Batch) -> bytes:
    """The payment file's bytes as the bank receives them."""
    return files_at_rest.read_sealed(bank_file_path(batch))


def purge_bank_files(older_than) -> list[str]:
    """Remove the payment files written before ``older_than``; their names (batch numbers), for the audit."""
    removed = []
    for path in files_at_rest.expired_files(_file_dir(), _SEALED_SUFFIX, older_than):
        os.remove(path)
        removed.append(os.path.basename(path).removesuffix(_SEALED_SUFFIX))
    return removed


def export_bank_file(actor: Actor, batch_id: int, *, idempotency_key: str | None) -> dict:
    """The agent bank's operator takes the approved batch's payment file; the batch is marked sent.

    The file is kept under the instance folder so a retry (same key) or a re-download gets the same bytes.
    """
    def work():
        try:
            return export(load_batch(actor, batch_id, "batch.export", for_update=True))
        except Conflict:
            # A double click (two keys) loses to the first export: on SQLite it may meet the lines already moved
            # (the totals then differ) or the batch's compare-and-set; either way say what happened (issue #16).
            db.session.rollback()
            if db.session.execute(sa.select(Batch.file_sha256).where(Batch.id == batch_id)).scalar():
                raise _already_sent() from None
            raise

    def export(batch):
        if batch.status != "approved":
            if batch.file_sha256:
                raise _already_sent()
            BATCH_MACHINE.check(batch.status, "sent")
        check_totals(batch)
        bank = db.session.get(Bank, batch.bank_id)
        # The bank's format now; recorded on the batch, so its result file is read the same way later.
        fmt = bankformats.format_named(bank.bank_format)
        project = db.session.get(Project, batch.project_id)
        path = bank_file_path(batch)
        # Written under a private (0600) name and put in place, sealed, only once the batch is really marked
        # sent, so a concurrent (refused) export never touches the file the bank receives.
        tmp_path = files_at_rest.private_tmp(os.path.dirname(path))
        try:
            _bulk_cache()
            checksum = fmt.write_payment_file(tmp_path, batch.number, batch.submitted_count, batch.submitted_fen,
                                              _payment_rows(batch.id), project_code=project.code,
                                              period=batch.period)
            move_lines("sent", _lines.c.batch_id == batch.id)
            BATCH_MACHINE.transition(batch, "sent", actor, extra_values={
                "sent_by": actor.id, "file_sha256": checksum, "bank_layout": fmt.code},
                audit_after={"file_sha256": checksum})
            with open(tmp_path, "rb") as fh:
                files_at_rest.write_sealed(path, fh.read())
        finally:
            os.remove(tmp_path)   # the clear text never outlives the export
        return {**batch_view(batch), "file_name": bank_file_name(batch)}
    return idempotency.run(actor, "batch.export", idempotency_key, {"batch_id": batch_id}, work)


def _already_sent() -> Conflict:
    return Conflict("该批次的代发文件已导出（可能是重复点击），请直接下载已导出的文件", code="batch_already_sent",
                    field="status")


def _payment_rows(batch_id: int):
    """The pending lines of a batch in id order, in chunks of (id, payee name, account in clear, amount fen).

    One streamed query (a server-side cursor on PostgreSQL), ciphertext read raw and decrypted once per line
    here, so memory holds one chunk whatever the batch size.
    """
    decrypt = privacy.decryptor()
    result = db.session.execute(
        sa.select(_lines.c.id, _lines.c.payee_name, sa.type_coerce(_lines.c.account, routing.RAW), _lines.c.amount_fen)
        .where(_lines.c.batch_id == batch_id, _lines.c.status == "pending").order_by(_lines.c.id)
        .execution_options(yield_per=CHUNK))
    for part in result.partitions():
        yield [(line_id, name, decrypt(account), amount) for line_id, name, account, amount in part]


def sent_file(actor: Actor, batch_id: int) -> tuple[bytes, str]:
    """Re-download the payment file of a sent batch (bank operator): (bytes, file name)."""
    batch = load_batch(actor, batch_id, "batch.export")
    path = bank_file_path(batch)
    if batch.file_sha256 is None:
        raise NotFound("该批次尚未导出代发文件", code="bank_file_not_found")
    if not os.path.exists(path):
        raise NotFound("代发文件已超过保存期限被清除，请联系人社局", code="bank_file_purged")
    return read_bank_file(batch), bank_file_name(batch)

