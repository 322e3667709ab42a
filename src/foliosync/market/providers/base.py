"""What providers hand back, in foliosync's spelling, and the two provider interfaces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from foliosync.market.indices import IndexName


@dataclass(frozen=True)
class Constituent:
    """One index member as a provider reports it. `symbol` is already canonical (BRK.B)."""

    symbol: str
    name: str | None = None
    sector: str | None = None
    # The provider's own "date added" (FMP dateFirstAdded, Wikipedia "Date added"), kept apart from
    # foliosync's observation dates (marketdata.md C.6). Text, because formats vary.
    date_added: str | None = None


@dataclass(frozen=True)
class ConstituentList:
    index: IndexName
    provider: str
    members: tuple[Constituent, ...]
    # Tickers the provider listed that failed validation (logged, not stored).
    rejected: tuple[str, ...] = ()

    @property
    def symbols(self) -> list[str]:
        return [m.symbol for m in self.members]


@dataclass(frozen=True)
class Bar:
    """One daily OHLCV bar. Prices are exact Decimals as the provider sent them; `source` tags
    where it came from so fallback data can be replaced later (marketdata.md E)."""

    symbol: str
    bar_date: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    source: str


class ConstituentsProvider(Protocol):
    name: str

    def fetch_constituents(self, index: IndexName) -> ConstituentList: ...


class PriceProvider(Protocol):
    name: str

    def fetch_daily_bars(self, symbol: str, start: date, end: date) -> list[Bar]:
        """Bars with start <= bar_date <= end, ascending, for a canonical symbol."""
        ...
