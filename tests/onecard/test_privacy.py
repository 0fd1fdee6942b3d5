"""Sensitive fields are encrypted at rest, found by blind index, masked everywhere shown."""
from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from onecard import privacy
from onecard.people.models import Resident
from tests.factories import make_card, make_resident


def test_raw_database_holds_no_plain_id_account_or_mobile(db, county):
    r = make_resident(county["towns"][0], county["villages"][0], mobile="13912345678")
    card = make_card(r, county["banks"]["ABC"])
    id_number, account = r.id_number, card.account
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("PRAGMA wal_checkpoint(FULL)"))
        db.session.commit()
        path = db.engine.url.database
        raw = open(path, "rb").read()
        for suffix in ("-wal",):
            try:
                raw += open(path + suffix, "rb").read()
            except FileNotFoundError:
                pass
    else:
        raw = b""
        for table in ("residents", "cards"):
            for row in db.session.execute(sa.text(f"SELECT * FROM {table}")):
                raw += repr(tuple(row)).encode()
    assert id_number.encode() not in raw
    assert account.encode() not in raw
    assert b"13912345678" not in raw


def test_encrypted_value_round_trips_and_is_found_by_blind_index(db, county):
    r = make_resident(county["towns"][0])
    found = db.session.execute(
        sa.select(Resident).where(Resident.id_bidx == privacy.blind_index(r.id_number, "id"))).scalar_one()
    assert found.id == r.id
    db.session.expire_all()
    assert db.session.get(Resident, r.id).id_number == r.id_number


def test_ciphertexts_differ_for_the_same_value():
    assert privacy.encrypt("370831195003010011") != privacy.encrypt("370831195003010011")


def test_tampered_ciphertext_is_rejected():
    token = privacy.encrypt("6228480000000000001")
    head, payload = token.rsplit(":", 1)
    bad = head + ":" + ("A" if payload[0] != "A" else "B") + payload[1:]
    try:
        privacy.decrypt(bad)
    except Exception as exc:  # noqa: BLE001
        assert exc.__class__.__name__ in ("InvalidTag", "ValueError", "Error")
    else:
        raise AssertionError("tampered ciphertext decrypted")


def test_blind_index_separates_purposes():
    assert privacy.blind_index("123456", "id") != privacy.blind_index("123456", "account")


def test_masks():
    assert privacy.mask_id("37083119500301123X") == "370831***********X"
    assert privacy.mask_account("6228480012345678901") == "***************8901"
    assert privacy.mask_mobile("13912345678") == "*******5678"
    assert privacy.mask_name("张三明") == "张*明"
    assert privacy.mask_name("张三") == "张*"
    assert privacy.mask_name("欧阳小明") == "欧**明"


def test_log_lines_are_masked(app, caplog):
    with caplog.at_level(logging.INFO, logger="onecard"):
        logging.getLogger("onecard").info("paying 37083119500301123X to 6228480012345678901 tel 13912345678")
    text = caplog.records[-1].getMessage()
    assert "37083119500301123X" not in text and "370831***********X" in text
    assert "6228480012345678901" not in text and "8901" in text
    assert "13912345678" not in text


def test_key_rotation_decrypts_old_ciphertexts():
    import base64
    import os
    old_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    blind = base64.urlsafe_b64encode(os.urandom(32)).decode()
    saved = dict(privacy._state)
    try:
        privacy.configure(old_key, blind)
        token = privacy.encrypt("370831195003010011")
        privacy.configure(f"{new_key},{old_key}", blind)
        assert privacy.decrypt(token) == "370831195003010011"
        assert privacy.encrypt("x").split(":")[1] != token.split(":")[1]
    finally:
        privacy._state.update(saved)


def test_masks_from_stored_parts_and_for_phones():
    assert privacy.mask_last4("1234") == "************1234"
    assert privacy.mask_last4(None) is None
    assert privacy.mask_phone("0537-4221234") == "0537-***1234"
    assert privacy.mask_phone("13912345678") == "*******5678"


def test_error_report_values_are_masked_by_column_kind():
    from onecard.sheets import mask_value
    assert "19500301" not in mask_value("37083119500301123", "id")       # a wrong ID is still someone's ID
    assert mask_value("1391234567", "mobile").endswith("4567") and "139123" not in mask_value("1391234567", "mobile")
    assert mask_value("6228480012345678901") != "6228480012345678901"      # no kind: recognised by shape
    assert mask_value("张三明") == "张三明"


def test_the_bulk_decryptor_reads_what_encrypt_wrote_and_refuses_the_rest(app):
    from cryptography.exceptions import InvalidTag
    decrypt = privacy.decryptor()
    for plain in ("6223190000000000012", "0", "6" * 30):
        token = privacy.encrypt(plain)
        assert decrypt(token) == privacy.decrypt(token) == plain
    token = privacy.encrypt("6223190000000000012")
    prefix, key_id, payload = token.split(":", 2)
    with pytest.raises(ValueError):
        decrypt(f"v9:{key_id}:{payload}")
    with pytest.raises(ValueError):
        decrypt(f"{prefix}:00000000:{payload}")
    spoiled = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    with pytest.raises(InvalidTag):
        decrypt(f"{prefix}:{key_id}:{spoiled}")
