"""Edge cases of onecard.validation: what each door (API, spreadsheet, CLI) will feed it."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from onecard.errors import Invalid
from onecard.validation import (
    ETHNIC_GROUPS,
    ethnicity_name,
    format_fen,
    format_yuan,
    id_birth_date,
    id_gender,
    luhn_check_digit,
    make_id_number,
    normalize_bank_account,
    normalize_bank_card,
    normalize_ethnicity,
    normalize_id_number,
    normalize_mobile,
    normalize_name,
    normalize_text,
    parse_amount_fen,
    parse_date,
    parse_period,
)

VALID_ID = make_id_number("370831", date(1990, 1, 1), 123)
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def invalid(fn, value, code, field, **kw) -> Invalid:
    """Call fn expecting Invalid with the given code and field; return it for message checks."""
    with pytest.raises(Invalid) as e:
        fn(value, field=field, **kw)
    assert (e.value.code, e.value.field) == (code, field)
    assert e.value.message  # every refusal tells the person something
    return e.value


def id_with_check(check: str) -> str:
    """An ID ending in the given check char, searching sequence numbers."""
    for seq in range(1000):
        n = make_id_number("370831", date(1985, 6, 15), seq)
        if n[-1] == check:
            return n
    raise AssertionError(check)


def wrong_check(id18: str) -> str:
    return id18[:17] + ("0" if id18[17] != "0" else "1")


# ---------------------------------------------------------------- ID numbers

def test_make_id_number_matches_published_gb11643_example():
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


def test_make_id_number_check_digit_agrees_with_python_stdnum():
    from stdnum.cn import ric

    weights = [2 ** (17 - i) % 11 for i in range(17)]
    for seq in range(0, 1000, 7):
        n = make_id_number("370831", date(1990, 1, 1), seq)
        assert n[-1] == ric.calc_check_digit(n)  # stdnum drops the last char itself
        assert n[-1] == "10X98765432"[sum(int(c) * w for c, w in zip(n[:17], weights, strict=True)) % 11]


def test_valid_id_number_is_returned_unchanged():
    assert normalize_id_number(VALID_ID) == VALID_ID
    assert VALID_ID.startswith("37083119900101123")


def test_id_number_lowercase_x_is_upper_cased():
    x_id = id_with_check("X")
    assert normalize_id_number(x_id.lower()) == x_id


def test_id_number_full_width_digits_and_x_are_folded_to_ascii():
    x_id = id_with_check("X")
    assert normalize_id_number(x_id.translate(FULL_WIDTH)) == x_id
    assert normalize_id_number(x_id[:17] + "ｘ") == x_id


def test_id_number_surrounding_and_inner_whitespace_is_stripped():
    assert normalize_id_number(f"  {VALID_ID[:6]} {VALID_ID[6:14]}\u3000{VALID_ID[14:]}\n") == VALID_ID


def test_id_number_valid_18_digit_int_is_accepted():
    digit_id = id_with_check("7")
    assert normalize_id_number(int(digit_id)) == digit_id


@pytest.mark.parametrize("blank", [None, "", "   ", float("nan")])
def test_id_number_blank_is_required(blank):
    invalid(normalize_id_number, blank, "id_required", "sfz")


def test_id_number_15_digit_old_number_has_its_own_code():
    err = invalid(normalize_id_number, "370831900101123", "id_old_15_digit", "sfz")
    assert "15位旧身份证号已停用" in err.message


@pytest.mark.parametrize("value", [
    "3.70831E+17", "3.70831e17", "370831199001011234.0", 3.70831199001011e17, 370831199001011.0,
    Decimal("3.70831199001011E+17"), 37083119900101123,
])
def test_id_number_spreadsheet_number_is_precision_lost(value):
    err = invalid(normalize_id_number, value, "id_precision_lost", "sfz")
    assert "精度丢失，请将该列设置为文本格式后重新填写" in err.message


def test_id_number_rounded_tail_000_is_precision_lost_not_checksum():
    # Excel keeps 15 significant digits: 370831199001011231 becomes 370831199001011000,
    # whose check digit should be 4, so the tail gives the numeric cell away.
    rounded = VALID_ID[:15] + "000"
    assert make_id_number("370831", date(1990, 1, 1), 100)[-1] != "0"
    invalid(normalize_id_number, rounded, "id_precision_lost", "sfz")
    invalid(normalize_id_number, int(rounded), "id_precision_lost", "sfz")


def test_id_number_int_with_wrong_check_digit_is_precision_lost():
    digit_id = id_with_check("7")
    invalid(normalize_id_number, int(wrong_check(digit_id)), "id_precision_lost", "sfz")


def test_id_number_wrong_check_digit_is_checksum_error_without_leaking_digit():
    bad = wrong_check(VALID_ID)
    err = invalid(normalize_id_number, bad, "id_checksum", "sfz")
    assert "校验位不符" in err.message
    assert not any(c.isdigit() or c == "X" for c in err.message)


def test_id_number_february_30_birth_date_is_refused():
    body = "370831" + "19900230" + "123"
    invalid(normalize_id_number, body + "0", "id_birth_date", "sfz")


def test_id_number_future_birth_date_is_refused():
    future = make_id_number("370831", date.today() + timedelta(days=400), 123)
    invalid(normalize_id_number, future, "id_birth_date", "sfz")


def test_id_number_birth_before_1900_is_refused():
    invalid(normalize_id_number, make_id_number("370831", date(1899, 12, 31), 1), "id_birth_date", "sfz")


@pytest.mark.parametrize("area", ["990831", "100831", "370000", "000000", "720101"])
def test_id_number_bad_area_code_is_refused(area):
    invalid(normalize_id_number, make_id_number(area, date(1990, 1, 1), 123), "id_area_code", "sfz")


@pytest.mark.parametrize("value", ["37083119900101123", "3708311990010112345", "1234"])
def test_id_number_wrong_length_is_refused(value):
    err = invalid(normalize_id_number, value, "id_length", "sfz")
    assert "18位" in err.message


@pytest.mark.parametrize("value", ["37083119900101123A", "3708311990X1011234", "37083119900101-234", True])
def test_id_number_bad_characters_are_format_errors(value):
    invalid(normalize_id_number, value, "id_format", "sfz")


def test_id_number_default_field_name():
    with pytest.raises(Invalid) as e:
        normalize_id_number(None)
    assert e.value.field == "id_number"


def test_id_birth_date_and_gender_are_read_from_the_number():
    n = make_id_number("370831", date(1990, 1, 1), 123)
    assert id_birth_date(n) == date(1990, 1, 1)
    assert id_gender(n) == "M"  # 17th digit (last of the sequence code) 3 is odd
    assert id_gender(make_id_number("370831", date(1990, 1, 1), 122)) == "F"
    assert id_gender(make_id_number("370831", date(1990, 1, 1), 130)) == "F"


# ---------------------------------------------------------------- mobile

@pytest.mark.parametrize("value", [
    "13812345678", " 138 1234 5678 ", "138-1234-5678", "+86 138 1234 5678", "+8613812345678",
    "8613812345678", "0086-13812345678", "１３８１２３４５６７８", 13812345678, 13812345678.0,
])
def test_mobile_accepted_forms_normalise_to_11_digits(value):
    assert normalize_mobile(value) == "13812345678"


@pytest.mark.parametrize("value", ["12812345678", "1381234567", "138123456789", "0531-1234567",
                                   "1381234567a", 13812345678.5, float("inf")])
def test_mobile_bad_numbers_are_format_errors(value):
    invalid(normalize_mobile, value, "mobile_format", "tel")


def test_mobile_blank_is_required():
    invalid(normalize_mobile, " ", "mobile_required", "tel")


# ---------------------------------------------------------------- bank cards and accounts

UNIONPAY = "622202123456789012" + luhn_check_digit("622202123456789012")


def test_bank_card_luhn_passes_for_known_and_generated_numbers():
    assert normalize_bank_card("4111 1111 1111 1111") == "4111111111111111"
    assert normalize_bank_card(UNIONPAY) == UNIONPAY
    assert normalize_bank_card(UNIONPAY[:6] + "-" + UNIONPAY[6:].translate(FULL_WIDTH)) == UNIONPAY


def test_bank_card_luhn_failure_is_refused():
    bad = UNIONPAY[:-1] + str((int(UNIONPAY[-1]) + 1) % 10)
    err = invalid(normalize_bank_card, bad, "bank_card_luhn", "card")
    assert "卡号校验不通过，请核对是否抄错" in err.message


def test_bank_card_luhn_switch_forces_or_skips_the_check():
    bad = UNIONPAY[:-1] + str((int(UNIONPAY[-1]) + 1) % 10)
    assert normalize_bank_card(bad, luhn=False) == bad
    assert normalize_bank_card("9" * 16) == "9" * 16  # auto: not a 62/4/5 card
    invalid(normalize_bank_card, "9" * 16, "bank_card_luhn", "card", luhn=True)


@pytest.mark.parametrize("value", ["12345678901", "12345678901234567890"])
def test_bank_card_length_outside_12_to_19_is_refused(value):
    invalid(normalize_bank_card, value, "bank_card_length", "card")


@pytest.mark.parametrize("value", [6.22202123456789e18, "6.22202E+18", "6222021234567890.0"])
def test_bank_card_spreadsheet_number_is_precision_lost(value):
    err = invalid(normalize_bank_card, value, "bank_card_precision_lost", "card")
    assert "精度丢失" in err.message


def test_bank_card_rounded_int_is_precision_lost():
    rounded = UNIONPAY[:15] + "0000"  # what a numeric cell keeps of a 19-digit card
    assert rounded != UNIONPAY
    invalid(normalize_bank_card, int(rounded), "bank_card_precision_lost", "card")
    invalid(normalize_bank_card, rounded, "bank_card_precision_lost", "card")


def test_bank_card_letters_and_blank_are_refused():
    invalid(normalize_bank_card, "6222abc123456789", "bank_card_format", "card")
    invalid(normalize_bank_card, None, "bank_card_required", "card")


def test_bank_account_accepts_8_to_32_digits_and_checks_card_like_numbers():
    assert normalize_bank_account("3708 3100 1234") == "370831001234"
    assert normalize_bank_account("1" * 32) == "1" * 32
    invalid(normalize_bank_account, "1234567", "bank_account_length", "acct")
    invalid(normalize_bank_account, "1" * 33, "bank_account_length", "acct")
    invalid(normalize_bank_account, "4111111111111112", "bank_account_luhn", "acct")
    invalid(normalize_bank_account, 1.5e10, "bank_account_precision_lost", "acct")


def test_luhn_check_digit_completes_classic_example():
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_check_digit("411111111111111") == "1"


# ---------------------------------------------------------------- ethnicity

def test_ethnic_groups_are_the_56_in_gb3304_order():
    assert len(ETHNIC_GROUPS) == 56
    assert list(ETHNIC_GROUPS) == [f"{i:02d}" for i in range(1, 57)]
    assert (ETHNIC_GROUPS["01"], ETHNIC_GROUPS["02"], ETHNIC_GROUPS["15"]) == ("汉族", "蒙古族", "土家族")
    assert (ETHNIC_GROUPS["30"], ETHNIC_GROUPS["43"], ETHNIC_GROUPS["56"]) == ("土族", "乌孜别克族", "基诺族")


@pytest.mark.parametrize("value", ["汉族", " 汉族 ", "汉", "01", "1", 1, 1.0, "０１", Decimal("1")])
def test_ethnicity_by_name_short_name_code_and_number(value):
    assert normalize_ethnicity(value) == "01"


def test_ethnicity_multi_character_names():
    assert normalize_ethnicity("维吾尔族") == "05"
    assert normalize_ethnicity("土家") == "15"
    assert normalize_ethnicity("土") == "30"
    assert ethnicity_name("8") == "壮族"


@pytest.mark.parametrize("value", ["火星族", "57", 0, 1.5, "汉族人", True])
def test_ethnicity_unknown_tells_how_to_write_it(value):
    err = invalid(normalize_ethnicity, value, "ethnicity_unknown", "mz")
    assert "请填写民族全称，如“汉族”" in err.message


def test_ethnicity_blank_is_required():
    invalid(normalize_ethnicity, "", "ethnicity_required", "mz")


# ---------------------------------------------------------------- money

@pytest.mark.parametrize(("value", "fen"), [
    ("183", 18300), ("183.00", 18300), ("183.5", 18350), ("1,830.00", 183000), ("¥183", 18300),
    ("￥183", 18300), ("183元", 18300), ("１８３．５", 18350), (" 183.000 ", 18300), (".5", 50),
    (183, 18300), (183.1, 18310), (Decimal("183.10"), 18310), ("100000000", 10_000_000_000),
])
def test_amount_accepted_forms_convert_to_exact_fen(value, fen):
    assert parse_amount_fen(value) == fen


def test_amount_float_183_1_is_exact_not_binary_rounded():
    assert parse_amount_fen(183.1) == 18310
    assert parse_amount_fen(0.29) == 29  # int(0.29 * 100) would be 28


@pytest.mark.parametrize("value", ["1.005", 1.005, Decimal("0.001"), 0.1 + 0.2])
def test_amount_more_than_two_decimals_is_refused(value):
    invalid(parse_amount_fen, value, "amount_precision", "amt")


@pytest.mark.parametrize("value", ["0", "0.00", "-1", -1, 0.0, "-0"])
def test_amount_zero_or_negative_is_refused(value):
    invalid(parse_amount_fen, value, "amount_not_positive", "amt")


@pytest.mark.parametrize("value", ["abc", "1.2.3", "12,34", "1e3", "NaN", "inf", float("inf"),
                                   Decimal("NaN"), True, "元", "--1"])
def test_amount_non_numeric_is_format_error(value):
    invalid(parse_amount_fen, value, "amount_format", "amt")


@pytest.mark.parametrize("value", [None, "", float("nan")])
def test_amount_blank_is_required(value):
    invalid(parse_amount_fen, value, "amount_required", "amt")


def test_amount_absurdly_large_is_refused():
    invalid(parse_amount_fen, "100000000.01", "amount_too_large", "amt")
    invalid(parse_amount_fen, 1e300, "amount_too_large", "amt")


def test_amount_above_standard_names_the_standard():
    assert parse_amount_fen("183", max_fen=18300) == 18300
    err = invalid(parse_amount_fen, "183.01", "amount_above_standard", "amt", max_fen=18300)
    assert "183.00元" in err.message


def test_format_fen_and_yuan():
    assert format_fen(18300) == "183.00"
    assert format_fen(5) == "0.05"
    assert format_fen(-500) == "-5.00"
    assert format_yuan(18350) == "183.50元"


# ---------------------------------------------------------------- dates and periods

@pytest.mark.parametrize("value", [
    "2026-11-05", "2026/11/5", "2026.11.5", "20261105", "2026年11月5日", " 2026-11-05 ", "2026-11-05 00:00:00",
    date(2026, 11, 5), datetime(2026, 11, 5, 13, 30), 46331, 46331.75, 20261105, "２０２６-１１-０５",
])
def test_parse_date_accepted_forms(value):
    assert parse_date(value) == date(2026, 11, 5)


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "05/11/2026", "明天", "2026-11", 12345, 1.5])
def test_parse_date_bad_values_are_format_errors_with_example(value):
    err = invalid(parse_date, value, "date_format", "d")
    assert "2026-11-05" in err.message


def test_parse_date_blank_is_required():
    invalid(parse_date, None, "date_required", "d")


@pytest.mark.parametrize(("value", "period"), [
    ("2026-11", "2026-11"), ("2026/11", "2026-11"), ("2026-1", "2026-01"), ("202611", "2026-11"),
    ("2026年11月", "2026-11"), ("2026年11月份", "2026-11"), (date(2026, 11, 5), "2026-11"),
    (datetime(2026, 11, 5, 8), "2026-11"), ("2026-11-05", "2026-11"), ("2026年11月5日", "2026-11"),
    (202611, "2026-11"), (46331, "2026-11"),
    ("2026", "2026"), (2026, "2026"), ("2026年", "2026"), ("2026年度", "2026"),
    ("2026Q1", "2026-Q1"), ("2026-q4", "2026-Q4"), ("2026年第1季度", "2026-Q1"), ("2026年第三季度", "2026-Q3"),
    ("2026H1", "2026-H1"), ("2026-H2", "2026-H2"), ("2026年上半年", "2026-H1"), ("2026年下半年", "2026-H2"),
])
def test_parse_period_canonical_forms(value, period):
    assert parse_period(value) == period


@pytest.mark.parametrize("value", ["2026-13", "202613", "2026-00", "1999-12", "2101", "2026Q5", "2026H3",
                                   "11月", "abc", "2026年13月"])
def test_parse_period_bad_month_year_or_shape_is_refused(value):
    invalid(parse_period, value, "period_format", "p")


def test_parse_period_blank_is_required():
    invalid(parse_period, "", "period_required", "p")


# ---------------------------------------------------------------- names and text

@pytest.mark.parametrize(("value", "name"), [
    ("张三", "张三"), (" 张 三 ", "张三"), ("张\u3000三", "张三"), ("刘䶮", "刘䶮"), ("王\U00020000", "王\U00020000"),
    ("阿卜杜·热合曼", "阿卜杜·热合曼"), ("阿卜杜•热合曼", "阿卜杜·热合曼"), ("阿卜杜・热合曼", "阿卜杜·热合曼"),
    ("阿卜杜 · 热合曼", "阿卜杜·热合曼"), ("John  Smith", "John Smith"), ("Ｊｏｈｎ Smith", "John Smith"),
])
def test_name_normalisation(value, name):
    assert normalize_name(value) == name


@pytest.mark.parametrize("value", ["张三1", "张-三", "·张三", "张三·", "张··三", 12345, "张三!"])
def test_name_digits_and_symbols_are_refused(value):
    invalid(normalize_name, value, "name_format", "xm")


def test_name_too_short_or_too_long_is_refused():
    invalid(normalize_name, "张", "name_length", "xm")
    invalid(normalize_name, "张" * 31, "name_length", "xm")
    assert normalize_name("张" * 30) == "张" * 30


def test_name_blank_is_required():
    invalid(normalize_name, "\u3000", "name_required", "xm")


def test_normalize_text_trims_and_enforces_length():
    assert normalize_text("  备注  ", field="remark", max_len=2) == "备注"
    assert normalize_text("  ", field="remark", max_len=2, required=False) is None
    assert normalize_text(None, field="remark", max_len=2, required=False) is None
    invalid(normalize_text, "", "text_required", "remark", max_len=2)
    err = invalid(normalize_text, "备注太长", "text_too_long", "remark", max_len=2, label="备注")
    assert "备注最多2个字" in err.message


def test_nan_counts_as_blank_everywhere():
    invalid(normalize_mobile, float("nan"), "mobile_required", "tel")
    invalid(parse_date, float("nan"), "date_required", "d")
