"""TastyTrade symbols to canonical `InstrumentRef`s (shared brokers.md §A.7, taxonomy.md §5.1, §5.3).

* Equity: the ticker (`BRK/B` becomes `BRK.B`, foliosync's one spelling).
* Equity Option: the 21-character OCC symbol (`SPY   250117P00450000`); root, expiry, right and
  strike come from parsing it, the underlying from `underlying-symbol` (the root is the option
  class, `SPXW`, not necessarily the underlying). Transactions carry no multiplier: 100 unless the
  position says otherwise.
* Future Option: `./ESM1 ESM1  210618P3900` (future, option product, YYMMDD, C/P, strike).
* Future: `/ESZ4` kept as written. Its one-digit year is not expanded: transactions carry no
  expiry, so positions and trades would disagree on the key if only positions set one.
Anything else maps to OTHER and is flagged for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from foliosync.ledger.instruments import canonical_symbol, occ_symbol, parse_occ_symbol
from foliosync.ledger.records import InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory

EQUITY_OPTION_MULTIPLIER = Decimal(100)

_FUTURE_OPTION = re.compile(
    r"^\./(?P<future>\S+)\s+(?P<product>\S+)\s+(?P<yymmdd>\d{6})(?P<pc>[CP])(?P<strike>\d+(?:\.\d+)?)$"
)

_SIMPLE_CATEGORIES = {
    "Equity": AssetCategory.STK,
    "Cryptocurrency": AssetCategory.CRYPTO,
    "Bond": AssetCategory.BOND,
    "Fixed Income Security": AssetCategory.BOND,
    "Warrant": AssetCategory.WAR,
}


@dataclass(frozen=True, slots=True)
class MappedInstrument:
    ref: InstrumentRef
    needs_review: bool = False


def map_instrument(
    symbol: str, instrument_type: str | None, underlying_symbol: str | None, multiplier: Decimal | None = None
) -> MappedInstrument:
    """The canonical instrument for a TastyTrade `symbol` + `instrument-type`."""
    underlying = canonical_symbol(underlying_symbol) if underlying_symbol else None
    if instrument_type == "Equity Option":
        return _equity_option(symbol, underlying, multiplier)
    if instrument_type == "Future Option":
        return _future_option(symbol, underlying, multiplier)
    if instrument_type == "Future":
        return MappedInstrument(
            InstrumentRef(
                AssetCategory.FUT,
                symbol.strip().upper(),
                underlying_symbol=underlying_symbol.strip().upper() if underlying_symbol else None,
                multiplier=multiplier or Decimal(1),
            )
        )
    category = _SIMPLE_CATEGORIES.get(instrument_type or "")
    if category is not None:
        return MappedInstrument(
            InstrumentRef(category, canonical_symbol(symbol), multiplier=multiplier or Decimal(1))
        )
    return MappedInstrument(
        InstrumentRef(
            AssetCategory.OTHER,
            symbol.strip(),
            description=instrument_type,
            underlying_symbol=underlying,
            multiplier=multiplier or Decimal(1),
        ),
        needs_review=True,
    )


def _equity_option(symbol: str, underlying: str | None, multiplier: Decimal | None) -> MappedInstrument:
    parsed = parse_occ_symbol(symbol)
    if parsed is None:
        return MappedInstrument(
            InstrumentRef(
                AssetCategory.OTHER, symbol.strip(), description="Equity Option", underlying_symbol=underlying
            ),
            needs_review=True,
        )
    root, expiry, put_call, strike = parsed
    return MappedInstrument(
        InstrumentRef(
            AssetCategory.OPT,
            occ_symbol(root, expiry, put_call, strike),
            underlying_symbol=underlying or root,
            strike=strike,
            expiry=expiry,
            put_call=put_call,
            multiplier=multiplier or EQUITY_OPTION_MULTIPLIER,
        )
    )


def _future_option(symbol: str, underlying: str | None, multiplier: Decimal | None) -> MappedInstrument:
    match = _FUTURE_OPTION.match(symbol.strip())
    if match is None:
        return MappedInstrument(
            InstrumentRef(
                AssetCategory.OTHER, symbol.strip(), description="Future Option", underlying_symbol=underlying
            ),
            needs_review=True,
        )
    yymmdd = match["yymmdd"]
    return MappedInstrument(
        InstrumentRef(
            AssetCategory.FOP,
            symbol.strip(),
            underlying_symbol="/" + match["future"],
            strike=Decimal(match["strike"]),
            expiry=date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])),
            put_call=match["pc"],
            # Multipliers vary by product and transactions do not carry one; cash comes from `value`.
            multiplier=multiplier or Decimal(1),
        )
    )
