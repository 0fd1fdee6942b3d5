"""Account numbers for the bank file, decrypted in bulk.

The payment file is the one place where every account of a batch must be seen in clear (the bank pays into
it). ``account_decryptor`` gives a decrypt function with the key table and the associated data resolved once,
so exporting a million lines costs one AES-GCM decryption per line and little else. It reads the same
ciphertext format as ``privacy.decrypt`` ("v1:<key id>:<base64 nonce+ciphertext>") and uses privacy's keys;
``tests/test_payments_export.py`` checks the two agree.
"""
from __future__ import annotations

import binascii
from collections.abc import Callable

from onecard import privacy


def account_decryptor() -> Callable[[str], str]:
    keys = {kid: (aead, kid.encode()) for kid, aead in privacy._keys()}
    a2b = binascii.a2b_base64
    prefix = privacy._PREFIX

    def decrypt(token: str) -> str:
        version, key_id, payload = token.split(":", 2)
        if version != prefix:
            raise ValueError("unknown ciphertext version")
        try:
            aead, associated = keys[key_id]
        except KeyError:
            raise ValueError("no key for this ciphertext") from None
        blob = a2b(payload)
        return aead.decrypt(blob[:12], blob[12:], associated).decode("utf-8")

    return decrypt
