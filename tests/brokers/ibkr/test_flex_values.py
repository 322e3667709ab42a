"""Every date/time format a Flex query can be set to, and Flex number text (ibkr.md §B.1-§B.2)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.flex_values import FlexValueError, codes, to_date, to_datetime, to_decimal


@pytest.mark.parametrize(
    "text",
    [
        "20250115",
        "2025-01-15",
        "01/15/2025",
        "01/15/25",
        "15-Jan-25",
        "15-JAN-25",
        "20250115;093015",
        "2025-01-15;09:30:15",
        "2025-01-15, 09:30:15",
        "2025-01-15 09:30",
        "20250115093015",
    ],
)
def test_every_date_format_reads_the_same_day(text: str) -> None:
    assert to_date(text) == date(2025, 1, 15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # New York winter time is UTC-5, summer time UTC-4 (IB server time, ibkr.md §B.2).
        ("20250115;093015", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC)),
        ("20250715;093015", datetime(2025, 7, 15, 13, 30, 15, tzinfo=UTC)),
        ("2025-01-15;09:30:15", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC)),
        ("2013-03-05, 19:45:00", datetime(2013, 3, 6, 0, 45, tzinfo=UTC)),
        ("20130102 01:25:14", datetime(2013, 1, 2, 6, 25, 14, tzinfo=UTC)),
        ("2024-06-03 10:00:00", datetime(2024, 6, 3, 14, 0, tzinfo=UTC)),
        ("2025-01-15;0930", datetime(2025, 1, 15, 14, 30, tzinfo=UTC)),
        ("2025-01-15 09:30", datetime(2025, 1, 15, 14, 30, tzinfo=UTC)),
        ("20250115093015", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC)),
        ("01/15/2025;093015", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC)),
        ("15-Jan-25 09:30:15", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC)),
        ("20250115", datetime(2025, 1, 15, 5, 0, tzinfo=UTC)),  # date only: midnight in New York
        ("20250115;093015 EDT", datetime(2025, 1, 15, 13, 30, 15, tzinfo=UTC)),
        ("2025-01-15 09:30:15 +01:00", datetime(2025, 1, 15, 8, 30, 15, tzinfo=UTC)),
        ("2025-01-15;09:30:15Z", datetime(2025, 1, 15, 9, 30, 15, tzinfo=UTC)),
    ],
)
def test_date_times_become_utc(text: str, expected: datetime) -> None:
    value = to_datetime(text)
    assert value == expected
    assert value is not None and value.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "-", "--", "N/A", "MULTI", None])
def test_null_markers_are_none(text: str | None) -> None:
    assert to_date(text) is None
    assert to_datetime(text) is None
    assert to_decimal(text) is None


def test_day_month_dates_are_refused_with_advice() -> None:
    with pytest.raises(FlexValueError) as caught:
        to_date("15/01/2025")
    assert caught.value.hint is not None and "yyyy-MM-dd" in caught.value.hint


@pytest.mark.parametrize("text", ["2025-13-01", "yesterday", "2025/01/15/1", "32-Jan-25"])
def test_impossible_dates_raise(text: str) -> None:
    with pytest.raises(FlexValueError):
        to_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("-0.000005528", Decimal("-0.000005528")),
        ("(1.00)", Decimal("-1.00")),
        ("0", Decimal(0)),
        (" 12 ", Decimal(12)),
    ],
)
def test_numbers(text: str, expected: Decimal) -> None:
    assert to_decimal(text) == expected


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "0.0 (null)"])
def test_non_numbers_raise(text: str) -> None:
    with pytest.raises(FlexValueError):
        to_decimal(text)


def test_note_codes_tolerate_a_stray_separator() -> None:
    assert codes("P;") == {"P"}
    assert codes("C;O;P") == {"C", "O", "P"}
    assert codes("") == frozenset()
