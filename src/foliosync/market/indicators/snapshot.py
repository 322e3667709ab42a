"""The latest value of every indicator for many symbols at once: the table scanners filter.

TA-Lib runs per symbol (each symbol keeps its own history length, so its numbers equal TA-Lib on
that symbol alone); everything else (performance, volume, ranges) is vectorized over right-aligned
tail matrices. 3,000 symbols x 1,260 bars take well under half a second (docs/benchmarks/market.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from foliosync.market.indicators.engine import compute_series, reference_mode, series_names
from foliosync.market.indicators.performance import (
    PERF_WINDOWS,
    TAIL,
    IntArray,
    period_returns,
    window_returns,
)
from foliosync.market.indicators.series import BarSeries, FloatArray

# Every field a scan may name, with what it means. The filter language validates against this.
FIELDS: dict[str, str] = {
    "close": "last close",
    "open": "last open",
    "high": "last high",
    "low": "last low",
    "volume": "last session's volume (shares)",
    "prev_close": "close of the session before",
    "bars": "number of daily bars stored",
    "atr_14": "ATR(14), Wilder, in dollars (TA-Lib ATR)",
    "atr_pct": "ATR(14) as % of close (TA-Lib NATR)",
    "atr_50": "ATR(50), Wilder, in dollars",
    "atr_ratio": "atr_14 / atr_50 (below 0.75 = volatility contraction)",
    "prev_atr_14": "ATR(14) as of the session before",
    "rsi_14": "RSI(14), Wilder",
    "sma_5": "simple moving average of 5 closes",
    "sma_8": "SMA of 8 closes",
    "sma_20": "SMA of 20 closes",
    "sma_21": "SMA of 21 closes",
    "sma_50": "SMA of 50 closes",
    "sma_100": "SMA of 100 closes",
    "sma_200": "SMA of 200 closes",
    "prev_sma_50": "SMA(50) as of the session before",
    "prev_sma_200": "SMA(200) as of the session before",
    "ema_8": "exponential moving average of 8 closes (SMA-seeded, TA-Lib)",
    "ema_10": "EMA of 10 closes",
    "ema_21": "EMA of 21 closes",
    "ema_200": "EMA of 200 closes",
    "macd": "MACD(12,26,9) line (TA-Lib)",
    "macd_signal": "MACD signal line",
    "macd_hist": "MACD histogram (macd - macd_signal)",
    "prev_macd": "MACD line as of the session before",
    "prev_macd_signal": "MACD signal as of the session before",
    "adx_14": "ADX(14), Wilder",
    "prev_adx_14": "ADX(14) as of the session before",
    "plus_di_14": "+DI(14)",
    "minus_di_14": "-DI(14)",
    **{f"perf_{k}d": f"% change over the last {k} session{'s' if k > 1 else ''}" for k in PERF_WINDOWS},
    "perf_mtd": "% change since the last close of the previous month",
    "perf_qtd": "% change since the last close of the previous quarter",
    "perf_ytd": "% change since the last close of the previous year",
    "avg_volume_20": "average volume of the last 20 sessions",
    "rel_volume": "last volume / average volume of the 20 sessions before it",
    "dollar_volume_20": "average close x volume of the last 20 sessions (dollars)",
    "high_20": "highest high of the 20 sessions before the last",
    "low_20": "lowest low of the 20 sessions before the last",
    "high_252": "highest high of the 252 sessions before the last (52 weeks)",
    "low_252": "lowest low of the 252 sessions before the last",
    "gap": "last open - previous close (dollars)",
    "gap_atr": "gap in units of the previous session's ATR(14)",
    "dist_sma_20_atr": "(close - sma_20) / atr_14",
    "dist_sma_50_atr": "(close - sma_50) / atr_14",
    "dist_sma_200_atr": "(close - sma_200) / atr_14",
    "dist_ema_21_atr": "(close - ema_21) / atr_14",
}

_PREVIOUS = {
    "prev_atr_14": "atr_14",
    "prev_sma_50": "sma_50",
    "prev_sma_200": "sma_200",
    "prev_macd": "macd",
    "prev_macd_signal": "macd_signal",
    "prev_adx_14": "adx_14",
}


@dataclass
class IndicatorTable:
    """One row per symbol; `fields[name][i]` is symbol i's value (NaN when not computable)."""

    symbols: list[str]
    as_of: list[date | None]
    fields: dict[str, FloatArray]

    def __len__(self) -> int:
        return len(self.symbols)

    def position(self, symbol: str) -> int | None:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            return None

    def row(self, position: int) -> dict[str, float | None]:
        values: dict[str, float | None] = {}
        for name in FIELDS:
            value = float(self.fields[name][position])
            values[name] = value if np.isfinite(value) else None
        return values


def _tail_matrices(series: Sequence[BarSeries], width: int) -> tuple[dict[str, FloatArray], IntArray]:
    """The last `width` bars of every symbol, right-aligned; NaN (and day 0) where there is no bar."""
    count = len(series)
    mats = {k: np.full((count, width), np.nan) for k in ("open", "high", "low", "close", "volume")}
    days = np.zeros((count, width), dtype=np.int64)
    for i, s in enumerate(series):
        n = min(len(s), width)
        if n == 0:
            continue
        for key in ("open", "high", "low", "close", "volume"):
            mats[key][i, width - n :] = getattr(s, key)[-n:]
        days[i, width - n :] = s.dates[-n:].astype(np.int64)
    return mats, days


def compute_snapshot(series: Sequence[BarSeries]) -> IndicatorTable:
    count = len(series)
    fields: dict[str, FloatArray] = {name: np.full(count, np.nan) for name in FIELDS}
    names = series_names()
    with reference_mode():
        for i, s in enumerate(series):
            if len(s) < 2:
                continue
            computed = compute_series(s)
            for name in names:
                fields[name][i] = computed[name][-1]
            for prev_name, name in _PREVIOUS.items():
                fields[prev_name][i] = computed[name][-2]
    fields["bars"] = np.array([len(s) for s in series], dtype=np.float64)

    tail, days = _tail_matrices(series, TAIL)
    closes, volumes = tail["close"], tail["volume"]
    fields["close"], fields["prev_close"] = closes[:, -1], closes[:, -2]
    fields["open"], fields["high"], fields["low"] = (
        tail["open"][:, -1],
        tail["high"][:, -1],
        tail["low"][:, -1],
    )
    fields["volume"] = volumes[:, -1]
    fields.update(window_returns(closes))
    fields.update(period_returns(closes, days))
    with np.errstate(divide="ignore", invalid="ignore"):
        fields["avg_volume_20"] = volumes[:, -20:].mean(axis=1)
        fields["rel_volume"] = volumes[:, -1] / volumes[:, -21:-1].mean(axis=1)
        fields["dollar_volume_20"] = (closes[:, -20:] * volumes[:, -20:]).mean(axis=1)
        fields["high_20"] = tail["high"][:, -21:-1].max(axis=1)
        fields["low_20"] = tail["low"][:, -21:-1].min(axis=1)
        fields["high_252"] = tail["high"][:, -253:-1].max(axis=1)
        fields["low_252"] = tail["low"][:, -253:-1].min(axis=1)
        fields["gap"] = fields["open"] - fields["prev_close"]
        fields["gap_atr"] = fields["gap"] / fields["prev_atr_14"]
        fields["atr_ratio"] = fields["atr_14"] / fields["atr_50"]
        atr = fields["atr_14"]
        for average in ("sma_20", "sma_50", "sma_200"):
            fields[f"dist_{average}_atr"] = (fields["close"] - fields[average]) / atr
        fields["dist_ema_21_atr"] = (fields["close"] - fields["ema_21"]) / atr
    missing = set(FIELDS) - set(fields)
    assert not missing, f"fields without values: {missing}"
    return IndicatorTable([s.symbol for s in series], [s.last_date for s in series], fields)
