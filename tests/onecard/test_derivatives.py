"""No combination of stored columns gives back an ID, mobile or account number without the keys (issue #16).

The attacker of this test has a copy of the database and no key: it reads every column of every table raw (the
ciphertexts stay ciphertexts), joins everything it can to a person (the resident's row, every row that names the
resident, every row carrying the same blind index) and counts how many numbers fit what it learnt: mask digits,
last-4s, anything in a column about birth, the gender, dates equal to the birth date, and the checksum.

Threshold: a number counts as rebuilt when fewer than 10^4 candidates remain. A candidate cannot be confirmed
offline (the blind indexes are keyed HMACs, checked below), so the attacker has to try each one against the
outside world (a call, a government look-up); ten thousand tries per person is beyond such an attack, while a
few hundred (a day of birth times a sequence) is not. The area code (a handful in the county), a mobile's
carrier prefix (about 50) and an account's bank BIN are taken as known.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa

from onecard import demo
from onecard.cards.models import Card
from onecard.people.models import Resident

THRESHOLD = 10_000
_DATE_RE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def _raw_tables(db) -> dict[str, list[dict]]:
    """Every row of every table, as stored (no type decorators: an encrypted column reads as its ciphertext)."""
    out = {}
    for table in db.metadata.sorted_tables:
        cols = [c.name for c in table.c]
        stmt = sa.select(*[sa.column(c) for c in cols]).select_from(sa.table(table.name))
        out[table.name] = [dict(zip(cols, row, strict=True)) for row in db.session.execute(stmt)]
    return out


def _cells(rows):
    for table, row in rows:
        for column, value in row.items():
            if value is not None:
                yield table, column, value


def _revealed(number: str, rows, *, last4_columns: bool) -> set[int]:
    """Positions of ``number`` that some stored cell shows: a mask-like token that agrees with it, or a last-4."""
    shown: set[int] = set()
    token_re = re.compile(r"(?<![\d*Xx])[\d*Xx]{" + str(len(number)) + r"}(?![\d*Xx])")
    for _table, column, value in _cells(rows):
        text = str(value)
        for m in token_re.finditer(text):
            token = m.group(0)
            if all(t == "*" or t.upper() == n for t, n in zip(token, number, strict=True)):
                shown |= {i for i, t in enumerate(token) if t != "*"}
        if last4_columns and column.endswith("last4") and text == number[-4:]:
            shown |= set(range(len(number) - 4, len(number)))
    return shown


def _person_rows(tables, resident_id: int, bidxs: set[str]):
    """The rows an attacker ties to one person: the resident, rows naming the resident, rows with its blind index."""
    for name, rows in tables.items():
        for row in rows:
            if name == "residents" and row["id"] == resident_id:
                yield name, row
            elif any(c.endswith("resident_id") and v == resident_id for c, v in row.items()):
                yield name, row
            elif any(isinstance(v, str) and v in bidxs for v in row.values()):
                yield name, row


def _id_candidates(id_number: str, rows) -> int:
    """How many valid 18-character IDs fit everything the rows tell about this one."""
    if any(id_number in str(v) for _t, _c, v in _cells(rows)):
        return 1
    shown = _revealed(id_number, rows, last4_columns=False)
    born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    year = month = day = None
    gender = None
    for _table, column, value in _cells(rows):
        for m in _DATE_RE.finditer(str(value)):
            if (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (born.year, born.month, born.day):
                year, month, day = born.year, born.month, born.day
        if "birth" in column:
            digits = re.sub(r"\D", "", str(value))
            if len(digits) >= 4:
                year = int(digits[:4])
            if len(digits) >= 6:
                month = int(digits[4:6])
        if column == "gender" and value in ("M", "F"):
            gender = value
    if {6, 7, 8, 9} <= shown:
        year = born.year
    if {10, 11} <= shown:
        month = born.month
    if {12, 13} <= shown:
        day = born.day
    # Sequence codes that agree with the shown digits and the gender, binned by their share of the checksum.
    seq_bins = [0] * 11
    for seq in range(1000):
        s = f"{seq:03d}"
        if any(i + 14 in shown and s[i] != id_number[14 + i] for i in range(3)):
            continue
        if gender and (int(s[2]) % 2 == 1) != (gender == "M"):
            continue
        seq_bins[int(s, 13) % 11] += 1
    count = 0
    d = date(year, 1, 1) if year else date(1900, 1, 1)
    end = date(year, 12, 31) if year else date.today()
    while d <= end:
        if (month is None or d.month == month) and (day is None or d.day == day):
            head = id_number[:6] + f"{d:%Y%m%d}"
            prefix = int(head + "000", 13) % 11
            for s_mod in range(11):
                c = (1 - 2 * (prefix + s_mod)) % 11
                check = "X" if c == 10 else str(c)
                if 17 not in shown or check == id_number[17]:
                    count += seq_bins[s_mod]
        d += timedelta(days=1)
    return count


def _unkeyed_digests(value: str, purpose: str) -> set[str]:
    out = set()
    for text in (value, f"{purpose}\x00{value}", f"{purpose}:{value}"):
        raw = text.encode()
        for algo in ("sha256", "sha1", "md5"):
            out.add(hashlib.new(algo, raw).hexdigest())
        out.add(hmac.new(b"", raw, "sha256").hexdigest())
    return out


def test_no_stored_columns_rebuild_an_id_mobile_or_account_without_the_key(db):
    demo.build(residents=300, seed=2021)
    tables = _raw_tables(db)
    residents = db.session.execute(sa.select(Resident.id, Resident.id_number, Resident.id_bidx, Resident.mobile,
                                             Resident.mobile_bidx)).all()
    cards = db.session.execute(sa.select(Card.id, Card.resident_id, Card.account, Card.account_bidx)
                               .where(Card.account.is_not(None))).all()
    assert len(residents) >= 300 and cards
    all_text = {str(v) for rows in tables.values() for row in rows for v in row.values() if v is not None}
    cards_by_resident = defaultdict(list)
    for card in cards:
        cards_by_resident[card.resident_id].append(card)

    rebuilt = []
    for r in residents:
        bidxs = {b for b in (r.id_bidx, r.mobile_bidx) if b}
        rows = list(_person_rows(tables, r.id, bidxs))
        n = _id_candidates(r.id_number, rows)
        if n < THRESHOLD:
            rebuilt.append(("id", r.id, n))
        if r.mobile:
            shown = _revealed(r.mobile, rows, last4_columns=True)
            n = (1 if {0, 1, 2} <= shown else 50) * 10 ** sum(1 for i in range(3, 11) if i not in shown)
            if n < THRESHOLD or any(r.mobile in t for t in all_text):
                rebuilt.append(("mobile", r.id, n))
        for card in cards_by_resident[r.id]:
            account = card.account
            card_rows = rows + [(t, row) for t, rs in tables.items() for row in rs
                                if card.account_bidx in row.values() or row.get("card_id") == card.id]
            shown = _revealed(account, card_rows, last4_columns=True)
            free_body = sum(1 for i in range(6, len(account) - 1) if i not in shown)
            n = 10 ** free_body // (10 if len(account) - 1 in shown else 1)
            if n < THRESHOLD or any(account in t for t in all_text):
                rebuilt.append(("account", card.id, n))
        # A blind index must be keyed: no plain digest of the number may be stored.
        for value, purpose in ((r.id_number, "id"), (r.mobile, "mobile")):
            if value and any(d[:k] in all_text for d in _unkeyed_digests(value, purpose) for k in (32, 40, 64)):
                rebuilt.append((f"{purpose} digest", r.id, 1))
    assert not rebuilt, rebuilt[:10]


def test_the_id_mask_with_a_stored_birth_date_would_count_as_rebuilt():
    """The measure itself catches the old derivatives: first 6 + last 4 beside the birth date leave one number."""
    id_number = "370831195003010015"
    rows = [("residents", {"id_masked": "370831********0015", "birth_date": "1950-03-01", "gender": "M"})]
    assert _id_candidates(id_number, rows) == 1
    rows = [("residents", {"id_masked": "370831***********5", "birth_year": 1950, "gender": "M"})]
    assert _id_candidates(id_number, rows) >= THRESHOLD
