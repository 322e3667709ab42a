"""Shared CSV helpers: money spellings, nulls, header finding, footers, errors with lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foliosync.errors import ImportFileError
from foliosync.ledger.csvtools import (
    data_rows,
    decode,
    find_header,
    parse_decimal,
    read_rows,
    trade_cash,
    us_security,
)
from foliosync.ledger.taxonomy import AssetCategory


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,259.59", Decimal("1259.59")),
        ("-$694.48", Decimal("-694.48")),
        ("$-694.48", Decimal("-694.48")),
        ("+$11,945.20", Decimal("11945.20")),
        ("($44,000.00)", Decimal("-44000.00")),
        ("(1.00)", Decimal("-1.00")),
        ("+31.10%", Decimal("31.10")),
        (" 2500.00", Decimal("2500.00")),
        ("1,000", Decimal(1000)),
        ("--", None),
        ("-", None),
        ("N/A", None),
        ("n/a", None),
        ("", None),
    ],
)
def test_money_spellings(raw: str, expected: Decimal | None) -> None:
    assert parse_decimal(raw, filename="f.csv", line=3, column="Amount") == expected


def test_bad_number_names_file_line_and_column() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_decimal("12abc", filename="f.csv", line=7, column="Amount")
    assert str(caught.value).startswith("f.csv, line 7: column 'Amount'")


def test_bom_and_windows_1252_are_decoded() -> None:
    assert decode("\ufeffa,b\r\n".encode(), "f.csv") == "a,b\r\n"
    assert decode("caf\u00e9,1\n".encode("cp1252"), "f.csv") == "caf\u00e9,1\n"


def test_rows_remember_their_first_line_across_quoted_newlines() -> None:
    rows = read_rows('h1,h2\n"multi\nline",2\n\nlast,3\n', "f.csv")
    assert [(r.line, r.cells) for r in rows] == [
        (1, ("h1", "h2")),
        (2, ("multi\nline", "2")),
        (4, ()),
        (5, ("last", "3")),
    ]


def test_header_found_after_lead_rows_and_matched_by_name() -> None:
    rows = read_rows(",,,\n,,,\nRun Date,Action,Price ($),Amount ($)\n01/02/2025,X,1,2\n", "f.csv")
    header, start = find_header(rows, ["Run Date", "Amount"], "f.csv", what="test export")
    assert header.line == 3 and start == 3
    assert header.index["price"] == 2 and header.index["amount"] == 3


def test_footer_ends_data_only_after_a_blank_row() -> None:
    rows = read_rows("d\n1\n2\n,\nDisclaimer text\n3\n", "f.csv")
    assert [r.cells[0] for r in data_rows(rows, 1, lambda r: r.first().isdigit(), "f.csv")] == ["1", "2"]
    rows = read_rows("d\n1\nnot data\n2\n", "f.csv")
    with pytest.raises(ImportFileError) as caught:
        list(data_rows(rows, 1, lambda r: r.first().isdigit(), "f.csv"))
    assert caught.value.line == 3


def test_trade_cash_keeps_the_broker_amount_and_checks_it() -> None:
    fair = trade_cash(Decimal("1.6531"), Decimal("420.10"), Decimal(1), Decimal("-694.48"), Decimal(0))
    assert (fair.gross, fair.net, fair.consistent) == (Decimal("-694.48"), Decimal("-694.48"), True)
    off = trade_cash(Decimal(10), Decimal(50), Decimal(1), Decimal("-500.00"), Decimal("-0.65"))
    assert (off.gross, off.net, off.consistent) == (Decimal("-499.35"), Decimal("-500.00"), False)
    derived = trade_cash(Decimal(-1), Decimal("2.5"), Decimal(100), None, Decimal("-0.66"))
    assert (derived.gross, derived.net) == (Decimal(250), Decimal("249.34"))


def test_us_security_kinds() -> None:
    assert us_security("brk/b").key == "STK:BRK.B:USD"
    assert us_security("SWVXX").asset_category is AssetCategory.FUND
    old = us_security("09070K200")
    assert (old.cusip, old.asset_category) == ("09070K200", AssetCategory.STK)
