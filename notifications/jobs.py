"""The drainer: claims small batches of due notices and sends them, exactly once.

Safety, step by step:
* A claim is ONE statement (PostgreSQL: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED
  LIMIT n) RETURNING; SQLite: the same UPDATE ... RETURNING, which takes the single write lock
  before it reads), committed before anything is sent. It gives the rows a claim token and a
  lease; a notice whose lease expired (its drainer was killed, or slow) is claimable again.
* A sender owns a notice at the moment it sends it: just before each send a compare-and-set on the
  claim token (``fence``) renews that notice's lease to outlast the provider call (the sender's
  timeout plus a margin) and sets ``uncertain_since`` (kept if already set): from that moment a
  send may happen. A notice another drainer took over meanwhile fails the fence and is skipped, so
  a slow provider can stretch a batch past its lease without two drainers sending one notice
  (issue #16). Only a definite answer (accepted, 429, a permanent refusal) clears
  ``uncertain_since``. A fence that finds it set from an earlier send reconciles with Twilio
  (messages to that number since then, same text) before sending, so a message that got through
  before a timeout, a 5xx or a SIGKILL is recorded, not sent again.
* Each result is written back right after its send with a compare-and-set on the claim token, in the same
  short transaction as the next notice's fence (one commit per SMS), separate from any payment transaction: a
  notice can never hold up or undo a payment.
* An unknown outcome (maybe sent) is the state ``unknown``: reconciled on a later run, never
  ``failed`` by counting attempts.
* A 429 pauses the channel for its Retry-After (or the backoff): the rest of the batch goes back
  to wait, and the pause is recorded (``service.sender_pauses``, shown with the notices).
* Quiet hours hold due notices until the morning; a token bucket paces each drainer.
"""
from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from onecard.extensions import db
from onecard.notices import channels as notice_channels
from onecard.notices import service as notice_service
from onecard.notices.delivery import ClaimedBatch, Outcome
from onecard.notices.lifecycle import CLAIMABLE, HOLDABLE, from_claim
from onecard.notices.models import Notice, NoticeAttempt
from onecard.notices.senders import SmsSender, sender_from_config
from onecard.privacy import mask_text
from onecard.timeutil import SHANGHAI, utcnow

log = logging.getLogger("onecard.notifications")

WEBHOOK_PATH = "/hooks/twilio/status"


@dataclass
class DrainStats:
    claimed: int = 0
    sent: int = 0
    reconciled: int = 0
    retry: int = 0
    unknown: int = 0
    failed: int = 0
    held: int = 0
    lost: int = 0          # claimed, then taken over by another drainer before we sent it (not sent by us)
    paused: int = 0        # claimed, then given back because the provider asked us to slow down
    batches: int = 0
    by_code: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("claimed", "sent", "reconciled", "retry", "unknown", "failed", "held",
                                              "lost", "paused", "batches")}


class TokenBucket:
    """Pacing for one drainer: ``rate`` sends per second on average, bursts of at most ``rate``."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                time.sleep((1 - self.tokens) / self.rate)


def parse_quiet_hours(spec: str | None) -> tuple[int, int] | None:
    """'21:00-08:00' -> (1260, 480) minutes of the local day; empty -> None."""
    spec = (spec or "").strip()
    if not spec:
        return None
    try:
        start, end = spec.split("-")
        sh, sm = (int(x) for x in start.split(":"))
        eh, em = (int(x) for x in end.split(":"))
    except ValueError as exc:
        raise RuntimeError(f"ONECARD_QUIET_HOURS 格式应为 21:00-08:00，收到 {spec!r}") from exc
    return sh * 60 + sm, eh * 60 + em


def quiet_until(now_utc: datetime, spec: str | None) -> datetime | None:
    """If ``now_utc`` (naive UTC) falls in the quiet hours (Asia/Shanghai), the naive UTC time they end."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    start, end = window
    local = now_utc.replace(tzinfo=UTC).astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    inside = (start <= minute < end) if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_local = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local.astimezone(UTC).replace(tzinfo=None)


def _cfg(name: str, default):
    value = current_app.config.get(name)
    return default if value is None or value == "" else value


def backoff_seconds(attempts: int, base: float, cap: float = 3600.0) -> float:
    """Exponential backoff with jitter: base * 2^(n-1), capped, times a random 0.5-1.5."""
    return min(cap, base * (2 ** max(attempts - 1, 0))) * random.uniform(0.5, 1.5)


def claim(channel: str, limit: int, lease_seconds: float, now: datetime) -> tuple[str, list]:
    """Atomically claim up to ``limit`` due notices of ``channel``; commits; returns (token, rows)."""
    db.session.commit()   # start from a fresh transaction: on SQLite the UPDATE then takes the write lock first
    token = uuid.uuid4().hex
    due = sa.or_(sa.and_(Notice.state.in_(CLAIMABLE), Notice.next_attempt_at <= now),
                 sa.and_(Notice.state == "claimed", Notice.lease_until < now))
    pick = (sa.select(Notice.id).where(Notice.channel == channel, due)
            .order_by(Notice.next_attempt_at, Notice.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (sa.update(Notice).where(Notice.id.in_(pick.scalar_subquery()))
            .values(state="claimed", claim_token=token, lease_until=now + timedelta(seconds=lease_seconds),
                    first_attempt_at=sa.func.coalesce(Notice.first_attempt_at, now),
                    attempts=Notice.attempts + 1, state_changed_at=now)
            .returning(Notice.id, Notice.recipient, Notice.body, Notice.uncertain_since, Notice.attempts,
                       Notice.event_id, Notice.resident_id)
            .execution_options(synchronize_session=False))
    rows = db.session.execute(stmt).all()
    db.session.commit()
    return token, sorted(rows, key=lambda r: r.id)


# How much longer than the provider call's timeout a fenced notice stays ours (commit and clock skew).
FENCE_MARGIN_SECONDS = 2.0


def fence(row, token: str, lease_seconds: float, now: datetime, *, settle: Outcome | None = None,
          stats: DrainStats | None = None):
    """Take ownership of one claimed notice for its send: a compare-and-set on our claim token that renews its
    lease to ``lease_seconds`` from ``now`` and marks the send as possibly happening (``uncertain_since``).
    Commits, so another drainer sees the renewed lease. Returns the row with the notice's ``uncertain_since``
    (an earlier value than ``now`` means an earlier send may have gone out), or None when the notice is no
    longer ours (its lease ran out and another drainer claimed it).

    ``settle`` is the previous send's outcome: written back in the same transaction, so a drain costs one commit
    per SMS, not two (the write-back still follows its send at once; only the commit is shared)."""
    if settle is not None:
        _write_back(token, [settle], stats, commit=False)
    stmt = (sa.update(Notice).where(Notice.id == row.id, Notice.claim_token == token, Notice.state == "claimed")
            .values(lease_until=now + timedelta(seconds=lease_seconds),
                    uncertain_since=sa.func.coalesce(Notice.uncertain_since, now))
            .returning(Notice.uncertain_since).execution_options(synchronize_session=False))
    owned = db.session.execute(stmt).first()
    db.session.commit()
    if owned is None:
        return None
    return SimpleNamespace(**{**row._asdict(), "uncertain_since": owned.uncertain_since})


def release(token: str, ids: list[int], until: datetime, now: datetime) -> int:
    """Give back claimed notices we did not try (the sender is paused): waiting until ``until``, this claim not
    counted as an attempt. Compare-and-set on the token: a notice another drainer took is left alone."""
    if not ids:
        return 0
    n = db.session.execute(
        sa.update(Notice).where(Notice.id.in_(ids), Notice.claim_token == token,
                                Notice.state == from_claim("retry_wait"))
        .values(state="retry_wait", claim_token=None, lease_until=None, next_attempt_at=until,
                attempts=Notice.attempts - 1, state_changed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return n


def hold_for_quiet_hours(until: datetime, now: datetime) -> int:
    """Move every due notice to 'held' until the quiet hours end (one statement, both channels)."""
    n = db.session.execute(
        sa.update(Notice).where(Notice.state.in_(HOLDABLE), Notice.next_attempt_at <= now)
        .values(state="held", next_attempt_at=until, state_changed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return n


def _write_back(token: str, outcomes: list[Outcome], stats: DrainStats, *, commit: bool = True) -> None:
    """Record a batch's outcomes in one transaction (committed unless the caller commits it with more); a row
    whose claim we lost is left alone."""
    base = float(_cfg("NOTICE_RETRY_BASE_SECONDS", 30.0))
    max_attempts = int(_cfg("NOTICE_MAX_ATTEMPTS", 8))
    attempts_rows = []
    sent_rows = []
    for o in outcomes:
        r = o.result
        if r.error:
            r.error = mask_text(r.error)[:300]   # provider messages quote the full number
        values: dict = {"claim_token": None, "lease_until": None, "state_changed_at": o.at}
        kind = o.kind
        if kind in ("sent", "reconciled"):
            sent_rows.append({"nid": o.notice_id, "psid": r.sid, "pstatus": r.status, "at": o.at})
            values = None
        elif kind == "failed":
            values.update(state="failed", error_code=r.code, error_message=r.error, uncertain_since=None)
        elif kind == "unknown":   # maybe sent: keep uncertain_since, reconcile on a later run, never 'failed'
            values.update(state="unknown", error_code=r.code, error_message=r.error,
                          next_attempt_at=o.at + timedelta(seconds=backoff_seconds(o.attempts, base, cap=900.0)))
        else:  # retry: certainly not sent
            values["uncertain_since"] = None
            values.update(error_code=r.code, error_message=r.error)
            if o.attempts >= max_attempts:
                values.update(state="failed", error_code="retries_exhausted",
                              error_message=f"重试{o.attempts}次仍未成功：{r.error or r.code or ''}"[:300])
                kind = "failed"
            else:
                # a 429's wait is the provider's Retry-After (the drainer pauses the channel as long)
                wait = r.retry_after if r.retry_after is not None else backoff_seconds(o.attempts, base)
                values.update(state="retry_wait", next_attempt_at=o.at + timedelta(seconds=wait))
        if values is not None:
            res = db.session.execute(
                sa.update(Notice).where(Notice.id == o.notice_id, Notice.claim_token == token,
                                        Notice.state == from_claim(values["state"]))
                .values(**values).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                log.warning("notice %s: claim lost before write-back (lease expired?)", o.notice_id)
        attempts_rows.append({"notice_id": o.notice_id, "at": o.at, "http_status": r.http_status,
                              "outcome": {"sent": "sent", "reconciled": "reconciled", "failed": "failed",
                                          "retry": "retry", "unknown": "unknown"}[o.kind],
                              "provider_code": r.code, "provider_sid": r.sid,
                              "error": (r.error or None) and r.error[:300]})
        name = kind if kind in ("sent", "reconciled", "failed", "unknown") else "retry"
        setattr(stats, name, getattr(stats, name) + 1)
    if sent_rows:
        # the common case in one executemany (Core table: an ORM update with a list would be a bulk-by-pk)
        t = Notice.__table__
        db.session.execute(
            sa.update(t).where(t.c.id == sa.bindparam("nid"), t.c.claim_token == token,
                               t.c.state == from_claim("sent"))
            .values(state="sent", provider_sid=sa.bindparam("psid"), provider_status=sa.bindparam("pstatus"),
                    sent_at=sa.bindparam("at"), state_changed_at=sa.bindparam("at"), claim_token=None,
                    lease_until=None, uncertain_since=None, error_code=None, error_message=None), sent_rows)
    if attempts_rows:
        db.session.execute(sa.insert(NoticeAttempt.__table__), attempts_rows)
    if commit:
        db.session.commit()


def _status_callback(notice_id: int) -> str:
    return f"{current_app.config.get('PUBLIC_BASE_URL', '').rstrip('/')}{WEBHOOK_PATH}?notice={notice_id}"


def drain_once(*, sender: SmsSender | None = None, batch_size: int | None = None, lease_seconds: float | None = None,
               now: datetime | None = None, max_batches: int | None = None,
               channels: tuple[str, ...] | None = None) -> DrainStats:
    """Send every due notice now (until none is left to claim), in claimed batches, on every channel the
    configuration turns on (or those of ``channels``); each channel's record says how its batch is sent."""
    cfg = current_app.config
    sender = sender or sender_from_config(cfg)
    batch_size = batch_size or int(_cfg("NOTICE_BATCH_SIZE", 50))
    lease_seconds = lease_seconds or float(_cfg("NOTICE_LEASE_SECONDS", 120))
    bucket = TokenBucket(float(cfg.get("SMS_RATE_PER_SECOND") or 0))

    def now_fn():
        return now or utcnow()

    stats = DrainStats()
    quiet = quiet_until(now_fn(), cfg.get("QUIET_HOURS"))
    if quiet is not None:
        stats.held += hold_for_quiet_hours(quiet, now_fn())
        return stats
    # a notice stays ours while the provider call may still be creating it
    send_lease = max(lease_seconds, float(getattr(sender, "timeout", 0) or 0) + FENCE_MARGIN_SECONDS)
    base = float(_cfg("NOTICE_RETRY_BASE_SECONDS", 30.0))
    for channel in notice_channels.active(cfg, channels):
        if notice_service.paused_until(channel.code, now_fn()) is not None:
            continue
        paused = False
        while not paused and (max_batches is None or stats.batches < max_batches):
            claimed_at = now_fn()
            token, rows = claim(channel.code, batch_size, lease_seconds, claimed_at)
            if not rows:
                break
            stats.batches += 1
            stats.claimed += len(rows)
            outcomes = []
            unsettled = None     # the last send's outcome, written back with the next fence (one commit per SMS)
            for i, row in enumerate(rows):
                at = now_fn()
                owned = fence(row, token, send_lease, at, settle=unsettled, stats=stats)
                unsettled = None
                if owned is None:
                    stats.lost += 1
                    continue
                [outcome] = channel.send(ClaimedBatch(rows=[owned], claimed_at=at, now=now_fn, sender=sender,
                                                      pace=bucket.acquire, status_callback=_status_callback))
                outcomes.append(outcome)
                if outcome.result.http_status == 429:
                    # the provider asks us to slow down: the whole channel waits as long as this notice
                    if outcome.result.retry_after is None:
                        outcome.result.retry_after = backoff_seconds(outcome.attempts, base)
                    until = outcome.at + timedelta(seconds=outcome.result.retry_after)
                    _write_back(token, [outcome], stats)
                    notice_service.pause_sender(channel.code, until, "429")
                    stats.paused += release(token, [r.id for r in rows[i + 1:]], until, now_fn())
                    paused = True
                    break
                unsettled = outcome
            if unsettled is not None:
                _write_back(token, [unsettled], stats)
            if now is not None and all(o.kind in ("retry", "unknown") for o in outcomes):
                break   # a fixed clock would re-claim the same rows forever once their backoff is zero
    return stats


def tick() -> dict:
    """One scheduler run: enqueue new arrival events, then drain."""
    enq = notice_service.enqueue_arrivals()
    stats = drain_once()
    return {"enqueued": enq, **stats.to_dict()}
