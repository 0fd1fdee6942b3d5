"""Operations tests run the real commands as subprocesses (``onecard serve|backup|restore|rotate-keys``)
against a database of their own: a SQLite file, or on PostgreSQL a schema created for the test and dropped
after it (ONECARD_TEST_DATABASE_URL selects PostgreSQL, as for the rest of the suite)."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

PG_URL = os.environ.get("ONECARD_TEST_DATABASE_URL")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker() -> str:
    return re.sub(r"\W", "_", os.environ.get("PYTEST_XDIST_WORKER", "main"))


def pg_schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def empty_database(tmp_path, label: str = "a"):
    """The URL of an empty database that exists only for the test."""
    if PG_URL:
        schema = f"onecard_ops_{_worker()}_{label}"
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            yield pg_schema_url(PG_URL, schema)
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            engine.dispose()
    else:
        yield "sqlite:///" + str(tmp_path / f"{label}.db")


@pytest.fixture
def ops_db(tmp_path):
    with empty_database(tmp_path, "a") as url:
        yield url


@pytest.fixture
def production_env(tmp_path):
    """An environment with real (random) secrets: what an office's unit file sets."""
    def make(database_url: str, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONECARD_", "PROMETHEUS_"))}
        env.update({
            "ONECARD_ENV": "production", "ONECARD_DATABASE_URL": database_url,
            "ONECARD_SECRET_KEY": uuid.uuid4().hex, "ONECARD_FIELD_KEY": new_key(),
            "ONECARD_BLIND_INDEX_KEY": new_key(), "ONECARD_AUDIT_KEY": new_key(),
            "ONECARD_TWILIO_AUTH_TOKEN": uuid.uuid4().hex,
            "ONECARD_DEV_LOGIN": "0", "ONECARD_PASSWORD_HASH_PROFILE": "production",
            "ONECARD_SMS_PROVIDER": "console", "ONECARD_QUIET_HOURS": "",
            "PYTHONPATH": ROOT,
        })
        env.update({k: str(v) for k, v in extra.items()})
        return env
    return make


def onecard(args: list[str], env: dict, *, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``onecard <args>`` as a separate process (the installed entry point, as an operator would)."""
    result = subprocess.run([sys.executable, "-m", "onecard.cli_entry", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"onecard {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, out_path, err_path):
        self.proc, self.port, self.out_path, self.err_path = proc, port, out_path, err_path
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base + path, timeout=30, **kwargs)

    def access_lines(self) -> list[dict]:
        lines = []
        for raw in self.out_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(raw)
                if record.get("kind") == "request":
                    lines.append(record)
        return lines

    def output(self) -> str:
        return self.out_path.read_text(encoding="utf-8") + self.err_path.read_text(encoding="utf-8")


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if predicate():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def serving(env: dict, tmp_path, *, workers: int = 2, name: str = "web"):
    """``onecard serve`` on a free port until the block ends (then TERM, as systemd stops it)."""
    port = free_port()
    out_path, err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "onecard.cli_entry", "serve", "--bind", f"127.0.0.1:{port}",
                                 "--workers", str(workers)], env=env, cwd=ROOT, stdout=out, stderr=err,
                                start_new_session=True)
    server = Server(proc, port, out_path, err_path)
    try:
        wait_until(lambda: proc.poll() is not None or server.get("/healthz").status_code == 200,
                   what=f"onecard serve on port {port}")
        assert proc.poll() is None, server.output()
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def restore_target(tmp_path, source_url: str):
    """An empty database to restore ``source_url``'s backup into: another SQLite file, or on PostgreSQL a
    database created for the test (a schema-scoped dump recreates its schema there) and dropped after it."""
    if not PG_URL:
        yield "sqlite:///" + str(tmp_path / "restored.db")
        return
    name = f"onecard_restore_{_worker()}".lower()
    schema = re.search(r"search_path%3D(\w+)", source_url).group(1)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield pg_schema_url(str(sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)),
                            schema)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def drill_env(database_url: str, **extra) -> dict:
    """A trial-run environment (development keys, cheap password hashing, dev login for the citizen read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONECARD_", "PROMETHEUS_"))}
    env.update({"ONECARD_ENV": "development", "ONECARD_DATABASE_URL": database_url,
                "ONECARD_PASSWORD_HASH_PROFILE": "test", "ONECARD_SMS_PROVIDER": "console", "PYTHONPATH": ROOT})
    env.update({k: str(v) for k, v in extra.items()})
    return env


DEPLOY = pathlib.Path(ROOT) / "deploy"


def nginx_site(tmp_path, *, upstreams: list[int] | None = None, http_port: int | None = None,
               https_port: int | None = None) -> pathlib.Path:
    """deploy/nginx/onecard.conf made runnable here: a self-signed certificate, files under ``tmp_path``,
    optionally other upstream and listening ports. Returns the nginx.conf that includes it."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx" / "onecard.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/onecard", str(tmp_path)).replace("/var/log/nginx", str(tmp_path))
    if upstreams:
        servers = "".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=10s;\n" for p in upstreams)
        site = re.sub(r"    server 127\.0\.0\.1:8000[^\n]*\n", lambda _m: servers, site)
    if http_port:
        site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    if https_port:
        site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    (tmp_path / "onecard.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path}/body;\n proxy_temp_path {tmp_path}/proxy;\n"
        f" fastcgi_temp_path {tmp_path}/fcgi;\n uwsgi_temp_path {tmp_path}/uwsgi;\n scgi_temp_path {tmp_path}/scgi;\n"
        f" include {tmp_path}/onecard.conf;\n}}\n", encoding="utf-8")
    return conf


@contextlib.contextmanager
def nginx_in_front(tmp_path, upstreams: list[int]):
    """nginx with the deployment's site config in front of ``upstreams``; yields its https base URL."""
    https_port = free_port()
    conf = nginx_site(tmp_path, upstreams=upstreams, http_port=free_port(), https_port=https_port)
    proc = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"https://127.0.0.1:{https_port}"
    try:
        probe = requests.Session()
        probe.verify, probe.trust_env = False, False      # self-signed; REQUESTS_CA_BUNDLE would override
        wait_until(lambda: proc.poll() is not None or probe.get(base + "/healthz", timeout=5).status_code == 200,
                   timeout=30, what="nginx")
        assert proc.poll() is None, proc.stderr.read()
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
