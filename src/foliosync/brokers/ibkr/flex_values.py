"""Reading Flex attribute values: null markers, decimals, dates and date-times.

Every date/time format a Flex query can be configured with is accepted (shared ibkr.md §B.2):
dates `yyyyMMdd` (default), `yyyy-MM-dd`, `MM/dd/yyyy`, `MM/dd/yy`, `dd-MMM-yy`; times `HHmmss`
or `HH:mm:ss` (seconds optional); separators `;` (default), `,` (optionally followed by a space),
a single space, or none; an optional trailing zone (`EST`, `EDT`, `-0500`, `+01:00`, `Z`).

`MM/dd` and `dd/MM` cannot be told apart from the data, so slash dates are read as IBKR's US
`MM/dd/yyyy`; a value that can only be `dd/MM` raises `FlexValueError`, whose message tells the
user to switch the query to `yyyyMMdd` or `yyyy-MM-dd` (never a silent day/month swap).

Times without a zone are IB server time, US/Eastern (ibkr.md §B.2: dividends post at 20:20 ET);
they are converted to UTC here so the rest of foliosync only sees tz-aware UTC.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")

# ibkr.md §B.1: "", "-", "--", "N/A" are null; "MULTI" stands in date fields of summary rows.
NULL_MARKERS = frozenset({"", "-", "--", "N/A", "n/a", "MULTI"})

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
_NAMED_ZONES: dict[str, tzinfo] = {
    "EST": timezone(timedelta(hours=-5)),
    "EDT": timezone(timedelta(hours=-4)),
    "UTC": UTC,
    "GMT": UTC,
    "Z": UTC,
}
_DATETIME = re.compile(
    r"^(?P<date>\d{8}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}-[A-Za-z]{3}-\d{2})"
    r"(?:[;,]\s*|\s+)?"
    r"(?P<time>\d{2}:?\d{2}(?::?\d{2})?)?"
    r"\s*(?P<zone>[A-Za-z]{1,4}|[+-]\d{2}:?\d{2})?$"
)


class FlexValueError(ValueError):
    """An attribute value foliosync cannot read; the caller adds the file, line and attribute."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def clean(value: str | None) -> str | None:
    """The value, stripped, or None for a missing attribute or a null marker."""
    if value is None:
        return None
    value = value.strip()
    return None if value in NULL_MARKERS else value


def to_decimal(value: str | None) -> Decimal | None:
    """A Decimal from Flex text: thousands separators stripped, `(1.00)` read as -1.00."""
    text = clean(value)
    if text is None:
        return None
    if "," in text:
        text = text.replace(",", "")
    if text[0] == "(" and text[-1] == ")":
        text = "-" + text[1:-1]
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise FlexValueError(f"{value!r} is not a number") from None
    if not result.is_finite():
        raise FlexValueError(f"{value!r} is not a finite number")
    return result


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:  # yy: 00-69 -> 2000s, 70-99 -> 1900s (Flex data starts in the 1990s)
        year += 2000 if year < 70 else 1900
    return year


@lru_cache(maxsize=16384)
def _parse_date(text: str) -> date:
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 10 and text[4] == "-":
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        if "/" in text:
            first, second, year = text.split("/")
            if int(first) > 12:
                raise FlexValueError(
                    f"{text!r} looks like a dd/MM date",
                    hint="Set the Flex query's Date Format to yyyyMMdd or yyyy-MM-dd and download it again "
                    "(dd/MM and MM/dd dates cannot be told apart).",
                )
            return date(_year(year), int(first), int(second))
        day, month, year = text.split("-")
        return date(_year(year), _MONTHS[month.upper()], int(day))
    except FlexValueError:
        raise
    except (ValueError, KeyError):
        raise FlexValueError(f"{text!r} is not a date in any Flex date format") from None


def to_date(value: str | None) -> date | None:
    """The date part of a Flex date or date-time value."""
    text = clean(value)
    if text is None:
        return None
    return _date_part(text)


@lru_cache(maxsize=16384)
def _date_part(text: str) -> date:
    if len(text) == 8 and text.isdigit():
        return _parse_date(text)
    match = _DATETIME.match(text)
    if match is None:
        if text.isdigit() and len(text) in (12, 14):
            return _parse_date(text[:8])
        raise FlexValueError(f"{text!r} is not a date in any Flex date format")
    return _parse_date(match["date"])


def _time(text: str) -> time:
    digits = text.replace(":", "")
    if len(digits) not in (4, 6):
        raise FlexValueError(f"{text!r} is not a Flex time")
    return time(int(digits[:2]), int(digits[2:4]), int(digits[4:6]) if len(digits) == 6 else 0)


def _zone(text: str | None) -> tzinfo:
    if not text:
        return EASTERN
    named = _NAMED_ZONES.get(text.upper())
    if named is not None:
        return named
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return timezone(-offset if text[0] == "-" else offset)
    raise FlexValueError(f"unknown time zone {text!r}")


def to_utc(local: datetime, zone: tzinfo = EASTERN) -> datetime:
    """A wall-clock time in `zone` (US/Eastern by default) as tz-aware UTC."""
    return local.replace(tzinfo=zone).astimezone(UTC)


def to_datetime(value: str | None) -> datetime | None:
    """A Flex date-time as tz-aware UTC. A date-only value means midnight in New York."""
    text = clean(value)
    if text is None:
        return None
    # Fast path for the default `yyyyMMdd;HHmmss`.
    if len(text) == 15 and text[8] == ";" and text[:8].isdigit() and text[9:].isdigit():
        local = datetime(
            int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]), int(text[13:])
        )
        return to_utc(local)
    match = _DATETIME.match(text)
    if match is None:
        # Compact `yyyyMMddHHmmss` (no separator) and the like.
        if text.isdigit() and len(text) in (12, 14):
            return to_datetime(f"{text[:8]};{text[8:]}")
        raise FlexValueError(f"{text!r} is not a date-time in any Flex format")
    day = _parse_date(match["date"])
    clock = _time(match["time"]) if match["time"] else time(0, 0)
    return to_utc(datetime.combine(day, clock), _zone(match["zone"]))


def combine_date_time(day: date, clock: str | None) -> datetime:
    """A trade's `tradeDate` plus a separate `tradeTime` (HHmmss) as UTC (older statements)."""
    text = clean(clock)
    return to_utc(datetime.combine(day, _time(text) if text else time(0, 0)))


def end_of_day_utc(day: date) -> datetime:
    """The close of a New York business day as UTC: the moment a statement's `toDate` is complete."""
    return to_utc(datetime.combine(day, time(23, 59, 59)))


def codes(value: str | None) -> frozenset[str]:
    """`notes`/`code` values are `;`-separated and may end with a stray `;` (ibkr.md §B.3)."""
    return _codes(value) if value else frozenset()


@lru_cache(maxsize=1024)
def _codes(value: str) -> frozenset[str]:
    return frozenset(
        part.strip() for part in value.split(";") if part.strip() and part.strip() not in NULL_MARKERS
    )


# Attribute readers: the same conversions, with the attribute's name in any error message.


def attr_text(attrs: dict[str, str], name: str, limit: int | None = None) -> str | None:
    value = attrs.get(name)
    if not value or value in NULL_MARKERS:
        return None
    if value[0] == " " or value[-1] == " ":
        value = clean(value)
        if value is None:
            return None
    return value if limit is None else value[:limit]


def attr_label(attrs: dict[str, str], name: str, limit: int | None = None) -> str | None:
    """`attr_text` for values that repeat from row to row (currencies, types, codes, security
    descriptions): every record of a large statement shares one copy instead of its own."""
    text = attr_text(attrs, name, limit)
    return None if text is None else sys.intern(text)


# The readers below try the common, clean value first and only fall back to the careful path
# (whitespace, null markers, thousands separators, parentheses) when that fails: they run for
# every attribute of every row, so a statement of 100k trades calls them millions of times.


def attr_decimal(attrs: dict[str, str], name: str) -> Decimal | None:
    value = attrs.get(name)
    if not value:
        return None
    try:
        result = Decimal(value)
    except InvalidOperation:
        pass
    else:
        if result.is_finite():
            return result
    try:
        return to_decimal(value)
    except FlexValueError as exc:
        raise FlexValueError(f"attribute {name}: {exc}", exc.hint) from None


def attr_date(attrs: dict[str, str], name: str) -> date | None:
    value = attrs.get(name)
    if not value or value in NULL_MARKERS:
        return None
    try:
        return _date_part(value)
    except FlexValueError:
        pass
    try:
        return to_date(value)
    except FlexValueError as exc:
        raise FlexValueError(f"attribute {name}: {exc}", exc.hint) from None


def attr_datetime(attrs: dict[str, str], name: str) -> datetime | None:
    try:
        return to_datetime(attrs.get(name))
    except FlexValueError as exc:
        raise FlexValueError(f"attribute {name}: {exc}", exc.hint) from None


def first_date(attrs: dict[str, str], *names: str) -> date | None:
    """The first of several date attributes that is set (e.g. tradeDate, then dateTime)."""
    for name in names:
        value = attr_date(attrs, name)
        if value is not None:
            return value
    return None
