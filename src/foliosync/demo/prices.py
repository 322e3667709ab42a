"""Deterministic made-up daily bars for the demo securities.

Each symbol's bars are a random walk seeded by the symbol alone, so the same `days` always give the
same bars (on any machine). Prices are rounded to cents as Decimals; OHLC are consistent
(low <= open, close <= high). Sessions are weekdays: holidays do not exist in the demo market.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from foliosync.demo.catalog import Security

CENT = Decimal("0.01")
DEMO_SEED = 20_240_601
SOURCE = "demo"


@dataclass(frozen=True)
class DemoBar:
    symbol: str
    bar_date: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def weekdays(start: date, end: date) -> list[date]:
    """Every Monday-to-Friday from start to end inclusive."""
    days: list[date] = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def previous_weekday(day: date) -> date:
    """The last weekday strictly before `day`."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _cents(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT)


def simulate_bars(security: Security, days: list[date], anchor: date | None = None) -> list[DemoBar]:
    """A seeded geometric random walk over `days`, scaled so that the close on `anchor` (default:
    the first day) is `security.start_price`: the demo account's first trades then cost what the
    catalog says, wherever the walk wandered before."""
    rng = random.Random(DEMO_SEED ^ zlib.crc32(security.symbol.encode()))
    vol = security.daily_volatility
    drift = security.annual_drift / 252 - vol * vol / 2
    close = 1.0
    raw: list[tuple[float, float, float, float, int]] = []
    for index in range(len(days)):
        open_ = close if index == 0 else close * math.exp(rng.gauss(0.0, vol * 0.3))
        close = open_ * math.exp(rng.gauss(drift, vol))
        high = max(open_, close) * (1 + abs(rng.gauss(0.0, vol * 0.5)))
        low = min(open_, close) * (1 - abs(rng.gauss(0.0, vol * 0.5)))
        volume = int(security.avg_volume * math.exp(rng.gauss(0.0, 0.3)))
        raw.append((open_, high, low, close, volume))
    if raw and security.last_volume_boost != 1.0:
        open_, high, low, close, volume = raw[-1]
        raw[-1] = (open_, high, low, close, int(volume * security.last_volume_boost))
    anchor_index = days.index(anchor) if anchor is not None else 0
    scale = float(security.start_price) / raw[anchor_index][3]
    bars: list[DemoBar] = []
    for day, (open_, high, low, close, volume) in zip(days, raw, strict=True):
        o, c = _cents(open_ * scale), _cents(close * scale)
        if security.asset_category == "FUND":
            # A mutual fund has one price a day (its NAV) and no exchange volume.
            bars.append(DemoBar(security.symbol, day, c, c, c, c, 0))
            continue
        h = max(_cents(high * scale), o, c)
        lo = min(_cents(low * scale), o, c)
        bars.append(DemoBar(security.symbol, day, o, h, lo, c, volume))
    return bars


class PriceBook:
    """Closing prices by symbol and day, for the activity simulation."""

    def __init__(self, bars: dict[str, list[DemoBar]]) -> None:
        self._closes = {symbol: {b.bar_date: b.close for b in rows} for symbol, rows in bars.items()}

    def close(self, symbol: str, day: date) -> Decimal:
        return self._closes[symbol][day]
