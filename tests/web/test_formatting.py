from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from foliosync.web.formatting import (
    DASH,
    MINUS,
    age,
    compact_money,
    is_stale,
    number,
    percent,
    quantity,
    signed,
    signed_percent,
    tone,
    utc_text,
)

D = Decimal


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (D("12345.678"), 2, "12,345.68"),
        (D("-0.005"), 2, f"{MINUS}0.01"),  # half away from zero, as on a statement
        (D("0.004"), 2, "0.00"),
        (1234567, 0, "1,234,567"),
        (None, 2, DASH),
    ],
)
def test_number(value, places, expected):
    assert number(value, places) == expected


def test_signed_always_shows_a_sign_except_for_zero():
    assert signed(D("1234.5")) == "+1,234.50"
    assert signed(D("-17")) == f"{MINUS}17.00"
    assert signed(D("0.001")) == "0.00"
    assert signed(None) == DASH


def test_percentages():
    assert percent(D("0.1234")) == "12.3%"
    assert signed_percent(D("-0.0551")) == f"{MINUS}5.5%"
    assert signed_percent(D("0.2")) == "+20.0%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(D("200"), "200"), (D("0.500"), "0.5"), (D("-1234.125"), f"{MINUS}1,234.125"), (D("1E+3"), "1,000")],
)
def test_quantity_keeps_only_significant_decimals(value, expected):
    assert quantity(value) == expected


def test_compact_money_for_axes():
    assert [compact_money(v) for v in (950, 12_300, 2_500_000, -1_000, 0)] == [
        "$950",
        "$12.3k",
        "$2.5M",
        f"{MINUS}$1k",
        "$0",
    ]


def test_tone_names_the_css_class():
    assert [tone(D(3)), tone(D(-1)), tone(D(0)), tone(None)] == ["gain", "loss", "flat", "flat"]


def test_age_and_staleness():
    now = datetime(2025, 6, 16, 12, tzinfo=UTC)
    assert age(now - timedelta(seconds=30), now) == "just now"
    assert age(now - timedelta(minutes=5), now) == "5 min ago"
    assert age(now - timedelta(hours=3), now) == "3 h ago"
    assert age(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert age(date(2025, 6, 13), now) == "3 days ago"
    assert age(None, now) == "never"
    assert not is_stale(now - timedelta(days=3), now)
    assert is_stale(now - timedelta(days=5), now)
    assert is_stale(None, now)
    assert utc_text(datetime(2025, 6, 13, 21, tzinfo=UTC)) == "2025-06-13 21:00 UTC"
