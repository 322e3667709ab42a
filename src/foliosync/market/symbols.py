"""Ticker spelling: one canonical form inside foliosync, converted at each provider's edge.

foliosync spells share classes with a dot (`BRK.B`, see foliosync.ledger.instruments.canonical_symbol).
FMP and Yahoo use a dash (`BRK-B`); Polygon and Wikipedia use the dot (marketdata.md C.4).
"""

from __future__ import annotations

import re

from foliosync.ledger.instruments import canonical_symbol

# marketdata.md C.4: after mapping, a US common-stock ticker is 1-5 letters with an optional class letter.
_VALID = re.compile(r"^[A-Z]{1,5}(\.[A-Z])?$")
_FOOTNOTE = re.compile(r"\[[^\]]*\]")


def normalize_ticker(raw: str) -> str:
    """Strip whitespace, newlines and footnote markers, upper-case, and apply the canonical spelling
    (which also turns IBKR's `BRK B` into `BRK.B`)."""
    return canonical_symbol(_FOOTNOTE.sub("", raw).strip())


def is_valid_ticker(symbol: str) -> bool:
    return bool(_VALID.match(symbol))


def to_dash_form(symbol: str) -> str:
    """FMP and Yahoo spelling: BRK.B -> BRK-B."""
    return canonical_symbol(symbol).replace(".", "-")


def to_fmp(symbol: str) -> str:
    return to_dash_form(symbol)


def to_yahoo(symbol: str) -> str:
    return to_dash_form(symbol)


def to_polygon(symbol: str) -> str:
    """Polygon keeps the dot form (marketdata.md B)."""
    return canonical_symbol(symbol)


def from_provider(symbol: str) -> str:
    """Any provider spelling back to foliosync's (dash, slash or dot -> dot)."""
    return canonical_symbol(symbol)
