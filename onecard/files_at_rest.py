"""Files holding personal numbers, at rest (issue #16): sealed with the field key, owner-only, purged on a schedule.

A payment file (代发文件) carries every payee's full account; a refused upload's report carries the rows to fix.
Both are stored only sealed (AES-GCM through ``privacy.encrypt``, so key rotation applies to them as to columns),
files with mode 0600 in a 0700 folder, and the nightly ``purge_expired`` removes what has outlived its retention
(ONECARD_BANK_FILE_RETENTION_DAYS, ONECARD_UPLOAD_REPORT_RETENTION_DAYS), with an audit entry naming what went.
"""
from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime, timedelta

from onecard import privacy

_MAGIC = b"ONECARD-SEALED-1\n"


def seal(data: bytes) -> bytes:
    """``data`` encrypted for storage (a short marker, then the field ciphertext of its base64)."""
    return _MAGIC + privacy.encrypt(base64.b64encode(data).decode("ascii")).encode("ascii")


def unseal(blob: bytes) -> bytes:
    """The bytes ``seal`` stored; raises ValueError for anything not sealed by us (a planted plaintext file)."""
    if not blob.startswith(_MAGIC):
        raise ValueError("not a sealed file")
    return base64.b64decode(privacy.decrypt(blob[len(_MAGIC):].decode("ascii")))


def private_dir(path: str) -> str:
    """Create ``path`` owner-only (0700) if missing, and tighten it if it exists."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_tmp(directory: str) -> str:
    """A new, empty, owner-only (0600) file in ``directory`` for a writer that opens a path itself."""
    path = os.path.join(directory, f".{uuid.uuid4().hex}.tmp")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def write_sealed(path: str, data: bytes) -> None:
    """Store ``data`` sealed at ``path`` (0600), atomically: a reader sees the old file or the new one."""
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seal(data))
    os.replace(tmp, path)


def read_sealed(path: str) -> bytes:
    with open(path, "rb") as fh:
        return unseal(fh.read())


def expired_files(directory: str, suffix: str, older_than: datetime) -> list[str]:
    """Files of ``directory`` ending in ``suffix`` last written before ``older_than`` (naive UTC)."""
    if not os.path.isdir(directory):
        return []
    cutoff = (older_than - datetime(1970, 1, 1)).total_seconds()
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.endswith(suffix) and os.path.getmtime(os.path.join(directory, n)) < cutoff)


def purge_expired(now: datetime | None = None) -> dict:
    """The nightly purge: payment files and refused-upload reports past their retention; one audit entry."""
    from flask import current_app

    from onecard import audit
    from onecard.actors import SYSTEM
    from onecard.extensions import db
    from onecard.lists import service as lists_service
    from onecard.payments import exports
    from onecard.timeutil import utcnow
    now = now or utcnow()
    cfg = current_app.config
    bank_files = exports.purge_bank_files(now - timedelta(days=cfg["BANK_FILE_RETENTION_DAYS"]))
    reports = lists_service.purge_upload_reports(now - timedelta(days=cfg["UPLOAD_REPORT_RETENTION_DAYS"]))
    result = {"bank_files": bank_files, "upload_reports": reports}
    if bank_files or reports:
        audit.record("files.purged", actor=SYSTEM, entity_type="site", after=result,
                     note="按保存期限清除代发文件和校验报告")
    db.session.commit()
    return result
