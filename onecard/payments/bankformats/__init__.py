"""Bank file formats (代发文件 and 回盘文件): one module per format, one registry, BANK_FORMATS.

Which bank uses which format is data: ``banks.bank_format`` (seeded by init-db from onecard/reference/data.py:
RCB "rcb", the others "generic"), so a county adds a bank that uses an existing format without code. The format is
recorded on the batch when its payment file is exported (``batches.bank_layout``), and the bank's result file is
read with that recorded format, so changing a bank's format never breaks a batch already sent.

To add a seventh bank with its own layout:
1. one new module here, e.g. ``xyz.py``, declaring ``XYZ = BankFormat(code="xyz", label=..., encoding=...,
   sep=..., header_tag=..., detail_tag=...)``; subclass BankFormat and override ``money``/``parse_money`` (as
   rcb.py does) or ``write_payment_file``/``write_result_file``/``parse_result_file`` only where it differs;
2. one entry in BANK_FORMATS below;
3. tests in tests/onecard/payments/test_export.py (add the format to the parametrized round trips);
then set the bank's ``bank_format`` to "xyz" (data, no code: reference data for a new county, an UPDATE for an
existing one).
"""
from __future__ import annotations

from onecard.errors import Conflict
from onecard.payments.bankformats.base import (
    FAILURE_CODES,
    BankFormat,
    ResultHeader,
    parse_result_file,
    parse_result_item,
    parse_value_date,
    write_payment_file,
    write_result_file,
)
from onecard.payments.bankformats.generic import GENERIC
from onecard.payments.bankformats.rcb import RCB

BANK_FORMATS: dict[str, BankFormat] = {"generic": GENERIC, "rcb": RCB}

__all__ = ["BANK_FORMATS", "FAILURE_CODES", "GENERIC", "RCB", "BankFormat", "ResultHeader", "format_named",
           "parse_result_file", "parse_result_item", "parse_value_date", "write_payment_file", "write_result_file"]


def format_named(code: str | None) -> BankFormat:
    """The registered format with this code; a bank or batch naming an unknown one is refused, never guessed."""
    fmt = BANK_FORMATS.get(code or "")
    if fmt is None:
        raise Conflict(f"银行文件格式“{code}”未登记，请联系管理员", code="bank_format_unknown", field="bank_format")
    return fmt
