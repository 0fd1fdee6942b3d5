"""The deployment files agree with each other and with the code: the systemd units, compose.yaml and the
Dockerfile run the same commands with settings the code knows; nginx passes list uploads, waits as long as
gunicorn does, forwards the request id, and (when nginx is installed) accepts the file."""
from __future__ import annotations

import ast
import configparser
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from onecard import config
from onecard.serving import gunicorn_conf
from tests.ops.conftest import nginx_site

DEPLOY = pathlib.Path(__file__).resolve().parents[2] / "deploy"
KNOWN = {f"ONECARD_{s.name}" for s in config.SETTINGS} | set(gunicorn_conf.ENVIRONMENT)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string((DEPLOY / "systemd" / name).read_text(encoding="utf-8"))
    return parser


def _exec_command(unit: str) -> list[str]:
    argv = shlex.split(_unit(unit)["Service"]["ExecStart"])
    return [pathlib.Path(argv[0]).name, *argv[1:]]


def _unit_environment(unit: str) -> dict[str, str]:
    service = _unit(unit)["Service"]
    return dict(line.split("=", 1) for line in service.get("Environment", "").split() if "=" in line)


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _env_file() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "onecard.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            out[name] = value
    return out


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def test_compose_runs_the_commands_the_units_run():
    services = _compose()["services"]
    assert services["web"]["command"] == _exec_command("onecard-web.service") == ["onecard", "serve"]
    assert services["scheduler"]["command"] == _exec_command("onecard-scheduler.service") == ["onecard", "scheduler"]
    assert services["migrate"]["command"] == ["onecard", "init-db"]
    cmd = re.search(r"^CMD (.+)$", _dockerfile(), re.M).group(1)
    assert ast.literal_eval(cmd) == services["web"]["command"]


def test_every_setting_named_in_the_deployment_files_is_one_the_code_reads():
    services = _compose()["services"]
    named = set(_env_file())
    for service in ("migrate", "web", "scheduler"):
        named |= {k for k in services[service].get("environment", {}) if k.startswith(("ONECARD_", "PROMETHEUS_"))}
    for unit in ("onecard-web.service", "onecard-scheduler.service", "onecard-backup.service"):
        named |= set(_unit_environment(unit))
    named |= set(re.findall(r"\b((?:ONECARD|PROMETHEUS)_[A-Z_]+)=", _dockerfile()))
    assert named - KNOWN == set()
    # The settings production refuses to run without are all in the example file.
    assert {"ONECARD_SECRET_KEY", "ONECARD_FIELD_KEY", "ONECARD_BLIND_INDEX_KEY", "ONECARD_AUDIT_KEY",
            "ONECARD_DATABASE_URL",
            "ONECARD_RATELIMIT_STORAGE_URI", "ONECARD_DEV_LOGIN"} <= set(_env_file())


def test_units_and_compose_give_the_web_process_the_same_settings():
    web = _compose()["services"]["web"]
    unit_env = _unit_environment("onecard-web.service")
    assert set(unit_env) <= set(web["environment"])           # e.g. the metrics folder of multiprocess mode
    for unit in ("onecard-web.service", "onecard-scheduler.service", "onecard-backup.service"):
        assert _unit(unit)["Service"]["EnvironmentFile"] == "/etc/onecard/onecard.env"
    for service in ("migrate", "web", "scheduler"):
        assert _compose()["services"][service]["env_file"] == "onecard.env"
    # Redis for the shared rate limits, in both.
    assert _env_file()["ONECARD_RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert web["environment"]["ONECARD_RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert _env_file()["ONECARD_ENV"] == "production" and _env_file()["ONECARD_DEV_LOGIN"] == "0"


def test_stopping_waits_for_gunicorns_graceful_timeout():
    graceful = gunicorn_conf.graceful_timeout
    assert int(_unit("onecard-web.service")["Service"]["TimeoutStopSec"]) > graceful
    assert int(_compose()["services"]["web"]["stop_grace_period"].rstrip("s")) > graceful
    assert _unit("onecard-web.service")["Service"]["ExecReload"].endswith("-HUP $MAINPID")


def test_the_backup_tools_match_the_database_version():
    major = re.search(r"postgres:(\d+)", _compose()["services"]["postgres"]["image"]).group(1)
    assert f"postgresql-client-{major}" in _dockerfile()


def _nginx() -> str:
    return (DEPLOY / "nginx" / "onecard.conf").read_text(encoding="utf-8")


def _size_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def test_nginx_lets_the_largest_list_through_and_waits_as_long_as_gunicorn():
    text = _nginx()
    body = re.search(r"client_max_body_size\s+(\w+);", text).group(1)
    assert _size_bytes(body) >= config.load({})["UPLOAD_MAX_BYTES"]
    assert int(re.search(r"proxy_read_timeout\s+(\d+)s;", text).group(1)) >= gunicorn_conf.timeout
    assert "proxy_set_header X-Request-Id" in text and "X-Forwarded-For" in text
    upstream = re.search(r"upstream onecard_web \{[^}]*server ([\d.]+:\d+)", text).group(1)
    assert upstream == _env_file()["ONECARD_BIND"]
    assert re.search(r"location = /metrics \{ return 404; \}", text)
    assert "$request_uri" not in text.split("log_format", 1)[1].split(";", 1)[0]   # no query in the log


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                    reason="nginx or openssl not installed (apt-get install nginx-light)")
def test_nginx_accepts_the_configuration(tmp_path):
    conf = nginx_site(tmp_path)
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_metric_an_alert_reads_is_served(app, client, db):
    from notifications import scheduler
    scheduler._job(app, None)()         # one scheduler run: the job series exist from then on
    text = client.get("/metrics").get_data(as_text=True)
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {m for expr in exprs for m in re.findall(r"\b(onecard_[a-z_]+)", expr)}
    assert named and named <= served, named - served
    assert 'onecard_batch_oldest_waiting_seconds{status="reviewed"}' in text
