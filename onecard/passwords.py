"""Password hashing with argon2 (argon2-cffi).

Production uses argon2-cffi's RFC 9106 low-memory profile; tests and benchmarks
use a cheap profile chosen by configuration, never by code paths.
"""
from __future__ import annotations

import threading

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hashers = {
    "production": PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    "test": PasswordHasher.from_parameters(profiles.CHEAPEST),
}
_state = {"hasher": _hashers["production"]}
# At most this many argon2 verifications run at once in a process (each costs ~300 ms of CPU and 64 MiB): a burst
# of sign-ins must not starve the reads served by the same workers (issue #16). A caller that cannot get a slot
# within the wait is told to come back (503 with Retry-After).
_slots = {"semaphore": threading.BoundedSemaphore(2), "wait": 2.0}

# Checked against when a username is unknown, so a miss costs as much as a hit.
_DUMMY = {}


def configure(profile: str, *, concurrency: int = 2, wait_seconds: float = 2.0) -> None:
    if profile not in _hashers:
        raise RuntimeError(f"未知的密码哈希配置 {profile!r}（production 或 test）")
    if concurrency < 1:
        raise RuntimeError("ONECARD_PASSWORD_VERIFY_CONCURRENCY 至少为 1")
    _state["hasher"] = _hashers[profile]
    _slots["semaphore"] = threading.BoundedSemaphore(concurrency)
    _slots["wait"] = wait_seconds


def hash_password(password: str) -> str:
    return _state["hasher"].hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; raises Unavailable (retry later) when every verification slot stays busy."""
    from onecard.errors import Unavailable
    semaphore = _slots["semaphore"]
    if not semaphore.acquire(timeout=_slots["wait"]):
        raise Unavailable("登录人数较多，请稍后再试", code="sign_in_busy", retry_after=1)
    try:
        return _verify(stored_hash, password)
    finally:
        semaphore.release()


def _verify(stored_hash: str | None, password: str) -> bool:
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
