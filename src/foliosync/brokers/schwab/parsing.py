"""Field-level parsing of Trader API payloads: times, dates, numbers and instruments.

Times look like `2024-05-07T13:30:01+0000` (no colon in the offset, brokers.md §B.4), sometimes
with milliseconds or a `Z`. Trade dates are the exchange's local date (New York), which is why
`2025-01-31T05:00:00+0000` is the 31st. Quantities and prices arrive as JSON floats; they go
through `str()` into Decimal, never through binary arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from foliosync.brokers.base import BrokerDataError
from foliosync.ledger.instruments import canonical_symbol, occ_symbol, parse_occ_symbol
from foliosync.ledger.records import InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory

NEW_YORK = ZoneInfo("America/New_York")
OPTION_MULTIPLIER = Decimal(100)

_OFFSET_WITHOUT_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_time(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from any of Schwab's spellings, or None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BrokerDataError(f"Schwab sent a time that is not text: {value!r}.")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BrokerDataError(f"Schwab sent a time we cannot read: {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The New York calendar date of an instant (US exchanges' trade date)."""
    return moment.astimezone(NEW_YORK).date()


def parse_date(value: Any) -> date | None:
    moment = parse_time(value)
    return None if moment is None else local_date(moment)


def dec(value: Any) -> Decimal | None:
    """Decimal from a JSON number or string, exactly as written; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BrokerDataError(f"Schwab sent a number we cannot read: {value!r}.")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise BrokerDataError(f"Schwab sent a number we cannot read: {value!r}.") from None
    if not result.is_finite():
        raise BrokerDataError(f"Schwab sent a number that is not finite: {value!r}.")
    return result


def dec0(value: Any) -> Decimal:
    return dec(value) or Decimal(0)


# COLLECTIVE_INVESTMENT covers ETFs (`type: EXCHANGE_TRADED_FUND`, traded like stock) as well as
# the money-market sweep (`type: SWEEP_VEHICLE`) and other pooled funds (brokers.md §B.3).
_CATEGORY = {
    "EQUITY": AssetCategory.STK,
    "OPTION": AssetCategory.OPT,
    "MUTUAL_FUND": AssetCategory.FUND,
    "CASH_EQUIVALENT": AssetCategory.FUND,
    "FIXED_INCOME": AssetCategory.BOND,
    "INDEX": AssetCategory.OTHER,
    "FUTURE": AssetCategory.FUT,
    "FOREX": AssetCategory.CASH,
}

CURRENCY_ASSET_TYPES = frozenset({"CURRENCY"})


def is_currency_leg(instrument: Mapping[str, Any]) -> bool:
    """A cash leg (`CURRENCY` / `CURRENCY_USD`): fees and money, not a security."""
    return str(instrument.get("assetType") or "").upper() in CURRENCY_ASSET_TYPES or str(
        instrument.get("symbol") or ""
    ).upper().startswith("CURRENCY_")


def asset_category(instrument: Mapping[str, Any]) -> AssetCategory:
    asset_type = str(instrument.get("assetType") or "").upper()
    if asset_type == "COLLECTIVE_INVESTMENT":
        kind = str(instrument.get("type") or "").upper()
        return AssetCategory.STK if kind in ("EXCHANGE_TRADED_FUND", "") else AssetCategory.FUND
    return _CATEGORY.get(asset_type, AssetCategory.OTHER)


def instrument_ref(instrument: Mapping[str, Any]) -> tuple[InstrumentRef, bool]:
    """The canonical instrument of a Schwab `instrument` object and whether it needs review
    (no symbol: ETF rows sometimes lack one, §B.4; an option we cannot read)."""
    category = asset_category(instrument)
    symbol = str(instrument.get("symbol") or "").strip()
    cusip = str(instrument.get("cusip") or "").strip() or None
    description = instrument.get("description") or None
    if category is AssetCategory.OPT:
        return _option_ref(instrument, symbol, cusip, description)
    needs_review = not symbol or category is AssetCategory.OTHER
    if not symbol:
        symbol = cusip or f"SCHWAB-{instrument.get('instrumentId', 'UNKNOWN')}"
    return (
        InstrumentRef(
            asset_category=category,
            symbol=canonical_symbol(symbol) if category is AssetCategory.STK else symbol.upper(),
            currency="USD",
            description=description,
            cusip=cusip,
        ),
        needs_review,
    )


def _option_ref(
    instrument: Mapping[str, Any], symbol: str, cusip: str | None, description: str | None
) -> tuple[InstrumentRef, bool]:
    """Schwab options carry the 21-character OCC symbol plus putCall, strikePrice,
    expirationDate, optionPremiumMultiplier and underlyingSymbol (taxonomy.md §5.3). The explicit
    fields win; position rows have fewer of them, so the OCC symbol fills the gaps."""
    parsed = parse_occ_symbol(symbol) if symbol else None
    strike = dec(instrument.get("strikePrice")) or (parsed[3] if parsed else None)
    expiry = parse_date(instrument.get("expirationDate")) or (parsed[1] if parsed else None)
    put_call_raw = str(instrument.get("putCall") or "").upper()
    put_call = {"PUT": "P", "CALL": "C"}.get(put_call_raw) or (parsed[2] if parsed else None)
    underlying = str(instrument.get("underlyingSymbol") or "").strip() or (parsed[0] if parsed else "")
    multiplier = dec(instrument.get("optionPremiumMultiplier")) or OPTION_MULTIPLIER
    if strike is None or expiry is None or put_call is None or not underlying:
        return (
            InstrumentRef(
                asset_category=AssetCategory.OTHER,
                symbol=symbol or cusip or "SCHWAB-OPTION",
                description=description,
                cusip=cusip,
                multiplier=multiplier,
            ),
            True,
        )
    root = parsed[0] if parsed else underlying
    return (
        InstrumentRef(
            asset_category=AssetCategory.OPT,
            symbol=occ_symbol(root, expiry, put_call, strike),
            currency="USD",
            description=description,
            cusip=cusip,
            underlying_symbol=canonical_symbol(underlying),
            strike=strike.normalize(),
            expiry=expiry,
            put_call=put_call,
            multiplier=multiplier,
        ),
        # A non-standard deliverable (after a corporate action, §5.5) is worth a look.
        multiplier != OPTION_MULTIPLIER,
    )
