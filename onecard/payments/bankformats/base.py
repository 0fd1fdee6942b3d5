"""The machinery every bank format shares: the header line with its SHA-256 checksum, streaming the payment file
in chunks, reading a result file block by block, value dates and the failure codes (FAILURE_CODES).

A format (``BankFormat``) is a small record: encoding, separator, record tags and how an amount is written. Every
format writes and reads through the functions here unless its module overrides a method.

The checksum is the SHA-256 (hex) of the encoded detail lines exactly as they appear in the file, CRLFs included.
A name the format's encoding cannot hold (rare characters such as 䶮 in GBK) is refused with its line, never
written as '?'. The value date (入账日期) of a result line is optional (a bank that leaves it out gets the
import's time as the line's date) and must lie between the day the payment file was sent and today.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from onecard.errors import Invalid

FAILURE_CODES = {
    "frozen": "账户冻结",
    "lost": "卡片挂失",
    "name_mismatch": "户名不符",
    "closed": "账户已销户",
    "no_account": "账号不存在",
    "inactive": "账户未激活",
    "other": "其他原因",
}


@dataclass(frozen=True)
class BankFormat:
    """One bank file format: the default writes amounts in fen; a format that differs overrides a method."""
    code: str           # recorded on the batch at export (batches.bank_layout) and named by banks.bank_format
    label: str          # 中文, for pages
    encoding: str
    sep: str
    header_tag: str
    detail_tag: str

    def money(self, fen: int) -> str:
        return str(fen)

    def parse_money(self, text: str, where: str) -> int:
        text = text.strip()
        if not text.isdigit():
            raise bad_amount(text, where)
        return int(text)

    def write_payment_file(self, path: str, batch_number: str, count: int, total_fen: int,
                           chunks: Iterable[list[tuple]], *, project_code: str | None, period: str) -> str:
        return write_payment_file(path, self, batch_number, count, total_fen, chunks, project_code=project_code,
                                  period=period)

    def write_result_file(self, batch_number: str, results: list[tuple]) -> bytes:
        return write_result_file(self, batch_number, results)

    def parse_result_file(self, stream: io.BufferedIOBase):
        return parse_result_file(self, stream)


def bad_amount(text: str, where: str) -> Invalid:
    return Invalid(f"{where}金额格式不正确：{text[:20]}", code="result_file_format", field="file")


def _clean_field(value: str, fmt: BankFormat) -> str:
    # Separators and line breaks inside a value would shift columns; names never contain them legitimately.
    return value.replace(fmt.sep, " ").replace("\r", " ").replace("\n", " ")


def write_payment_file(path: str, fmt: BankFormat, batch_number: str, count: int, total_fen: int,
                       chunks: Iterable[list[tuple]], *, project_code: str | None, period: str) -> str:
    """Write the file at ``path``; ``chunks`` yields lists of (line id, payee name, account, amount fen).

    Details go to a side file first (hashed as written), then the header with the checksum is put in front;
    memory stays flat whatever the batch size (one chunk at a time). Returns the checksum.
    """
    digest = hashlib.sha256()
    body_path = path + ".body"
    written, written_fen = 0, 0
    # owner-only from the start: the details hold every payee's full account
    os.close(os.open(body_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        written, written_fen = _write_details(body_path, fmt, chunks, digest, project_code or "", period)
    except BaseException:
        if os.path.exists(body_path):
            os.remove(body_path)
        raise
    if written != count or written_fen != total_fen:
        os.remove(body_path)
        from onecard.errors import Conflict
        raise Conflict("导出的明细与批次合计不一致，已停止导出", code="totals_mismatch")
    checksum = digest.hexdigest()
    header = fmt.sep.join([fmt.header_tag, batch_number, str(count), fmt.money(total_fen), checksum]) + "\r\n"
    with open(path, "wb") as out, open(body_path, "rb") as body:
        out.write(header.encode(fmt.encoding))
        while chunk := body.read(1 << 20):
            out.write(chunk)
    os.remove(body_path)
    return checksum


def _unencodable(line_id: int, fmt: BankFormat) -> Invalid:
    return Invalid(f"明细 {line_id} 的户名含有该银行编码（{fmt.encoding.upper()}）无法表示的字，"
                   "请与银行确认户名写法后再导出", code="unencodable_character", field="payee_name")


class _MoneyTexts(dict):
    """Amount (fen) -> its text in the fmt, formatted once: a batch pays few distinct amounts."""

    def __init__(self, fmt: BankFormat):
        super().__init__()
        self.fmt = fmt

    def __missing__(self, fen: int) -> str:
        if len(self) >= 10000:
            self.clear()
        text = self[fen] = self.fmt.money(fen)
        return text


def _write_details(body_path: str, fmt: BankFormat, chunks, digest, project_code: str, period: str) -> tuple[int, int]:
    written, written_fen = 0, 0
    sep, encoding = fmt.sep, fmt.encoding
    head = f"{fmt.detail_tag}{sep}"
    tail = f"{sep}{project_code}{sep}{period}\r\n"
    money = _MoneyTexts(fmt)
    with open(body_path, "wb") as body:
        for chunk in chunks:
            names = "\x00".join(row[1] or "" for row in chunk)
            if sep in names or "\r" in names or "\n" in names:
                chunk = [(line_id, _clean_field(name or "", fmt), account, amount)
                         for line_id, name, account, amount in chunk]
            parts = [f"{head}{line_id}{sep}{name or ''}{sep}{account}{sep}{money[amount]}{tail}"
                     for line_id, name, account, amount in chunk]
            written += len(parts)
            written_fen += sum(row[3] for row in chunk)
            try:
                data = "".join(parts).encode(encoding)
            except UnicodeEncodeError:
                # Name the first line that cannot be written (the chunk is encoded whole for speed).
                for row, part in zip(chunk, parts, strict=True):
                    try:
                        part.encode(encoding)
                    except UnicodeEncodeError:
                        raise _unencodable(row[0], fmt) from None
                raise
            digest.update(data)
            body.write(data)
    return written, written_fen


@dataclass
class ResultHeader:
    batch_number: str
    count: int
    total_fen: int
    checksum: str | None


def write_result_file(fmt: BankFormat, batch_number: str, results: list[tuple]) -> bytes:
    """A bank's result file (used by the demo, the tests and the benchmark's bank side).

    ``results``: (line id, amount fen, 'S' or 'F', failure code, reason text[, value date]).
    """
    lines = []
    for line_id, amount, flag, code, reason, *value_date in results:
        fields = [fmt.detail_tag, str(line_id), fmt.money(amount), flag, code or "", reason or ""]
        if value_date and value_date[0] is not None:
            fields.append(value_date[0].strftime("%Y%m%d"))
        lines.append(fmt.sep.join(fields) + "\r\n")
    body = "".join(lines).encode(fmt.encoding)
    total = sum(r[1] for r in results)
    header = fmt.sep.join([fmt.header_tag, batch_number, str(len(results)), fmt.money(total),
                              hashlib.sha256(body).hexdigest()]) + "\r\n"
    return header.encode(fmt.encoding) + body


def parse_result_file(fmt: BankFormat, stream: io.BufferedIOBase):
    """Read a result file: returns (header, iterator of detail tuples (see parse_result_item), digest).

    The iterator validates each line as it goes and feeds the checksum; refusals are Invalid with the line number.
    """
    first = stream.readline()
    try:
        head = first.decode(fmt.encoding).rstrip("\r\n").split(fmt.sep)
    except UnicodeDecodeError:
        raise Invalid("回盘文件编码不正确", code="result_file_format", field="file") from None
    if len(head) != 5 or head[0] != fmt.header_tag:
        raise Invalid(f"回盘文件首行应为 {fmt.header_tag}{fmt.sep}批次号{fmt.sep}笔数{fmt.sep}金额"
                      f"{fmt.sep}校验值", code="result_file_format", field="file")
    if not head[2].isdigit():
        raise Invalid("回盘文件首行笔数格式不正确", code="result_file_format", field="file")
    header = ResultHeader(head[1].strip(), int(head[2]), fmt.parse_money(head[3], "首行"), head[4].strip().lower())
    digest = hashlib.sha256()

    def details():
        sep, tag, encoding = fmt.sep, fmt.detail_tag, fmt.encoding
        # A well-formed block of lines is split by one regular expression over its decoded text; anything else
        # (a blank or malformed line, a bad byte, the last line without its end) goes through the line-by-line
        # reading, which accepts a superset and names the line it refuses. Both give the same items.
        f = re.escape(sep)
        field = f"([^{f}\\r\\n]*)"
        well_formed = re.compile(f"^{re.escape(tag)}{f}([0-9]+){f}{field}{f}{field}{f}{field}{f}{field}"
                                 f"(?:{f}([0-9]{{8}}))?\\r?\\n", re.MULTILINE)
        # A bank answers few distinct amounts: parse each text once (refusals still name their line).
        money: dict[str, int] = {}
        days: dict[str, str | None] = {"": None}
        no = 1

        def amount_of(text: str, no: int) -> int:
            amount = money.get(text)
            if amount is None:
                amount = fmt.parse_money(text, f"第{no}行")
                if len(money) < 10000:
                    money[text] = amount
            return amount

        def day_of(text: str, no: int) -> str | None:
            day = days.get(text, False)
            if day is False:
                parsed = parse_value_date(text, f"第{no}行")
                day = parsed.isoformat() if parsed else None
                if len(days) < 10000:
                    days[text] = day
            return day

        for block in _line_blocks(stream):
            matches = None
            if block.endswith(b"\n"):
                try:
                    matches = well_formed.findall(block.decode(encoding))
                except UnicodeDecodeError:
                    matches = None
                if matches is not None and len(matches) != block.count(b"\n"):
                    matches = None
            if matches is not None:
                digest.update(block)
                for line_id, amount, flag, code, reason, day in matches:
                    no += 1
                    yield parse_result_item(int(line_id), amount_of(amount, no), flag.strip(), code.strip(),
                                            reason.strip(), where=f"第{no}行", seq=no, value_date=day_of(day, no))
                continue
            for raw in io.BytesIO(block):
                no += 1
                if not raw.strip():
                    continue
                digest.update(raw)
                try:
                    parts = raw.decode(encoding).rstrip("\r\n").split(sep)
                except UnicodeDecodeError:
                    raise Invalid(f"第{no}行编码不正确", code="result_file_format", field="file") from None
                if len(parts) not in (6, 7) or parts[0] != tag or not parts[1].strip().isdigit():
                    raise Invalid(f"第{no}行格式不正确", code="result_file_format", field="file")
                day = day_of(parts[6].strip(), no) if len(parts) == 7 else None
                yield parse_result_item(int(parts[1]), amount_of(parts[2], no), parts[3].strip(), parts[4].strip(),
                                        parts[5].strip(), where=f"第{no}行", seq=no, value_date=day)

    return header, details(), digest


def _line_blocks(stream, size: int = 1 << 20):
    """The stream's remaining bytes in blocks of whole lines (about ``size`` each; the last may lack its end)."""
    pending = b""
    while True:
        chunk = stream.read(size)
        if not chunk:
            if pending:
                yield pending
            return
        chunk = pending + chunk
        cut = chunk.rfind(b"\n") + 1
        pending = chunk[cut:]
        if cut:
            yield chunk[:cut]


def parse_value_date(text: str, where: str) -> date | None:
    """A result line's value date, YYYYMMDD (blank: none given)."""
    if not text:
        return None
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise Invalid(f"{where}入账日期应为8位日期，如 20261105", code="result_file_format", field="file") from None


def parse_result_item(line_id: int, amount_fen: int, flag: str, code: str, reason: str, *, where: str,
                      seq: int, value_date: date | str | None = None) -> tuple:
    """One result, from a file or the JSON API: S (paid) or F (failed, with a known failure code).

    Returns (seq, line id, amount fen, outcome, failure code, failure reason, value date as ISO text): the
    staging row's order (a date as text is how SQLite stores it, and PostgreSQL casts it). Whether the
    value date is plausible for the batch is checked with the whole file (service).
    """
    if isinstance(value_date, date):
        value_date = value_date.isoformat()
    flag = flag.upper()
    if flag in ("S", "PAID"):
        return (seq, line_id, amount_fen, "paid", None, None, value_date)
    if flag not in ("F", "FAILED"):
        raise Invalid(f"{where}结果应为 S（成功）或 F（失败）", code="result_file_format", field="file")
    if code not in FAILURE_CODES:
        raise Invalid(f"{where}失败原因代码“{code[:20]}”不在约定范围内（{'、'.join(FAILURE_CODES)}）",
                      code="unknown_failure_code", field="failure_code")
    text = reason[:150] if reason else ""
    label = FAILURE_CODES[code]
    return (seq, line_id, amount_fen, "failed", code, f"{label}（{text}）" if text and text != label else label,
            value_date)
