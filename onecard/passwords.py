"""Password hashing with argon2 (argon2-cffi).

Production uses argon2-cffi's RFC 9106 low-memory profile; tests and benchmarks
use a cheap profile chosen by configuration, never by code paths.
"""
from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hashers = {
    "production": PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    "test": PasswordHasher.from_parameters(profiles.CHEAPEST),
}
_state = {"hasher": _hashers["production"]}

# Checked against when a username is unknown, so a miss costs as much as a hit.
_DUMMY = {}


def configure(profile: str) -> None:
    if profile not in _hashers:
        raise RuntimeError(f"未知的密码哈希配置 {profile!r}（production 或 test）")
    _state["hasher"] = _hashers[profile]


def hash_password(password: str) -> str:
    return _state["hasher"].hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    hasher = _state["hasher"]
    if stored_hash is None:
        dummy = _DUMMY.setdefault(id(hasher), hasher.hash("timing-equaliser"))
        stored_hash = dummy
        try:
            hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _state["hasher"].check_needs_rehash(stored_hash)


def check_strength(password: str, *, field: str = "new_password") -> None:
    """At least 10 characters with letters and digits: what government systems here usually require."""
    from onecard.errors import Invalid
    if len(password) < 10 or not any(c.isdigit() for c in password) or not any(c.isalpha() for c in password):
        raise Invalid("密码至少10位，且须同时包含字母和数字", code="weak_password", field=field)
