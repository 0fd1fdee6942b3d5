"""gunicorn settings for ``onecard serve`` (``gunicorn -c python:onecard.serving.gunicorn_conf``).

Each value can be overridden by an environment variable, read here so that the systemd unit, the compose
file and the CLI all speak the same names:

  ONECARD_BIND             where to listen (default 127.0.0.1:8000: behind the reverse proxy)
  ONECARD_WORKERS          worker processes (default 2 x CPUs + 1, at most 17)
  ONECARD_THREADS          threads per worker (default 1: sync workers, one request each)
  ONECARD_TIMEOUT          seconds a worker may spend on one request before it is killed and replaced
                           (default 300: a 2-million-row list upload is validated inside its request)
  ONECARD_GRACEFUL_TIMEOUT seconds running requests get to finish on HUP/TERM (default 60)
  ONECARD_FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers are believed (default 127.0.0.1)
  PROMETHEUS_MULTIPROC_DIR  the folder where workers share metrics (set by ``onecard serve``)

Graceful reload: ``kill -HUP <master pid>`` (``systemctl reload onecard-web``) starts new workers with the
new code and configuration and lets the old ones finish their requests. The access log is one JSON line
per request, without query strings (onecard.serving.logs.AccessLogger).
"""
from __future__ import annotations

import multiprocessing
import os
import shutil

# The environment variables read here (deploy/ files may set these beside onecard.config's ONECARD_* settings).
ENVIRONMENT = ("ONECARD_BIND", "ONECARD_WORKERS", "ONECARD_THREADS", "ONECARD_TIMEOUT", "ONECARD_GRACEFUL_TIMEOUT",
               "ONECARD_MAX_REQUESTS", "ONECARD_FORWARDED_ALLOW_IPS", "ONECARD_ACCESS_LOG", "ONECARD_ERROR_LOG",
               "ONECARD_LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.strip().isdigit() else default


def default_workers(cpus: int | None = None) -> int:
    """gunicorn's advice for sync workers, capped: each worker holds a database pool of its own."""
    cpus = cpus or multiprocessing.cpu_count()
    return min(2 * cpus + 1, 17)


bind = os.environ.get("ONECARD_BIND", "127.0.0.1:8000").split(",")
workers = _int("ONECARD_WORKERS", default_workers())
threads = _int("ONECARD_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("ONECARD_TIMEOUT", 300)
graceful_timeout = _int("ONECARD_GRACEFUL_TIMEOUT", 60)
keepalive = 5
# A worker is recycled after this many requests (with jitter so they do not all restart together):
# bounds the memory a long-lived process may accumulate.
max_requests = _int("ONECARD_MAX_REQUESTS", 10_000)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = os.environ.get("ONECARD_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Headers of at most 8 KiB; the body limit is the app's (ONECARD_UPLOAD_MAX_BYTES) and the proxy's.
limit_request_field_size = 8190
proc_name = "onecard-web"
control_socket_disable = True     # gunicorn 27+: no control socket (two servers on one host would share its path)
wsgi_app = "onecard.serving.wsgi:app"

accesslog = os.environ.get("ONECARD_ACCESS_LOG", "-")
errorlog = os.environ.get("ONECARD_ERROR_LOG", "-")
loglevel = os.environ.get("ONECARD_LOG_LEVEL", "info")
logger_class = "onecard.serving.logs.AccessLogger"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "onecard.serving.logs.JsonFormatter"},
        "message": {"format": "%(message)s"},     # the access line is already JSON
    },
    "handlers": {
        "error_console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        "console": {"class": "logging.StreamHandler", "formatter": "message", "stream": "ext://sys.stdout"},
    },
    "root": {"level": loglevel.upper(), "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


def on_starting(server):
    """A fresh metrics folder: files of a previous run's workers would be counted again."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    """A dead worker's live gauges leave the totals (its counters stay: they are history)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
