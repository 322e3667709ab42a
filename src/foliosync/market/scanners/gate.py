"""The liquidity gate every preset scan passes first (marketdata.md F.4 "Universe gate"):
price >= $10, 20-day average dollar volume >= $20M, >= 200 bars of history, ATR% between 2 and 10,
and a current last bar (within `max_staleness_days` of the newest bar in the table, so a delisted
or no-longer-updated symbol never shows up with old numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from foliosync.market.indicators.snapshot import IndicatorTable
from foliosync.market.scanners.expression import BoolArray


@dataclass(frozen=True)
class LiquidityGate:
    min_price: float = 10.0
    min_dollar_volume: float = 20_000_000.0
    min_bars: int = 200
    min_atr_pct: float | None = 2.0
    max_atr_pct: float | None = 10.0
    max_staleness_days: int = 4

    def mask(self, table: IndicatorTable) -> BoolArray:
        f = table.fields
        with np.errstate(invalid="ignore"):
            keep = (f["close"] >= self.min_price) & (f["dollar_volume_20"] >= self.min_dollar_volume)
            keep &= f["bars"] >= self.min_bars
            if self.min_atr_pct is not None:
                keep &= f["atr_pct"] >= self.min_atr_pct
            if self.max_atr_pct is not None:
                keep &= f["atr_pct"] <= self.max_atr_pct
        return keep & current_mask(table, self.max_staleness_days)

    def describe(self) -> str:
        parts = [
            f"close >= {self.min_price:g}",
            f"dollar_volume_20 >= {self.min_dollar_volume:,.0f}",
            f"bars >= {self.min_bars}",
        ]
        if self.min_atr_pct is not None:
            parts.append(f"atr_pct >= {self.min_atr_pct:g}")
        if self.max_atr_pct is not None:
            parts.append(f"atr_pct <= {self.max_atr_pct:g}")
        parts.append(f"last bar within {self.max_staleness_days} days of the newest")
        return " and ".join(parts)


def current_mask(table: IndicatorTable, max_staleness_days: int) -> BoolArray:
    dated = [d for d in table.as_of if d is not None]
    if not dated:
        return np.zeros(len(table), dtype=bool)
    cutoff = max(dated) - timedelta(days=max_staleness_days)
    return np.array([d is not None and d >= cutoff for d in table.as_of], dtype=bool)


DEFAULT_GATE = LiquidityGate()
