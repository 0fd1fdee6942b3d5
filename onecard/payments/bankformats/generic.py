"""The generic format (通用格式): every bank whose banks.bank_format is "generic". Encoded GBK, comma-separated,
amounts in fen, lines end CRLF:

    payment file
      H,<batch number>,<count>,<total fen>,<sha256 of the detail bytes>
      D,<line id>,<payee name>,<account>,<amount fen>,<project code>,<period>
    result file
      H,<batch number>,<count>,<total fen>,<sha256 of the detail bytes>
      D,<line id>,<amount fen>,<S|F>,<failure code>,<bank's reason text>[,<value date YYYYMMDD>]

It writes and reads entirely through the shared machinery (base.py).
"""
from __future__ import annotations

from onecard.payments.bankformats.base import BankFormat

GENERIC = BankFormat(code="generic", label="通用格式", encoding="gbk", sep=",", header_tag="H", detail_tag="D")
