"""yfinance, the last-resort bar source (marketdata.md E). Not a dependency of foliosync.

Yahoo rate-limits and fingerprints scrapers in waves (E: 429 waves in 2025, crumb failures, IP bans
after bulk downloads), so this adapter is only ever called through a circuit breaker
(foliosync.market.prices.breaker) and for a handful of symbols. The library is imported lazily:
when it is missing the adapter says so, and the price chain moves on.
Tickers use the dash form (BRK-B); `auto_adjust` is passed explicitly because its default changed.
"""

from __future__ import annotations

import importlib
import math
from datetime import date, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

from foliosync.market.errors import (
    ProviderDataError,
    ProviderNotInstalled,
    ProviderRateLimited,
    ProviderUnavailable,
)
from foliosync.market.providers.base import Bar
from foliosync.market.symbols import to_yahoo

NAME = "yfinance"


def load_library() -> ModuleType:
    try:
        return importlib.import_module("yfinance")
    except ImportError:
        raise ProviderNotInstalled(
            NAME,
            "the yfinance library is not installed, so the last-resort fallback is off",
            hint="Install it (pip install yfinance) to enable it, or configure FMP_API_KEY / POLYGON_API_KEY.",
        ) from None


def _price(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    # Yahoo sends binary floats; keep 6 decimals, more than any US equity quote carries.
    return Decimal(repr(round(number, 6)))


def rows_to_bars(
    symbol: str, rows: list[tuple[date, Any, Any, Any, Any, Any]], start: date, end: date
) -> list[Bar]:
    """(date, open, high, low, close, volume) rows -> bars; null entries are normal (E) and skipped."""
    bars: dict[date, Bar] = {}
    for day, o, h, lo, c, v in rows:
        prices = [_price(x) for x in (o, h, lo, c)]
        if any(p is None for p in prices) or not start <= day <= end:
            continue
        op, hi, lo, cl = (p for p in prices if p is not None)
        volume = 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
        bars[day] = Bar(symbol, day, op, hi, lo, cl, volume, NAME)
    return [bars[d] for d in sorted(bars)]


class YFinanceClient:
    name = NAME

    def __init__(self, library: ModuleType | None = None) -> None:
        self._library = library

    def fetch_daily_bars(self, symbol: str, start: date, end: date) -> list[Bar]:
        yf = self._library or load_library()
        try:
            frame = yf.Ticker(to_yahoo(symbol)).history(
                start=start.isoformat(),
                end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                interval="1d",
                auto_adjust=True,
                actions=False,
            )
        except Exception as exc:  # noqa: BLE001 (a third-party scraper raises anything; classify it)
            kind = type(exc).__name__
            if "RateLimit" in kind or "429" in str(exc):
                raise ProviderRateLimited(NAME, f"{symbol}: Yahoo rate limit ({kind})") from None
            raise ProviderUnavailable(NAME, f"{symbol}: {kind}") from None
        try:
            rows = [
                (index.date(), row["Open"], row["High"], row["Low"], row["Close"], row["Volume"])
                for index, row in frame.iterrows()
            ]
        except (AttributeError, KeyError, TypeError) as exc:
            raise ProviderDataError(NAME, f"{symbol}: unexpected frame ({type(exc).__name__})") from None
        return rows_to_bars(symbol, rows, start, end)
