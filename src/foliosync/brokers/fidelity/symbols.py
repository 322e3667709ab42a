"""Fidelity instrument identity: option symbols, the core money-market fund, plain tickers.

Option symbols (shared taxonomy.md §5.4): ` -AAPL250117C150` in positions, `-FCT250620C50` or
`SPY220608P403` in history: optional dash, root (letters, maybe one digit for an adjusted
contract), YYMMDD, C/P, the strike without padding. Parsed from the right, because the date is
always the six digits before C/P. Neither export carries a multiplier: 100 is assumed, and a root
ending in a digit or a deliverable other than `(100 SHS)` marks the contract non-standard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from foliosync.ledger.csvtools import us_security
from foliosync.ledger.instruments import canonical_symbol, occ_symbol
from foliosync.ledger.records import InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory

_OPTION = re.compile(r"^-?(?P<root>[A-Z]+\d?)(?P<exp>\d{6})(?P<cp>[CP])(?P<strike>\d+(?:\.\d+)?)$")
# The option described in Action text: `CALL (AAPL) APPLE INC JAN 17 25 $150 (100 SHS)`.
_ACTION_OPTION = re.compile(
    r"\b(?P<cp>CALL|PUT)\s+\((?P<root>[A-Z]+\d?)\).*?\b(?P<mon>[A-Z]{3})\s+(?P<day>\d{1,2})\s+(?P<yy>\d{2})"
    r"\s+\$(?P<strike>[\d,]+(?:\.\d+)?)"
)
_DELIVERABLE = re.compile(r"\((?P<shares>\d+) SHS\)")
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
# The core position holds the account's cash; Fidelity marks it with `**` in positions.
CORE_FUNDS = frozenset({"SPAXX", "FDRXX", "FCASH", "FZFXX", "SPRXX", "FZDXX", "CORE"})
OPTION_MULTIPLIER = Decimal(100)


@dataclass(frozen=True, slots=True)
class FidelityOption:
    instrument: InstrumentRef
    standard: bool  # False: adjusted root or a deliverable other than 100 shares (review it)


def _option_ref(
    root: str, expiry: date, put_call: str, strike: Decimal, description: str | None
) -> InstrumentRef:
    underlying = canonical_symbol(re.sub(r"\d$", "", root))
    return InstrumentRef(
        asset_category=AssetCategory.OPT,
        symbol=occ_symbol(root, expiry, put_call, strike),
        currency="USD",
        description=description or None,
        underlying_symbol=underlying,
        strike=strike.normalize(),
        expiry=expiry,
        put_call=put_call,
        multiplier=OPTION_MULTIPLIER,
    )


def parse_option_symbol(symbol: str, description: str | None = None) -> FidelityOption | None:
    match = _OPTION.match(symbol.strip().upper())
    if not match:
        return None
    exp = match["exp"]
    expiry = date(2000 + int(exp[:2]), int(exp[2:4]), int(exp[4:]))
    root = match["root"]
    ref = _option_ref(root, expiry, match["cp"], Decimal(match["strike"]), description)
    return FidelityOption(ref, standard=not root[-1].isdigit())


def parse_option_action(action: str) -> FidelityOption | None:
    """The contract named in Action text, for rows whose Symbol column is empty."""
    match = _ACTION_OPTION.search(action.upper())
    if not match or match["mon"] not in _MONTHS:
        return None
    expiry = date(2000 + int(match["yy"]), _MONTHS[match["mon"]], int(match["day"]))
    strike = Decimal(match["strike"].replace(",", ""))
    root = match["root"]
    ref = _option_ref(root, expiry, match["cp"][0], strike, None)
    return FidelityOption(ref, standard=not root[-1].isdigit())


def deliverable_shares(action: str) -> int | None:
    match = _DELIVERABLE.search(action.upper())
    return int(match["shares"]) if match else None


def is_core(symbol: str) -> bool:
    return symbol.endswith("**") or symbol.strip("* ").upper() in CORE_FUNDS


def security(symbol: str, description: str | None = None) -> InstrumentRef:
    return us_security(symbol.strip("* "), description)
