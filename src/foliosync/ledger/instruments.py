"""Canonical instrument identity and option symbology (OCC / OSI).

One instrument row serves every account and broker: AAPL at Schwab and AAPL at IBKR are the same
row. US equity options are keyed by their 21-character OCC symbol, which every broker can produce.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from foliosync.ledger.records import InstrumentRef

_OCC = re.compile(r"^(?P<root>[A-Z0-9.\- ]{1,6}?)\s*(?P<yymmdd>\d{6})(?P<pc>[CP])(?P<strike>\d{8})$")


def canonical_symbol(symbol: str) -> str:
    """foliosync's one ticker spelling: upper case, class shares with a dot (BRK.B, not BRK-B or BRK/B)."""
    cleaned = symbol.strip().upper().replace("/", ".")
    # Class shares: BRK-B (Yahoo, FMP), BRK/B, and IBKR's "BRK B" all become BRK.B.
    if re.fullmatch(r"[A-Z]{1,5}[- ][A-Z]", cleaned):
        cleaned = cleaned[:-2] + "." + cleaned[-1]
    return cleaned


def occ_symbol(root: str, expiry: date, put_call: str, strike: Decimal) -> str:
    """The 21-character OCC symbol: root padded to 6, YYMMDD, C/P, strike x 1000 in 8 digits."""
    millis = int((strike * 1000).to_integral_value())
    return f"{root.upper():<6}{expiry:%y%m%d}{put_call.upper()}{millis:08d}"


def parse_occ_symbol(text: str) -> tuple[str, date, str, Decimal] | None:
    """Parse an OCC/OSI symbol, padded (`AAPL  240119C00150000`) or compact (`AAPL240119C00150000`)."""
    match = _OCC.match(text.strip().upper())
    if not match:
        return None
    yymmdd = match["yymmdd"]
    expiry = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
    strike = Decimal(match["strike"]) / 1000
    return match["root"].strip(), expiry, match["pc"], strike.normalize()


def instrument_key(ref: InstrumentRef) -> str:
    category = ref.asset_category.value
    if category in ("OPT", "FOP") and ref.expiry is not None and ref.strike is not None and ref.put_call:
        # The OCC root, not the underlying: SPXW and SPX options share an underlying, an expiry and a
        # strike but are different contracts.
        parsed = parse_occ_symbol(ref.symbol)
        root = parsed[0] if parsed else canonical_symbol(ref.underlying_symbol or ref.symbol.split()[0])
        if category == "OPT":
            return f"OPT:{occ_symbol(root, ref.expiry, ref.put_call, ref.strike)}"
        return f"FOP:{root}:{ref.expiry:%Y%m%d}:{ref.put_call}:{ref.strike.normalize()}"
    if category == "FUT" and ref.expiry is not None:
        return f"FUT:{canonical_symbol(ref.underlying_symbol or ref.symbol)}:{ref.expiry:%Y%m%d}"
    if category in ("STK", "FUND", "WAR", "CFD", "CRYPTO", "CASH", "CMDTY"):
        return f"{category}:{canonical_symbol(ref.symbol)}:{ref.currency.upper()}"
    # Bonds, bills and the rest: prefer a global identifier over a broker-specific symbol.
    ident = ref.isin or ref.cusip or (f"conid{ref.conid}" if ref.conid else canonical_symbol(ref.symbol))
    return f"{category}:{ident}:{ref.currency.upper()}"
