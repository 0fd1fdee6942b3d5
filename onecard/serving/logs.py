"""JSON logs: one line per event, masked, for the journal or a log shipper.

* ``JsonFormatter`` formats every application and gunicorn error-log record as one JSON object;
* ``AccessLogger`` replaces gunicorn's access log with one JSON line per request: request id, user, method,
  path WITHOUT its query string, Flask endpoint, status, bytes and duration. A query can carry anything a
  client typed, so it is never logged.

Every message passes ``privacy.mask_text`` (an ID, account or mobile number becomes a mask) whatever the
handler's filters: a line written here never holds a personal number in clear.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from gunicorn.glogging import Logger as GunicornLogger

from onecard.privacy import mask_text

# Keys the WSGI app leaves in the environ for the access log (set in onecard.web.observe).
USER_KEY = "onecard.user"
ENDPOINT_KEY = "onecard.endpoint"
REQUEST_ID_KEY = "onecard.request_id"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(**fields) -> str:
    """One JSON log line (masked text values; None dropped)."""
    out = {"ts": _now()}
    for key, value in fields.items():
        if value is None:
            continue
        out[key] = mask_text(value) if isinstance(value, str) else value
    return json.dumps(out, ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):      # a broken format string must not lose the line
            message = str(record.msg)
        fields = dict(getattr(record, "json_fields", None) or {})
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return line(level=record.levelname.lower(), logger=record.name, message=message, pid=record.process,
                    **fields)


class AccessLogger(GunicornLogger):
    """gunicorn's logger with a JSON access line (``logger_class`` in gunicorn_conf)."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        self.access_log.info(line(
            kind="request",
            request_id=environ.get(REQUEST_ID_KEY),
            user=environ.get(USER_KEY),
            method=environ.get("REQUEST_METHOD"),
            path=environ.get("PATH_INFO"),          # never QUERY_STRING
            endpoint=environ.get(ENDPOINT_KEY),
            status=int(status) if str(status).isdigit() else status,
            bytes=getattr(resp, "sent", None),
            duration_ms=round(request_time.total_seconds() * 1000, 2),
            remote=environ.get("REMOTE_ADDR"),
        ))


def install_json(level: int = logging.INFO) -> None:
    """JSON lines on stderr for a process gunicorn does not configure (``onecard scheduler``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
