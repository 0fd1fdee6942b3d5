"""File downloads: every export and template leaves through here, as an attachment."""
from __future__ import annotations

import io
import os

from flask import Response, send_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def send_download(data: bytes | str | os.PathLike, filename: str, mimetype: str) -> Response:
    """``data`` (bytes, or the path of a stored file) as an attachment named ``filename``.

    Werkzeug writes the Content-Disposition, with the RFC 5987 form for a Chinese name."""
    source = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    return send_file(source, mimetype=mimetype, as_attachment=True, download_name=filename)


def send_xlsx(data: bytes, filename: str) -> Response:
    """An xlsx workbook as an attachment named ``filename``."""
    return send_download(data, filename, XLSX)
