"""A tiny threaded HTTP/1.1 server that the protocol fakes are built on.

Each fake (``FakeTwilio``, ``FakeWeChat``) subclasses :class:`FakeHTTPServer` and implements
:meth:`FakeHTTPServer.handle`, which receives a parsed :class:`RecordedRequest` and returns a
:class:`Reply`.  The server:

* listens on ``127.0.0.1`` with an ephemeral port (port 0), so tests can run in parallel;
* serves from a daemon thread (``start()`` / ``stop()`` / ``with fake: ...``);
* speaks HTTP/1.1 with keep-alive and ``TCP_NODELAY`` (no 40 ms Nagle/delayed-ACK stall when a
  pooled ``requests`` connection is reused);
* parses query strings, ``application/x-www-form-urlencoded`` bodies and JSON bodies (JSON is also
  detected when no Content-Type is sent, which is what wechatpy does);
* records every request in a thread-safe list (``fake.requests``);
* never logs to stderr;
* collects exceptions raised by ``handle`` in ``fake.errors`` (answered as HTTP 500) so that a bug
  in a fake is not mistaken for a behaviour of the real service.  The pytest fixtures assert that
  this list is empty at teardown.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeHTTPServer", "RecordedRequest", "Reply"]


@dataclass
class RecordedRequest:
    """One request as the fake server saw it on the wire."""

    method: str
    path: str  # path without the query string
    raw_path: str  # path including the query string, as sent
    query: dict[str, str]  # first value of each query parameter
    query_multi: dict[str, list[str]]
    headers: dict[str, str]  # header names as sent (use .header() for case-insensitive lookup)
    body: bytes
    form: dict[str, str] | None = None  # first value of each form field, if a form body
    form_multi: dict[str, list[str]] | None = None
    json: Any = None  # parsed JSON body, if any
    timestamp: float = field(default_factory=time.time)

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return default


@dataclass
class Reply:
    """What a fake answers.

    ``body`` may be bytes, str, or any JSON-serialisable object (sent as JSON).
    ``delay`` sleeps before answering (interruptible by ``stop()``).
    ``reset`` closes the connection without sending any response (client sees a connection error).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # Idle keep-alive connections are closed after this many seconds; clients reconnect transparently.
    timeout = 60
    server_version = "FakeServer/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # consume trailer lines up to the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _parse(self) -> RecordedRequest:
        body = self._read_body()
        split = urlsplit(self.path)
        query_multi = parse_qs(split.query, keep_blank_values=True)
        headers = {k: v for k, v in self.headers.items()}
        ctype = (self.headers.get("Content-Type") or "").lower()
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            raw_path=self.path,
            query={k: v[0] for k, v in query_multi.items()},
            query_multi=query_multi,
            headers=headers,
            body=body,
        )
        if body and "application/x-www-form-urlencoded" in ctype:
            form_multi = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            req.form_multi = form_multi
            req.form = {k: v[0] for k, v in form_multi.items()}
        elif body and ("json" in ctype or (not ctype and body.lstrip()[:1] in (b"{", b"["))):
            try:
                req.json = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                req.json = None
        return req

    def _dispatch(self) -> None:
        fake = self.server.fake
        req = self._parse()
        fake._record(req)
        try:
            reply = fake.handle(req)
        except Exception:  # surfaced through fake.errors; answered like a broken upstream
            with fake._lock:
                fake._errors.append(traceback.format_exc())
            reply = Reply(500, {"fake_error": "exception in fake handler; see fake.errors"})
        if reply.delay:
            fake.sleep(reply.delay)
        if reply.reset:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = reply.body
        headers = dict(reply.headers)
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        try:
            self.send_response(reply.status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during an artificial delay).
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch
    do_HEAD = _dispatch


class FakeHTTPServer:
    """Base class: a threaded HTTP server on 127.0.0.1:<ephemeral> that records requests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeHTTPServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()  # wake any handler sleeping in an artificial delay
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addressing ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self._host}:{self.port}"

    # -- recording -------------------------------------------------------------------------------
    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of exceptions raised inside the fake's own handler (should stay empty)."""
        with self._lock:
            return list(self._errors)

    # -- helpers for subclasses ------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Sleep, but return early when the server is being stopped."""
        self._stopping.wait(seconds)

    def handle(self, req: RecordedRequest) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError
