"""Expiring bearer tokens for staff and residents. Only the token's SHA-256 is stored."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from onecard.errors import Unauthenticated
from onecard.extensions import db
from onecard.staff.models import AuthToken
from onecard.timeutil import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


digest = _digest


def live(subject_kind: str, token_hash, now) -> sa.ColumnElement[bool]:
    """SQL test that a token row is the given hash's, of this kind, not revoked and not yet expired.

    The same rule as resolve(), for reads that check the token inside their own query;
    ``token_hash`` and ``now`` are values or bind parameters (``now`` is naive UTC).
    """
    return sa.and_(AuthToken.token_hash == token_hash, AuthToken.subject_kind == subject_kind,
                   AuthToken.revoked_at.is_(None), AuthToken.expires_at > now)


def issue(subject_kind: str, subject_id: int, *, ttl_minutes: int, ip: str | None = None,
          channel: str | None = None) -> tuple[str, AuthToken]:
    """Create a token in the caller's transaction; the plaintext is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    row = AuthToken(token_hash=_digest(token), subject_kind=subject_kind, subject_id=subject_id,
                    expires_at=utcnow() + timedelta(minutes=ttl_minutes), ip=ip, channel=channel)
    db.session.add(row)
    return token, row


def resolve(token: str | None, subject_kind: str) -> AuthToken:
    """The live token row, or Unauthenticated (missing, unknown, expired or revoked all look the same)."""
    if not token:
        raise Unauthenticated("请先登录", code="login_required")
    row = db.session.execute(sa.select(AuthToken).where(live(subject_kind, _digest(token), utcnow()))).scalar()
    if row is None:
        raise Unauthenticated("登录已过期，请重新登录", code="token_invalid")
    return row


def revoke(token: str) -> None:
    db.session.execute(sa.update(AuthToken).where(AuthToken.token_hash == _digest(token),
                                                  AuthToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_all(subject_kind: str, subject_id: int) -> None:
    db.session.execute(sa.update(AuthToken).where(
        AuthToken.subject_kind == subject_kind, AuthToken.subject_id == subject_id,
        AuthToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
