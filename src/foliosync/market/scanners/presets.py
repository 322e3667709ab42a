"""Scanner presets a swing trader expects (marketdata.md F.4), written in the filter language.

A preset may also rank: "top decile by ATR%" keeps rows whose value is at or above the 90th
percentile of the rows that passed the liquidity gate (ranking is relative to the gated universe).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rank:
    field: str
    top_fraction: float


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    expression: str
    sort: str
    descending: bool = True
    rank: Rank | None = None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "high_atr_movers",
            "High-ATR movers: ATR% in the top decile, relative volume >= 1.5",
            "rel_volume >= 1.5",
            sort="atr_pct",
            rank=Rank("atr_pct", 0.10),
        ),
        Preset(
            "trend_pullback",
            "Pullback in an uptrend: close > SMA50 > SMA200, RSI(14) 40-50, within 1 ATR of EMA21",
            "close > sma_50 and sma_50 > sma_200 and 40 <= rsi_14 <= 50 and abs(close - ema_21) <= atr_14",
            sort="abs(dist_ema_21_atr)",
            descending=False,
        ),
        Preset(
            "atr_breakout",
            "2xATR breakout: close above SMA20 + 2 ATR and above the prior 20-day high, relative volume >= 1.5",
            "close > sma_20 + 2 * atr_14 and close > high_20 and rel_volume >= 1.5",
            sort="dist_sma_20_atr",
        ),
        Preset(
            "squeeze",
            "Volatility squeeze: ATR(14)/ATR(50) < 0.75, close above SMA50",
            "atr_ratio < 0.75 and close > sma_50",
            sort="atr_ratio",
            descending=False,
        ),
        Preset(
            "oversold_uptrend",
            "Oversold in an uptrend: RSI(14) < 30, close above SMA200",
            "rsi_14 < 30 and close > sma_200",
            sort="rsi_14",
            descending=False,
        ),
        Preset(
            "momentum_leaders",
            "Momentum leaders: top decile of 120-session performance, ADX > 25 with +DI > -DI",
            "adx_14 > 25 and plus_di_14 > minus_di_14",
            sort="perf_120d",
            rank=Rank("perf_120d", 0.10),
        ),
        Preset(
            "macd_cross",
            "MACD bullish cross: MACD crossed above its signal on the last session",
            "prev_macd <= prev_macd_signal and macd > macd_signal",
            sort="macd_hist",
        ),
        Preset(
            "golden_cross",
            "Golden cross: SMA50 crossed above SMA200 on the last session",
            "prev_sma_50 <= prev_sma_200 and sma_50 > sma_200",
            sort="perf_20d",
        ),
        Preset(
            "death_cross",
            "Death cross: SMA50 crossed below SMA200 on the last session",
            "prev_sma_50 >= prev_sma_200 and sma_50 < sma_200",
            sort="perf_20d",
            descending=False,
        ),
        Preset(
            "gaps",
            "Gaps: |open - previous close| >= 1 ATR (gap-and-go or gap-fill candidates)",
            "abs(gap_atr) >= 1",
            sort="abs(gap_atr)",
        ),
        Preset(
            "short_setups",
            "Short setups: close < SMA200, -DI > +DI with ADX > 25, new 20-day low",
            "close < sma_200 and minus_di_14 > plus_di_14 and adx_14 > 25 and close < low_20",
            sort="adx_14",
        ),
    )
}
