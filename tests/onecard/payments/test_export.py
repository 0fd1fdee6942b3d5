"""The bank file's bulk paths: accounts decrypted in bulk, files written and read a chunk at a time."""
from __future__ import annotations

import hashlib
import io
from datetime import date

import pytest

from onecard.errors import Invalid
from onecard.payments import bankformats


@pytest.mark.parametrize("layout", [bankformats.GENERIC, bankformats.RCB])
def test_payment_file_written_in_chunks_is_the_documented_layout(tmp_path, layout):
    chunks = [[(1, "张三", "6223190000000000012", 18300), (2, "李,四|", "6223190000000000020", 5)],
              [(3, None, "6223190000000000038", 100001)]]
    path = str(tmp_path / "pay.csv")
    checksum = bankformats.write_payment_file(path, layout, "PB1", 3, 118306, iter(chunks), project_code="0501001",
                                            period="2026-10")
    data = open(path, "rb").read()
    head, body = data.split(b"\r\n", 1)
    assert hashlib.sha256(body).hexdigest() == checksum
    s = layout.sep
    assert head.decode(layout.encoding) == s.join([layout.header_tag, "PB1", "3", layout.money(118306), checksum])
    lines = body.decode(layout.encoding).split("\r\n")
    assert lines[-1] == ""
    assert lines[0] == s.join([layout.detail_tag, "1", "张三", "6223190000000000012", layout.money(18300), "0501001",
                               "2026-10"])
    # A separator inside a name is blanked, never shifts the columns.
    assert lines[1].split(s)[2] == "李,四|".replace(s, " ") and len(lines[1].split(s)) == 7
    assert lines[2].split(s)[2] == "" and lines[2].split(s)[4] == layout.money(100001)


def test_unencodable_name_is_refused_with_its_line_and_leaves_no_file(tmp_path):
    chunks = [[(1, "张三", "6223190000000000012", 100)], [(2, "王五", "6223190000000000020", 100),
                                                           (3, "刘䶮", "6223190000000000038", 100)]]
    path = str(tmp_path / "pay.csv")
    with pytest.raises(Invalid) as e:
        bankformats.write_payment_file(path, bankformats.GENERIC, "PB1", 3, 300, iter(chunks), project_code="X",
                                     period="2026-10")
    assert e.value.code == "unencodable_character" and "明细 3 " in e.value.message
    assert list(tmp_path.iterdir()) == []


def test_payment_file_refuses_when_rows_disagree_with_the_fixed_totals(tmp_path):
    from onecard.errors import Conflict
    with pytest.raises(Conflict):
        bankformats.write_payment_file(str(tmp_path / "p.csv"), bankformats.RCB, "PB1", 2, 200,
                                     iter([[(1, "张三", "1", 100)]]), project_code="X", period="2026-10")
    assert list(tmp_path.iterdir()) == []


def test_result_file_round_trip_gives_staging_tuples_and_names_bad_lines():
    data = bankformats.write_result_file(bankformats.RCB, "PB1", [(1, 18300, "S", "", "", date(2026, 11, 5)),
                                                              (2, 18300, "F", "frozen", ""),
                                                              (3, 5, "F", "other", "柜面核实")])
    assert b"DTL|1|183.00|S|||20261105\r\n" in data
    header, details, digest = bankformats.parse_result_file(bankformats.RCB, io.BytesIO(data))
    assert (header.batch_number, header.count, header.total_fen) == ("PB1", 3, 36605)
    assert list(details) == [(2, 1, 18300, "paid", None, None, "2026-11-05"),
                             (3, 2, 18300, "failed", "frozen", "账户冻结", None),
                             (4, 3, 5, "failed", "other", "其他原因（柜面核实）", None)]
    assert digest.hexdigest() == header.checksum
    bad = data.replace(b"DTL|2|183.00", b"DTL|2|183.0")
    header, details, _ = bankformats.parse_result_file(bankformats.RCB, io.BytesIO(bad))
    with pytest.raises(Invalid) as e:
        list(details)
    assert "第3行" in e.value.message


@pytest.mark.parametrize("layout", [bankformats.GENERIC, bankformats.RCB])
def test_result_file_blocks_and_odd_lines_read_the_same(layout):
    # Large enough for several read blocks; odd lines (blank, spaced, lower-case, no final line end) take the
    # line-by-line reading in their block and must give what the block reading gives elsewhere.
    n = 60000
    rows = [(i + 1, 18300 + i % 3, "F" if i % 97 == 5 else "S", "frozen" if i % 97 == 5 else "", "",
             date(2026, 11, 5 + i % 2) if i % 3 else None) for i in range(n)]
    data = bankformats.write_result_file(layout, "PB1", rows)
    header, details, digest = bankformats.parse_result_file(layout, io.BytesIO(data))
    plain = list(details)
    assert digest.hexdigest() == header.checksum and len(plain) == n
    assert plain[5] == (7, 6, 18302, "failed", "frozen", "账户冻结", "2026-11-06")
    assert plain[6] == (8, 7, 18300, "paid", None, None, None)
    head, body = data.split(b"\r\n", 1)
    lines = body.split(b"\r\n")[:-1]
    s = layout.sep.encode()
    odd = list(lines)
    odd[30000] = odd[30000].replace(s + b"S" + s, s + b"s" + s).replace(layout.detail_tag.encode() + s,
                                                                    layout.detail_tag.encode() + s + b" ", 1)
    spoiled_body = b"\r\n".join(odd[:20000]) + b"\r\n\r\n" + b"\r\n".join(odd[20000:])   # a blank line, no final end
    header, details, digest = bankformats.parse_result_file(layout, io.BytesIO(head + b"\r\n" + spoiled_body))
    items = list(details)
    assert len(items) == n
    assert items[:20000] == plain[:20000]
    assert [(seq - 1, *rest) for seq, *rest in items[20000:]] == [tuple(x) for x in plain[20000:]]
    # The checksum covers the detail lines as the bank wrote them, blank lines aside.
    odd_body = b"".join(line + b"\r\n" for line in odd[:-1]) + odd[-1]
    assert digest.hexdigest() == hashlib.sha256(odd_body).hexdigest()
