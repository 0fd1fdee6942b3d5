"""The clean-cell fast paths of onecard.validation give exactly the full path's answers.

A ``str`` subclass skips every fast path (they test ``value.__class__ is str``), so each input is
checked both ways and must give the same value or the same refusal code.
"""
import random
from datetime import date, timedelta

import pytest

from onecard.errors import Invalid
from onecard.validation import (
    luhn_check_digit,
    make_id_number,
    normalize_bank_account,
    normalize_bank_card,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
)


class Slow(str):
    """Same text, but not exactly ``str``: takes the full path."""


def outcome(fn, value):
    try:
        return "ok", fn(value)
    except Invalid as exc:
        return "invalid", exc.code


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def mutations(text: str, rng: random.Random, n: int = 30):
    yield text
    yield fullwidth(text)
    yield text.lower()
    yield " " + text
    yield text + "\u200b"
    yield "".join("\u0663" if c == "3" else c for c in text)   # Arabic-Indic digit three
    for _ in range(n):
        chars = list(text)
        i = rng.randrange(len(chars))
        op = rng.randrange(4)
        if op == 0:
            chars[i] = rng.choice("0123456789Xx ")
        elif op == 1:
            del chars[i]
        elif op == 2:
            chars.insert(i, rng.choice("0123456789-"))
        else:
            chars[i], chars[-1] = chars[-1], chars[i]
        yield "".join(chars)


def test_id_numbers_fast_path_same_as_full_path():
    rng = random.Random(3)
    ids = [make_id_number("370831", date(1950, 1, 1) + timedelta(days=rng.randrange(25000)), rng.randrange(1000))
           for _ in range(40)]
    ids += [make_id_number("110101", date.today(), 1), make_id_number("370831", date(1900, 1, 1), 5),
            "370831189912310013", "000000199001011234", "370000199001011234", "370831199002301234",
            make_id_number("370831", date.today() + timedelta(days=1), 2)]
    for base in ids:
        for value in mutations(base, rng):
            assert outcome(normalize_id_number, value) == outcome(normalize_id_number, Slow(value)), value


def test_mobiles_fast_path_same_as_full_path():
    rng = random.Random(4)
    for base in ["13912345678", "19900001111", "12912345678", "+8613912345678", "139-1234-5678"]:
        for value in mutations(base, rng):
            assert outcome(normalize_mobile, value) == outcome(normalize_mobile, Slow(value)), value


def test_cards_and_accounts_fast_path_same_as_full_path():
    rng = random.Random(5)
    bases = []
    for length in (12, 15, 16, 17, 18, 19):
        body = "62" + "".join(rng.choice("0123456789") for _ in range(length - 3))
        bases.append(body + luhn_check_digit(body))
        bases.append(body + str((int(luhn_check_digit(body)) + 1) % 10))   # Luhn fails
    bases += ["4111111111111111", "5500000000000004", "1234567890123456", "6228480000000000000"]
    for base in bases:
        for value in mutations(base, rng):
            for fn in (normalize_bank_card, normalize_bank_account,
                       lambda v: normalize_bank_card(v, luhn=True), lambda v: normalize_bank_card(v, luhn=False)):
                assert outcome(fn, value) == outcome(fn, Slow(value)), value


@pytest.mark.parametrize("value", ["王秀英", "欧阳小明", "䶮", "张三" * 15, "张三" * 16, "〇〇", "王　秀英", "王·秀",
                                   "王\u200b英", "王 秀英", "王秀英 ", "ＡＢ王", "阿依古丽·买买提", "\U00020000\U00020001"])
def test_names_fast_path_same_as_full_path(value):
    assert outcome(normalize_name, value) == outcome(normalize_name, Slow(value))
