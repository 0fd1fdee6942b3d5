"""The rural commercial bank's format (农商银行格式, "rcb"): the generic fields in the same order, encoded GB18030,
separated by ``|``, header tag ``HEAD``, detail tag ``DTL``, and amounts in yuan with two decimals (183.00), both
in the header's total and in each line.
"""
from __future__ import annotations

from dataclasses import dataclass

from onecard.payments.bankformats.base import BankFormat, bad_amount


@dataclass(frozen=True)
class YuanFormat(BankFormat):
    """Amounts written in yuan with exactly two decimals; everything else as the shared machinery does it."""

    def money(self, fen: int) -> str:
        return f"{fen // 100}.{fen % 100:02d}"

    def parse_money(self, text: str, where: str) -> int:
        text = text.strip()
        whole, _, frac = text.partition(".")
        if len(frac) != 2 or not whole.isdigit() or not frac.isdigit():
            raise bad_amount(text, where)
        return int(whole) * 100 + int(frac)


RCB = YuanFormat(code="rcb", label="农商银行格式", encoding="gb18030", sep="|", header_tag="HEAD", detail_tag="DTL")
