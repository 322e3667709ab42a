"""How numbers and times read on the pages: grouped digits, explicit signs, a real minus sign.

Gains and losses never rely on colour alone: every signed figure carries "+" or a minus sign (U+2212, which
screen readers say as "minus"), and `tone()` gives the CSS class that colours it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

MINUS = "\u2212"
DASH = "\u2014"  # shown for a missing value


def _quantize(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def number(value: Decimal | float | int | None, places: int = 2) -> str:
    """12345.678 -> '12,345.68'; negative numbers get a real minus sign; None -> an em dash."""
    if value is None:
        return DASH
    amount = _quantize(Decimal(str(value)), places)
    text = f"{abs(amount):,.{places}f}"
    return f"{MINUS}{text}" if amount < 0 else text


def signed(value: Decimal | float | int | None, places: int = 2) -> str:
    """Always a sign: '+1,234.50', '-17.00' (with U+2212), '0.00'."""
    if value is None:
        return DASH
    amount = _quantize(Decimal(str(value)), places)
    text = f"{abs(amount):,.{places}f}"
    if amount > 0:
        return f"+{text}"
    if amount < 0:
        return f"{MINUS}{text}"
    return text


def percent(fraction: Decimal | float | None, places: int = 1) -> str:
    """A share as a percentage: 0.1234 -> '12.3%'."""
    if fraction is None:
        return DASH
    return f"{number(Decimal(str(fraction)) * 100, places)}%"


def signed_percent(fraction: Decimal | float | None, places: int = 1) -> str:
    if fraction is None:
        return DASH
    return f"{signed(Decimal(str(fraction)) * 100, places)}%"


def quantity(value: Decimal | None) -> str:
    """Quantities keep their significant decimals only: 200, 0.5, 1,234.125."""
    if value is None:
        return DASH
    text = format(value, "f")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    sign = MINUS if whole.startswith("-") else ""
    grouped = f"{int(whole.lstrip('-') or 0):,}"
    return f"{sign}{grouped}.{fraction}" if fraction else f"{sign}{grouped}"


def compact_money(value: Decimal | float) -> str:
    """Short labels for chart axes: 950 -> '$950', 12_300 -> '$12.3k', 2_500_000 -> '$2.5M'."""
    amount = float(value)
    sign = MINUS if amount < 0 else ""
    amount = abs(amount)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if amount >= limit:
            scaled = f"{amount / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}${scaled}{suffix}"
    return f"{sign}${amount:,.0f}"


def tone(value: Decimal | float | int | None) -> str:
    """The CSS class for a signed figure: 'gain', 'loss' or 'flat'."""
    if value is None or value == 0:
        return "flat"
    return "gain" if value > 0 else "loss"


def age(moment: datetime | date | None, now: datetime | None = None) -> str:
    """How old a price or a sync is, in words: 'just now', '5 min ago', '3 h ago', '2 days ago'."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return "1 day ago" if days == 1 else f"{days} days ago"


def is_stale(moment: datetime | None, now: datetime | None = None, days: int = 4) -> bool:
    """A price older than `days` (a long weekend is fine, a week is not)."""
    if moment is None:
        return True
    now = now or datetime.now(UTC)
    return (now - moment).total_seconds() > days * 86400


def iso(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    return moment.isoformat()


def utc_text(moment: datetime | None) -> str:
    """'2025-06-13 21:00 UTC' (the page's script rewrites it in the reader's locale and zone)."""
    if moment is None:
        return DASH
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
