"""Protection of sensitive fields: encryption at rest, blind index, masking.

ID numbers, bank account / card numbers and mobile numbers are stored only as
AES-256-GCM ciphertext (column type ``Encrypted``) beside a keyed HMAC blind
index (``blind_index``) that makes exact look-ups and joins possible without
decrypting. Everything shown to a person goes through a ``mask_*`` function.
Keys come from configuration (ONECARD_FIELD_KEY, ONECARD_BLIND_INDEX_KEY).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.types import String, TypeDecorator

_state: dict = {"keys": None, "blind": None, "settings": None, "decrypt": None}
_PREFIX = "v1"


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as exc:   # binascii.Error (bad padding/characters) is a ValueError: a config error
        raise RuntimeError("字段加密密钥必须是 urlsafe-base64 编码的 32 字节") from exc
    if len(raw) != 32:
        raise RuntimeError("字段加密密钥必须是 32 字节 (AES-256)")
    return raw


def key_id(key: bytes) -> str:
    """A key's short public name (in every ciphertext it seals, and in the rotation's progress)."""
    return hashlib.sha256(key).hexdigest()[:8]


def configure(field_keys: str, blind_index_keys: str) -> None:
    """Install keys. Each setting is a comma-separated list, newest first (key rotation, ``onecard rotate-keys``):

    * field keys: the first encrypts; every listed key decrypts (the key id in the ciphertext picks it);
    * blind-index keys: the first indexes what is written; look-ups (``blind_indexes``) try every listed
      key, so a row not yet re-indexed is still found while ``rotate-keys`` runs.
    """
    keys = [_decode_key(k) for k in field_keys.split(",") if k.strip()]
    if not keys:
        raise RuntimeError("缺少字段加密密钥 ONECARD_FIELD_KEY")
    blinds = [_decode_key(k) for k in blind_index_keys.split(",") if k.strip()]
    if not blinds:
        raise RuntimeError("缺少盲索引密钥 ONECARD_BLIND_INDEX_KEY")
    _state["keys"] = [(key_id(k), AESGCM(k)) for k in keys]
    _state["blind"] = blinds[0]
    _state["blinds"] = blinds
    _state["settings"] = (field_keys, blind_index_keys)
    _state["decrypt"] = None


def field_key_ids() -> list[str]:
    """Ids of the configured field keys, the encrypting one first."""
    return [kid for kid, _ in _keys()]


def blind_key_ids() -> list[str]:
    """Ids of the configured blind-index keys, the indexing one first."""
    if _state.get("blinds") is None:
        raise RuntimeError("privacy.configure() has not been called")
    return [key_id(k) for k in _state["blinds"]]


def ciphertext_key_id(token: str) -> str:
    """The id of the key that sealed ``token`` (``v1:<key id>:...``)."""
    return token.split(":", 2)[1]


def settings() -> tuple[str, str]:
    """The ``configure`` arguments in force, for a worker process that encrypts on this process's behalf."""
    if _state.get("settings") is None:
        raise RuntimeError("privacy.configure() has not been called")
    return _state["settings"]


def _keys():
    if _state["keys"] is None:
        raise RuntimeError("privacy.configure() has not been called (create_app does it)")
    return _state["keys"]


def encrypt(plain: str | None) -> str | None:
    if plain is None:
        return None
    return encrypt_many((plain,))[0]


def encrypt_many(plains) -> list[str | None]:
    """``encrypt`` of each value (None stays None), in one pass: a bulk upload encrypts millions of fields.

    Same format and key as ``encrypt``; each value still gets its own random 96-bit nonce (drawn from
    one os.urandom call, which is what makes the batch cheaper).
    """
    key_id, aead = _keys()[0]
    # The key id is bound as associated data so a ciphertext cannot be replayed under another key label.
    aad = key_id.encode()
    head = f"{_PREFIX}:{key_id}:"
    seal = aead.encrypt
    b64 = base64.b64encode
    pool = os.urandom(12 * len(plains))
    out: list[str | None] = []
    append = out.append
    for i, plain in enumerate(plains):
        if plain is None:
            append(None)
            continue
        nonce = pool[12 * i:12 * i + 12]
        append(head + b64(nonce + seal(nonce, plain.encode("utf-8"), aad)).decode())
    return out


def decryptor():
    """A decrypt function with the key table resolved once: the bank file decrypts every account of a batch.

    Cached until the keys change; ``decrypt`` uses it too, so there is one reading of the format.
    """
    cached = _state.get("decrypt")
    if cached is not None:
        return cached
    keys = {kid: (aead, kid.encode()) for kid, aead in _keys()}
    a2b = binascii.a2b_base64

    def decrypt_one(token: str) -> str:
        prefix, key_id, payload = token.split(":", 2)
        if prefix != _PREFIX:
            raise ValueError("unknown ciphertext version")
        try:
            aead, associated = keys[key_id]
        except KeyError:
            raise ValueError("no key for this ciphertext") from None
        blob = a2b(payload)
        return aead.decrypt(blob[:12], blob[12:], associated).decode("utf-8")

    _state["decrypt"] = decrypt_one
    return decrypt_one


def decrypt(token: str | None) -> str | None:
    if token is None:
        return None
    return decryptor()(token)


def blind_index(value: str | None, purpose: str) -> str | None:
    """Keyed HMAC of a normalised value. ``purpose`` separates domains (an ID's index never equals an account's)."""
    if value is None:
        return None
    key = _state["blind"]
    if key is None:
        raise RuntimeError("privacy.configure() has not been called")
    return _blind(key, value, purpose)


def _blind(key: bytes, value: str, purpose: str) -> str:
    return hmac.digest(key, f"{purpose}\x00{value}".encode(), "sha256").hex()[:40]


def blind_indexes(value: str | None, purpose: str) -> list[str]:
    """The value's blind index under every configured key (the current one first): what a look-up matches
    with ``column.in_(...)``, so it finds rows indexed before and after a rotation alike."""
    if value is None:
        return []
    if _state.get("blinds") is None:
        raise RuntimeError("privacy.configure() has not been called")
    return [_blind(key, value, purpose) for key in _state["blinds"]]


class Encrypted(TypeDecorator):
    """A text column stored as AES-GCM ciphertext; Python sees plaintext."""
    impl = String(160)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return encrypt(value)

    def process_result_value(self, value, dialect):
        return decrypt(value)


# ---- masking -------------------------------------------------------------

# What an ID mask may show. The database keeps beside the mask the birth year and the gender (the parity of the
# 17th digit) in clear, and the county's area codes are public: so the 8 birth digits, the 3-digit sequence
# and the check character are the secret. Keeping the last 4 beside a stored birth date gave the whole number
# back (issue #16). With the first 6 and only the check character shown, and the year known, about
# 365 days x 500 sequences / 11 check values ~ 16,600 numbers fit each mask: more than the 10^4 a rebuild
# may leave (tests/onecard/test_derivatives.py), and no candidate can be confirmed without the blind-index key.
ID_MASK_HEAD = 6
ID_MASK_TAIL = 1


def mask_id(id_number: str | None) -> str | None:
    """370831199001011234 -> 370831***********4 (area code and check character kept; see ID_MASK_TAIL)."""
    if not id_number:
        return id_number
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:ID_MASK_HEAD] + "*" * (len(id_number) - ID_MASK_HEAD - ID_MASK_TAIL) + id_number[-ID_MASK_TAIL:]


def mask_tail(number: str | None, keep: int = 4) -> str | None:
    """Account, card or mobile number showing only the last ``keep`` digits."""
    if not number:
        return number
    return "*" * max(len(number) - keep, 0) + number[-keep:]


def mask_mobile(mobile: str | None) -> str | None:
    return mask_tail(mobile, 4)


def mask_account(account: str | None) -> str | None:
    return mask_tail(account, 4)


def mask_name(name: str | None) -> str | None:
    """Public-disclosure style: 张三 -> 张*, 张三明 -> 张*明, 欧阳小明 -> 欧**明."""
    if not name:
        return name
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_last4(last4_digits: str | None) -> str | None:
    """A masked account shown from its stored last 4 digits (the full number is never decrypted for display)."""
    return "*" * 12 + last4_digits if last4_digits else None


def mask_phone(phone: str | None) -> str | None:
    """13912345678 -> *******5678; 0537-4221234 -> 0537-***1234 (a landline keeps its area code: it says which office)."""
    if not phone:
        return phone
    if "-" in phone:
        area, rest = phone.split("-", 1)
        return f"{area}-{'*' * max(len(rest) - 4, 0)}{rest[-4:]}"
    return mask_tail(phone, 4)


def last4(number: str | None) -> str | None:
    return number[-4:] if number else None


# ---- logs -----------------------------------------------------------------

_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_LONG_NUMBER_RE = re.compile(r"(?<!\d)\d{7,28}(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask anything that looks like an ID, account or mobile number inside free text."""
    text = _ID_RE.sub(lambda m: mask_id(m.group(0)), text)
    return _LONG_NUMBER_RE.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)


class MaskingFilter(logging.Filter):
    """Installed on the app's log handlers so no log line carries a full ID, account or mobile."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the line
            return True
        record.msg = mask_text(message)
        record.args = ()
        return True
