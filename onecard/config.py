"""Settings from ONECARD_* environment variables.

Every setting has a development default so that ``make run`` works on a fresh
machine; a production config (ONECARD_ENV=production) refuses to start while
any secret still has its development value, and refuses the dev login.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

# Development-only keys: public by design, refused in production.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
DEV_FIELD_KEY = base64.urlsafe_b64encode(b"dev-field-key-0123456789abcdef!!").decode()
DEV_BLIND_INDEX_KEY = base64.urlsafe_b64encode(b"dev-blind-index-key-0123456789ab").decode()
DEV_WEBHOOK_TOKEN = "dev-twilio-auth-token"
DEV_AUDIT_KEY = "dev-audit-key-not-for-production"


@dataclass(frozen=True)
class Setting:
    name: str            # Flask config key; env var is ONECARD_<name>
    default: Any
    doc: str
    kind: type = str
    secret: bool = False


SETTINGS: list[Setting] = [
    Setting("ENV", "development", "development, testing or production"),
    Setting("DATABASE_URL", None, "SQLAlchemy URL; default a SQLite file in the instance folder (WAL, foreign keys on)"),
    Setting("SECRET_KEY", DEV_SECRET_KEY, "signs sessions and CSRF tokens", secret=True),
    Setting("FIELD_KEY", DEV_FIELD_KEY, "urlsafe-base64 32-byte AES-GCM key for ID, account and mobile numbers; "
            "a comma-separated list rotates keys (first encrypts, all decrypt)", secret=True),
    Setting("BLIND_INDEX_KEY", DEV_BLIND_INDEX_KEY, "urlsafe-base64 key for the HMAC blind index (exact look-ups); "
            "a comma-separated list rotates keys (first indexes, all are looked up; onecard rotate-keys)", secret=True),
    Setting("AUDIT_KEY", DEV_AUDIT_KEY, "HMAC key of the audit chain and its anchors: kept outside the database, so "
            "whoever can write the database cannot rehash the chain", secret=True),
    Setting("AUDIT_ANCHOR_DIR", "", "folder the nightly audit anchors are written to (default instance/audit_anchors); "
            "copy them to the auditor"),
    Setting("BANK_FILE_RETENTION_DAYS", 90, "days a payment file (full accounts, sealed) is kept for re-download "
            "before the nightly purge", int),
    Setting("UPLOAD_REPORT_RETENTION_DAYS", 7, "days a refused upload's error report is kept before the nightly purge",
            int),
    Setting("TOKEN_TTL_MINUTES", 480, "lifetime of a staff or citizen bearer token", int),
    Setting("CONSOLE_IDLE_MINUTES", 30, "staff console: minutes without a request before the session ends", int),
    Setting("LOGIN_MAX_FAILURES", 5, "failed logins before an account is locked", int),
    Setting("LOGIN_LOCK_MINUTES", 15, "how long a locked account stays locked", int),
    Setting("PASSWORD_VERIFY_CONCURRENCY", 2, "most argon2 password checks running at once per process (a burst "
            "of sign-ins must not starve reads)", int),
    Setting("PASSWORD_VERIFY_WAIT_SECONDS", 2.0, "how long a sign-in waits for a password-check slot before 503",
            float),
    Setting("STAFF_SIGN_IN_RATE_LIMIT", "20/minute;200/hour", "staff API and console sign-in attempts per client "
            "address (password spraying across accounts)"),
    Setting("PASSWORD_HASH_PROFILE", "production", "argon2 profile: production (RFC 9106 low-memory) or test (cheap)"),
    Setting("RATELIMIT_STORAGE_URI", "memory://", "rate-limit storage (limits); use redis://127.0.0.1:6379 when several "
            "processes serve"),
    Setting("UPLOAD_MAX_BYTES", 200 * 1024 * 1024, "largest accepted spreadsheet upload", int),
    Setting("UPLOAD_MAX_ROWS", 2_000_000, "most rows in one recipient list", int),
    Setting("LIST_UPLOAD_WORKERS", None, "processes validating and encrypting a large list upload beside the "
            "inserting one (default: CPUs - 1; 0 = all in the request's process)", int),
    Setting("SMS_PROVIDER", "console", "console (prints) or twilio"),
    Setting("SMS_SIGNATURE", "【泗水县人社局】", "prefix of every SMS"),
    Setting("SMS_RATE_PER_SECOND", 10.0, "most SMS sent per second by one drainer (0 = unlimited)", float),
    Setting("QUIET_HOURS", "21:00-08:00", "Asia/Shanghai hours in which no SMS is sent (empty = none)"),
    Setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID"),
    Setting("TWILIO_AUTH_TOKEN", DEV_WEBHOOK_TOKEN, "Twilio auth token (also checks status callbacks)", secret=True),
    Setting("TWILIO_FROM", "", "sender number (or use TWILIO_MESSAGING_SERVICE_SID)"),
    Setting("TWILIO_MESSAGING_SERVICE_SID", "", "Twilio Messaging Service SID"),
    Setting("TWILIO_BASE_URL", "", "override of Twilio's API host (tests point it at a fake)"),
    Setting("PUBLIC_BASE_URL", "http://127.0.0.1:5000", "the address Twilio and WeChat call back on"),
    Setting("WECHAT_APPID", "", "mini-program AppID"),
    Setting("WECHAT_SECRET", "", "mini-program AppSecret", secret=True),
    Setting("WECHAT_API_BASE_URL", "", "override of https://api.weixin.qq.com/ (tests point it at a fake)"),
    Setting("WECHAT_ARRIVAL_TEMPLATE_ID", "", "subscribe-message template for arrival notices"),
    Setting("DEV_LOGIN", True, "allow the documented development login (refused in production)", bool),
    Setting("NOTICE_BATCH_SIZE", 50, "notices one drainer claims at a time", int),
    Setting("NOTICE_LEASE_SECONDS", 120.0, "how long a claim lasts before another drainer may take the notice", float),
    Setting("NOTICE_RETRY_BASE_SECONDS", 30.0, "first retry delay; doubles each attempt (with jitter)", float),
    Setting("NOTICE_MAX_ATTEMPTS", 8, "attempts before a notice is marked failed", int),
    Setting("NOTICE_INTERVAL_SECONDS", 5.0, "seconds between two scheduler runs", float),
    Setting("ALERT_APPROVAL_WAIT_HOURS", 72.0, "alert the department and finance when a batch has waited this long "
            "for review or approval", float),
    Setting("ALERT_OUTBOX_STALE_MINUTES", 60.0, "alert the administrators when the oldest due SMS has waited this "
            "long", float),
    Setting("ALERT_JOB_GRACE_MINUTES", 30.0, "alert the administrators when a scheduled job has not succeeded "
            "within its period plus this", float),
    Setting("ALERT_CHECK_INTERVAL_SECONDS", 60.0, "seconds between two alert checks of the scheduler", float),
    Setting("TWILIO_TIMEOUT_SECONDS", 15.0, "HTTP timeout of one Twilio request", float),
    Setting("METRICS_ALLOW", "127.0.0.1,::1", "addresses or networks that may read /metrics directly (not "
            "through the reverse proxy)"),
    Setting("METRICS_TOKEN", "", "bearer token that also opens /metrics (empty = none)", secret=True),
    Setting("RUN_SCHEDULER_IN_DEV_SERVER", False, "start the notice scheduler inside `onecard run`", bool),
]


def _coerce(setting: Setting, raw: str) -> Any:
    if setting.kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if setting.kind in (int, float):
        try:
            return setting.kind(raw)
        except ValueError as exc:
            raise SystemExit(f"配置项 ONECARD_{setting.name} 应为数字，收到 {raw!r}") from exc
    return raw


def load(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from the environment (ONECARD_ prefix) over its default."""
    environ = os.environ if environ is None else environ
    values = {}
    for s in SETTINGS:
        raw = environ.get(f"ONECARD_{s.name}")
        values[s.name] = s.default if raw is None else _coerce(s, raw)
    return values


DEV_VALUES = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "FIELD_KEY": DEV_FIELD_KEY,
    "BLIND_INDEX_KEY": DEV_BLIND_INDEX_KEY,
    "TWILIO_AUTH_TOKEN": DEV_WEBHOOK_TOKEN,
    "AUDIT_KEY": DEV_AUDIT_KEY,
}


def check_production(values: dict[str, Any]) -> None:
    """Refuse to run production with a development secret, the dev login or no real database."""
    if values.get("ENV") != "production":
        return
    problems = [f"ONECARD_{k}" for k, dev in DEV_VALUES.items() if dev in str(values.get(k, ""))]
    if values.get("DEV_LOGIN"):
        problems.append("ONECARD_DEV_LOGIN (开发登录必须关闭)")
    if values.get("PASSWORD_HASH_PROFILE") != "production":
        problems.append("ONECARD_PASSWORD_HASH_PROFILE")
    if problems:
        raise RuntimeError("生产环境拒绝启动：以下配置仍为开发默认值或不安全：" + ", ".join(problems))
