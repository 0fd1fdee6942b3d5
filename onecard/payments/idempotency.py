"""Idempotency keys for the unsafe disbursement calls (submit, review, approve, send, results, re-issue).

A retried request (same actor, same key, same body) gets the first answer back
and changes nothing; the same key with a different body or endpoint is refused
(409 idempotency_key_reused). The key row is written in the same transaction as
the work, so a key is recorded exactly when its work committed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from onecard.actors import Actor
from onecard.errors import Conflict, DomainError, Invalid
from onecard.extensions import db
from onecard.payments.models import IdempotencyKey


def _actor_tag(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}"


def _lookup(actor: Actor, key: str) -> IdempotencyKey | None:
    return db.session.execute(
        sa.select(IdempotencyKey).where(IdempotencyKey.actor == _actor_tag(actor), IdempotencyKey.key == key)
    ).scalar_one_or_none()


def _replay(row: IdempotencyKey, endpoint: str, request_hash: str) -> dict:
    if row.endpoint != endpoint or row.request_hash != request_hash:
        raise Conflict("该幂等键已用于另一项请求，请为新的操作生成新的幂等键", code="idempotency_key_reused",
                       field="idempotency_key")
    return json.loads(row.response)


def run(actor: Actor, endpoint: str, key: str | None, body: dict, work: Callable[[], dict]) -> dict:
    """Do ``work`` once per (actor, key): commit its effects with the key, or replay the stored answer."""
    key = (key or "").strip()
    if not key or len(key) > 80:
        raise Invalid("请提供幂等键（idempotency_key，1至80个字符），重试时使用同一个键", code="idempotency_key_required",
                      field="idempotency_key")
    request_hash = hashlib.sha256(json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, default=str)
                                  .encode()).hexdigest()
    existing = _lookup(actor, key)
    if existing is not None:
        result = _replay(existing, endpoint, request_hash)
        db.session.rollback()
        return result
    try:
        result = work()
        db.session.add(IdempotencyKey(key=key, actor=_actor_tag(actor), endpoint=endpoint,
                                      request_hash=request_hash, response=json.dumps(result, default=str)))
        db.session.commit()
        return result
    except (DomainError, IntegrityError):
        # A concurrent twin with the same key may have committed first: answer as it did.
        db.session.rollback()
        existing = _lookup(actor, key)
        if existing is not None:
            result = _replay(existing, endpoint, request_hash)
            db.session.rollback()
            return result
        raise
