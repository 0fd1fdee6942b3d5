"""The one place input is checked and normalised, whichever door it came through.

HTTP APIs, spreadsheet uploads (about a million rows) and the CLI all call these
functions, so they are plain Python with regexes and tables built once at import:
no Flask, no database, no heavy per-call objects. Each ``normalize_*``/``parse_*``
returns the canonical form or raises :class:`~onecard.errors.Invalid` with a stable
snake_case ``code``, the caller's ``field`` and a Chinese message that says what is
wrong and how to fix it. Messages never echo ID or card numbers: they end up in logs
and error reports.

Spreadsheet habits shape several rules: a float NaN (how pandas spells an empty cell)
counts as blank, and long numbers that passed through a numeric cell (floats,
``3.70831E+17``, ``...1234.0``) are refused as precision-lost rather than "wrong", so
the person is told to format the column as text instead of hunting for a typo.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from onecard.errors import Invalid

__all__ = [
    "ETHNIC_GROUPS", "ethnicity_name", "format_fen", "format_yuan", "id_birth_date", "id_birth_year", "id_gender",
    "luhn_check_digit", "make_id_number", "normalize_bank_account", "normalize_bank_card",
    "normalize_ethnicity", "normalize_id_number", "normalize_mobile", "normalize_name",
    "normalize_text", "parse_amount_fen", "parse_date", "parse_period",
]

# Full-width ASCII (what Chinese IMEs type) -> ASCII; ideographic space -> space; zero-width
# characters that ride along with copy-paste from web pages/Word are dropped; dash look-alikes
# become "-" so phone/card separators strip uniformly; full-width yen -> ¥.
_FW = {0xFF01 + i: 0x21 + i for i in range(94)}
_FW.update({0x3000: 0x20, 0xFFE5: 0xA5, 0x2212: 0x2D})
_FW.update({c: 0x2D for c in range(0x2010, 0x2016)})
_FW.update(dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)))
_PRECISION_MSG = "精度丢失，请将该列设置为文本格式后重新填写"


def _fail(code: str, field: str | None, message: str) -> NoReturn:
    raise Invalid(message, code=code, field=field)


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def _clean(value: object, drop: str = "") -> str:
    """str(value), full-width folded, all whitespace (and the ``drop`` characters) removed."""
    s = value if isinstance(value, str) else str(value)
    if not s.isascii():  # the common case is pure ASCII: skip the translate
        s = s.translate(_FW)
    s = "".join(s.split())
    for ch in drop:
        s = s.replace(ch, "")
    return s


# ---------------------------------------------------------------- ID number (GB 11643-1999)
_ID_RE = re.compile(r"\d{17}[\dX]")
_ID_CHARS_RE = re.compile(r"[\dX]+")
_SCI_RE = re.compile(r"[+-]?\d+(?:\.\d*)?E[+-]?\d+")
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split())
_MIN_BIRTH = date(1900, 1, 1)


def _id_check_char(body17: str) -> str:
    # ISO 7064 MOD 11-2: weights are 2**(17-i) mod 11, and 13 == 2 (mod 11), so reading the
    # 17 digits as a base-13 number yields the weighted sum mod 11 in one C-level int().
    c = (1 - 2 * int(body17, 13)) % 11
    return "X" if c == 10 else str(c)


def normalize_id_number(value: object, *, field: str = "id_number") -> str:
    """Return an 18-character 公民身份号码 (digits, final X upper-case) or raise Invalid.

    Codes: id_required, id_precision_lost, id_old_15_digit, id_length, id_format,
    id_area_code, id_birth_date, id_checksum.
    """
    if value.__class__ is str and value.isascii() and _ID_RE.fullmatch(value):
        # Fast path for the common clean cell (a million-row upload): exactly what the full path
        # below returns for such a string; anything it would refuse falls through to it.
        if value[:2] in _PROVINCES and value[2:6] != "0000" and _id_check_char(value[:17]) == value[17]:
            born = _BIRTH_OK.get(value[6:14])
            if born is None:
                born = _birth_ok(value[6:14])
            if born:
                return value
    if _is_blank(value):
        _fail("id_required", field, "身份证号不能为空，请填写18位公民身份号码")
    if isinstance(value, float):  # 18 digits never survive a float (53-bit mantissa)
        _fail("id_precision_lost", field, "身份证号被存成了数字，" + _PRECISION_MSG)
    from_int = isinstance(value, int) and not isinstance(value, bool)
    if from_int and value > 0:
        n = len(str(value))
        # 15 digits fit a numeric cell exactly, so that really is an old ID; anything
        # longer went through Excel's 15 significant digits and may be rounded.
        if n >= 16 and n != 18:
            _fail("id_precision_lost", field, "身份证号被存成了数字，" + _PRECISION_MSG)
    s = _clean(value).upper()
    if _SCI_RE.fullmatch(s) or "." in s:
        _fail("id_precision_lost", field, "身份证号被存成了数字，" + _PRECISION_MSG)
    if not _ID_RE.fullmatch(s):
        if len(s) == 15 and s.isdigit():
            _fail("id_old_15_digit", field, "15位旧身份证号已停用，请填写18位号码")
        if not _ID_CHARS_RE.fullmatch(s) or len(s) == 18:  # 18 long but X not last
            _fail("id_format", field, "身份证号只能由数字组成，最后一位可以是X，请删除其他字符")
        _fail("id_length", field, f"身份证号应为18位，当前为{len(s)}位，请核对是否多填或漏填")
    if s[:2] not in _PROVINCES or s[2:6] == "0000":
        _fail("id_area_code", field, "身份证号前6位地区码无效，请核对号码")
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        _fail("id_birth_date", field, "身份证号第7至14位的出生日期不存在，请核对号码")
    if born < _MIN_BIRTH or born > date.today():
        _fail("id_birth_date", field, "身份证号中的出生日期早于1900年或晚于今天，请核对号码")
    if _id_check_char(s[:17]) != s[17]:
        # Excel keeps 15 significant digits, so a number cell turns the tail into "000".
        if from_int or s.endswith("000"):
            _fail("id_precision_lost", field, "身份证号末尾几位被表格改成了0，" + _PRECISION_MSG)
        _fail("id_checksum", field, "身份证号校验位不符，请逐位核对号码是否抄错")
    return s


_BIRTH_OK: dict[str, bool] = {}


def _birth_ok(yyyymmdd: str) -> bool:
    """Whether an ID's 8 birth digits are a real date from 1900 up to today (memoised: about 45,000 days)."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    ok = _MIN_BIRTH <= born <= date.today()
    if ok and len(_BIRTH_OK) < 100_000:
        _BIRTH_OK[yyyymmdd] = ok   # only True is kept: a date up to today stays valid, a future one may not
    return ok


def id_birth_date(id18: str) -> date:
    """Birth date encoded in a normalised 18-digit ID number."""
    return date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def id_birth_year(id18: str) -> int:
    """Year of birth of a normalised 18-digit ID: the only part of the birth date stored in clear."""
    return int(id18[6:10])


def id_gender(id18: str) -> str:
    """"M" or "F": the 17th digit (sequence code) is odd for men, even for women."""
    return "M" if int(id18[16]) % 2 else "F"


def make_id_number(area6: str, birth: date, seq3: int) -> str:
    """Build a valid 18-digit ID (for demo data and tests) with its check character."""
    if len(area6) != 6 or not area6.isdigit() or not 0 <= seq3 <= 999:
        raise ValueError("area6 must be 6 digits and seq3 in 0..999")
    body = f"{area6}{birth:%Y%m%d}{seq3:03d}"
    return body + _id_check_char(body)


# ---------------------------------------------------------------- mobile
_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_INTEGRAL_TAIL_RE = re.compile(r"\.0+$")


def normalize_mobile(value: object, *, field: str = "mobile") -> str:
    """Return an 11-digit mainland mobile number. Codes: mobile_required, mobile_format."""
    if value.__class__ is str and value.isascii() and _MOBILE_RE.fullmatch(value):
        return value   # the clean cell: what the full path below returns for it
    if _is_blank(value):
        _fail("mobile_required", field, "手机号不能为空，请填写11位手机号码")
    if isinstance(value, float):  # 11 digits are exact in a float; fractions are not phones
        value = int(value) if math.isfinite(value) and value.is_integer() else "x"
    s = _clean(value, "-()")
    s = _INTEGRAL_TAIL_RE.sub("", s)  # "13812345678.0" from a CSV export of a number cell
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    elif len(s) == 13 and s.startswith("86"):
        s = s[2:]
    if not _MOBILE_RE.fullmatch(s):
        _fail("mobile_format", field, "手机号格式不正确，请填写以1开头的11位手机号码，不含区号和分机号")
    return s


# ---------------------------------------------------------------- bank cards and accounts
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: digit*2 with digits summed


_DOUBLE_DIGITS = str.maketrans("0123456789", "0246813579")


def _luhn_ok(s: str) -> bool:
    # Digit sums in C: the ASCII codes of the digits (doubled ones mapped through _DOUBLED) minus 48 each.
    total = sum(s[-1::-2].encode()) + sum(s[-2::-2].translate(_DOUBLE_DIGITS).encode()) - 48 * len(s)
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """Digit that makes ``partial + digit`` pass the Luhn check (for generators)."""
    if not partial.isdigit():
        raise ValueError("partial must be digits")
    total = sum(_DOUBLED[int(c)] for c in partial[-1::-2]) + sum(map(int, partial[-2::-2]))
    return str(-total % 10)


def _looks_like_card(s: str) -> bool:
    # UnionPay debit (the social security card's bank side), Visa and Mastercard all use Luhn.
    return 16 <= len(s) <= 19 and (s.startswith("62") or s[0] in "45")


def _digits(value: object, field: str, p: str, what: str, lo: int, hi: int, luhn: bool | str) -> str:
    if (value.__class__ is str and lo <= len(value) <= hi and value.isdigit() and value.isascii()
            and (luhn is False or (luhn == "auto" and not _looks_like_card(value)) or _luhn_ok(value))):
        return value   # the clean cell: what the full path below returns for it
    if _is_blank(value):
        _fail(f"{p}_required", field, f"{what}不能为空，请填写")
    if isinstance(value, float):  # cards have 16-19 digits; floats hold 15-16
        _fail(f"{p}_precision_lost", field, f"{what}被存成了数字，" + _PRECISION_MSG)
    from_int = isinstance(value, int) and not isinstance(value, bool)
    s = _clean(value, "-").upper()
    if _SCI_RE.fullmatch(s) or "." in s:
        _fail(f"{p}_precision_lost", field, f"{what}被存成了数字，" + _PRECISION_MSG)
    if not s.isdigit() or not s.isascii():
        _fail(f"{p}_format", field, f"{what}只能由数字组成，请删除字母和符号")
    if not lo <= len(s) <= hi:
        _fail(f"{p}_length", field, f"{what}应为{lo}至{hi}位数字，当前为{len(s)}位，请核对是否多填或漏填")
    if (luhn is True or (luhn == "auto" and _looks_like_card(s))) and not _luhn_ok(s):
        if len(s) > 15 and (from_int or s.endswith("000")):  # rounded by a numeric cell
            _fail(f"{p}_precision_lost", field, f"{what}末尾几位被表格改成了0，" + _PRECISION_MSG)
        _fail(f"{p}_luhn", field, "卡号校验不通过，请核对是否抄错")
    return s


def normalize_bank_card(value: object, *, field: str = "bank_card", luhn: bool | str = "auto") -> str:
    """Return a 12-19 digit card number. ``luhn``: "auto" (16-19 digits starting 62/4/5),
    True (always) or False (never). Codes: bank_card_required, bank_card_precision_lost,
    bank_card_format, bank_card_length, bank_card_luhn."""
    return _digits(value, field, "bank_card", "银行卡号", 12, 19, luhn)


def normalize_bank_account(value: object, *, field: str = "account") -> str:
    """Return an 8-32 digit account number, Luhn-checked only when it looks like a card.
    Codes: bank_account_required, _precision_lost, _format, _length, _luhn."""
    return _digits(value, field, "bank_account", "银行账号", 8, 32, "auto")


# ---------------------------------------------------------------- ethnicity (GB 3304-91)
ETHNIC_GROUPS: dict[str, str] = {f"{i:02d}": f"{n}族" for i, n in enumerate((
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 "
    "拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 "
    "塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺"
).split(), start=1)}
_ETHNIC_BY_NAME = {n: c for c, n in ETHNIC_GROUPS.items()}
_ETHNIC_BY_NAME.update({n[:-1]: c for c, n in ETHNIC_GROUPS.items()})  # "汉" -> "01"
_ETHNIC_NUM_RE = re.compile(r"\d{1,2}(?:\.0+)?")


def normalize_ethnicity(value: object, *, field: str = "ethnicity") -> str:
    """Return the 2-digit GB 3304 code from a name ("汉族"/"汉") or code ("01", "1", 1, 1.0).
    Codes: ethnicity_required, ethnicity_unknown."""
    if _is_blank(value):
        _fail("ethnicity_required", field, "民族不能为空，请填写民族全称，如“汉族”")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = _clean(value)
    if _ETHNIC_NUM_RE.fullmatch(s) and not isinstance(value, bool):
        code = f"{int(float(s)):02d}"
        if code in ETHNIC_GROUPS:
            return code
    elif s in _ETHNIC_BY_NAME:
        return _ETHNIC_BY_NAME[s]
    _fail("ethnicity_unknown", field, "无法识别的民族，请填写民族全称，如“汉族”“蒙古族”，或两位代码，如“01”")


def ethnicity_name(code: object) -> str:
    """Name with 族 ("汉族") for a code; accepts anything normalize_ethnicity does."""
    return ETHNIC_GROUPS[normalize_ethnicity(code)]


# ---------------------------------------------------------------- money (integer fen)
_AMOUNT_RE = re.compile(
    r"(?P<sign>[+-]?)(?:¥|RMB|CNY|人民币)?(?P<sign2>[+-]?)"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?(?:元|圆)?")
_MAX_YUAN = Decimal(100_000_000)


def parse_amount_fen(value: object, *, field: str = "amount", max_fen: int | None = None) -> int:
    """Parse yuan ("183", "1,830.00", "¥183", "183元", 183.1, Decimal) into integer fen.

    Floats go through ``Decimal(repr(v))`` so 183.1 is 18310 exactly. Codes: amount_required,
    amount_format, amount_not_positive, amount_too_large, amount_precision, amount_above_standard.
    """
    if _is_blank(value):
        _fail("amount_required", field, "金额不能为空，请填写金额，如 183.00")
    bad_format = "金额格式不正确，请只填写数字，如 183 或 183.50"
    if isinstance(value, bool):
        _fail("amount_format", field, bad_format)
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    elif isinstance(value, Decimal):
        d = value
    else:
        m = _AMOUNT_RE.fullmatch(_clean(value).upper())
        if not m or (m["int"] is None and not m["frac"]) or (m["sign"] and m["sign2"]):
            _fail("amount_format", field, bad_format)
        num = f"{m['sign'] or m['sign2']}{(m['int'] or '0').replace(',', '')}.{m['frac'] or '0'}"
        d = Decimal(num)
    if not d.is_finite():
        _fail("amount_format", field, bad_format)
    if d <= 0:
        _fail("amount_not_positive", field, "金额必须大于0，请填写正数金额")
    if d > _MAX_YUAN:
        _fail("amount_too_large", field, "金额超过1亿元，明显有误，请核对是否多填了位数")
    sign, digits, exp = d.as_tuple()
    while exp < -2 and digits and digits[-1] == 0:  # "183.000" is fine; exact, no rounding
        digits, exp = digits[:-1], exp + 1
    if exp < -2:
        _fail("amount_precision", field, "金额最多保留两位小数（精确到分），请核对")
    fen = int(d.scaleb(2))  # exact: <= 1e8 yuan with at most 2 significant decimals
    if max_fen is not None and fen > max_fen:
        _fail("amount_above_standard", field,
              f"金额{format_yuan(fen)}超过标准{format_yuan(max_fen)}，请按不超过标准的金额填写")
    return fen


def format_fen(fen: int) -> str:
    """183_00 -> "183.00"; -500 -> "-5.00" (no thousands separators)."""
    yuan, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{yuan}.{cents:02d}"


def format_yuan(fen: int) -> str:
    return format_fen(fen) + "元"


# ---------------------------------------------------------------- dates and periods
_TIME = r"(?:T?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"  # "2026-11-05 00:00:00" from str(datetime)
_DATE_RES = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?"),
)
_EXCEL_EPOCH = date(1899, 12, 30)  # 1900 system incl. Lotus's phantom 1900-02-29 (serial 60)


def _excel_serial(v: object) -> date | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and 20000 <= v <= 80000:
        return _EXCEL_EPOCH + timedelta(days=int(v))  # fraction is time of day
    return None


def parse_date(value: object, *, field: str = "date") -> date:
    """Accept date/datetime, "2026-11-05", "2026/11/5", "2026.11.5", "20261105",
    "2026年11月5日", or an Excel serial number (20000-80000). Codes: date_required, date_format."""
    if _is_blank(value):
        _fail("date_required", field, "日期不能为空，请按 2026-11-05 的格式填写")
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if (d := _excel_serial(value)) is not None:
        return d
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 20261105.0 from a number cell
    s = _clean(value)
    for rx in _DATE_RES:
        if m := rx.fullmatch(s):
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                _fail("date_format", field, f"日期“{s[:20]}”不存在，请核对年月日，如 2026-11-05")
    _fail("date_format", field, "日期格式无法识别，请按 2026-11-05 的格式填写")


_P_YEAR = re.compile(r"(\d{4})(?:年度?)?")
_P_MONTH = re.compile(r"(\d{4})(?:[-/.](\d{1,2})|(\d{2})|年(\d{1,2})月份?)")
_P_QUARTER = re.compile(r"(\d{4})(?:[-/]?Q([1-4])|年?第?([1-4一二三四])季度?)")
_P_HALF = re.compile(r"(\d{4})(?:[-/]?H([12])|年?([上下])半年)")
_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "上": 1, "下": 2}


def parse_period(value: object, *, field: str = "period") -> str:
    """Canonical period for a subsidy batch:

    * ``"YYYY-MM"`` month: "2026-11", "2026/11", "202611", "2026年11月", a date, a full date
    * ``"YYYY"`` year: "2026", "2026年", "2026年度"
    * ``"YYYY-Qn"`` quarter: "2026Q1", "2026-Q1", "2026年第1季度", "2026年一季度"
    * ``"YYYY-H1"``/``"YYYY-H2"`` half-year: "2026H1", "2026年上半年"

    Year 2000-2100, month 1-12. Codes: period_required, period_format.
    """
    fmt_msg = "期间格式无法识别，请按 2026-11（月）、2026-Q1（季度）、2026-H1（半年）或 2026（年）填写"
    if _is_blank(value):
        _fail("period_required", field, "期间不能为空，请按 2026-11 的格式填写")
    if isinstance(value, date):
        y, mo = value.year, value.month
    elif (d := _excel_serial(value)) is not None:
        y, mo = d.year, d.month
    else:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        s = _clean(value).upper()
        if m := _P_YEAR.fullmatch(s):
            y, mo, out = int(m[1]), None, m[1]
        elif m := _P_QUARTER.fullmatch(s):
            y, mo, out = int(m[1]), None, f"{m[1]}-Q{m[2] or _CN_NUM.get(m[3], m[3])}"
        elif m := _P_HALF.fullmatch(s):
            y, mo, out = int(m[1]), None, f"{m[1]}-H{m[2] or _CN_NUM[m[3]]}"
        elif m := _P_MONTH.fullmatch(s):
            y, mo = int(m[1]), int(m[2] or m[3] or m[4])
        else:
            try:
                d = parse_date(s, field=field)
            except Invalid:
                _fail("period_format", field, fmt_msg)
            y, mo = d.year, d.month
        if mo is None:
            if not 2000 <= y <= 2100:
                _fail("period_format", field, "期间年份应在2000至2100之间，请核对")
            return out
    if not 2000 <= y <= 2100:
        _fail("period_format", field, "期间年份应在2000至2100之间，请核对")
    if not 1 <= mo <= 12:
        _fail("period_format", field, "月份应在1至12之间，请按 2026-11 的格式填写")
    return f"{y:04d}-{mo:02d}"


# ---------------------------------------------------------------- names and free text
# CJK unified ideographs incl. Ext A (䶮 U+4DAE), compatibility, and Ext B-I (astral);
# 〇 appears in some registered names.
_CJK = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_NAME_RE = re.compile(rf"[{_CJK}{_LATIN}]+(?:[ ·][{_CJK}{_LATIN}]+)*")
_DOTS_RE = re.compile(r"\s*[\u00b7\u2022\u2027\u2219\u22c5\u30fb\uff65]\s*")
_CJK_SPACE_RE = re.compile(rf" (?=[{_CJK}])|(?<=[{_CJK}]) ")
_CJK_NAME_RE = re.compile(rf"[{_CJK}]{{2,30}}")


def normalize_name(value: object, *, field: str = "name") -> str:
    """Person name: CJK (with extensions), "·" between parts of minority names (•/・ folded
    to ·), or Latin letters with spaces; 2-30 characters. Codes: name_required, name_format,
    name_length."""
    if value.__class__ is str and _CJK_NAME_RE.fullmatch(value):
        return value   # 2-30 ideographs, nothing to fold or strip: what the full path below returns
    if _is_blank(value):
        _fail("name_required", field, "姓名不能为空，请填写与身份证一致的姓名")
    s = value if isinstance(value, str) else str(value)
    if not s.isascii():
        s = s.translate(_FW)
    s = _CJK_SPACE_RE.sub("", _DOTS_RE.sub("·", " ".join(s.split())))
    if not _NAME_RE.fullmatch(s):
        _fail("name_format", field, "姓名只能包含汉字、间隔点“·”或外文字母，请删除数字和其他符号")
    if not 2 <= len(s) <= 30:
        _fail("name_length", field, "姓名应为2至30个字，请填写与身份证一致的完整姓名")
    return s


def normalize_text(value: object, *, field: str, max_len: int, required: bool = True,
                   label: str = "此项") -> str | None:
    """Trimmed free text; None when blank and not required. ``label`` names the field in the
    message (e.g. "备注"). Codes: text_required, text_too_long."""
    s = "" if _is_blank(value) else (value if isinstance(value, str) else str(value)).strip()
    if not s:
        if required:
            _fail("text_required", field, f"{label}不能为空，请填写")
        return None
    if len(s) > max_len:
        _fail("text_too_long", field, f"{label}最多{max_len}个字，当前{len(s)}个字，请删减")
    return s


# ---------------------------------------------------------------- phone (mobile or landline)
_LANDLINE_RE = re.compile(r"(0\d{2,3})([2-9]\d{6,7})((?:转|EXT|#)\d{1,6})?")


def normalize_phone(value: object, *, field: str = "phone") -> str:
    """A mobile number (11 digits) or a landline with area code ("0537-4221234", optional 转分机).

    Contacts of departments are often office landlines. Codes: phone_required, phone_format.
    """
    if _is_blank(value):
        _fail("phone_required", field, "联系电话不能为空，请填写手机号或带区号的固定电话")
    try:
        return normalize_mobile(value, field=field)
    except Invalid:
        pass
    m = _LANDLINE_RE.fullmatch(_clean(value, "-()（）").upper())
    if not m:
        _fail("phone_format", field, "联系电话格式不正确，请填写11位手机号或带区号的固定电话，如 0537-4221234")
    return f"{m[1]}-{m[2]}{m[3] or ''}"
