"""Full indicator series for one symbol, computed by TA-Lib with its reference settings.

Why TA-Lib: its seeding is the reference (marketdata.md D): Wilder ATR seeded with mean(TR[1..14])
and first output at bar 14, RSI at 14, ADX at 27, EMA seeded with an SMA, MACD at 33. Note that
TA-Lib's MACD seeds its fast EMA late (at the slow EMA's first output), so `macd` is *not*
EMA12 - EMA26 from two independent EMAs; foliosync reports TA-Lib's MACD as the reference.

Unstable periods (D.2) are process-global TA-Lib state: a non-zero value only suppresses the first
outputs, but it would shift every "first valid bar". `reference_mode()` pins them (and the
compatibility mode) to TA-Lib's defaults before each computation, whoever changed them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import talib

from foliosync.market.indicators.series import BarSeries, FloatArray

ATR_PERIOD = 14
RSI_PERIOD = 14
ADX_PERIOD = 14
SMA_PERIODS = (5, 8, 20, 21, 50, 100, 200)
EMA_PERIODS = (8, 10, 21, 200)
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
# A slower ATR, for the squeeze preset's ATR(14)/ATR(50) contraction ratio (marketdata.md F.4).
ATR_SLOW_PERIOD = 50

# TA-Lib function ids whose unstable period affects the functions used here (EMA covers MACD).
_UNSTABLE_IDS = ("ATR", "NATR", "RSI", "ADX", "DX", "PLUS_DI", "MINUS_DI", "EMA")
_settings_lock = threading.Lock()
# The settings functions are not re-exported in talib's namespace as far as mypy can see.
_talib_settings: Any = talib


def _pin_reference_settings() -> None:
    with _settings_lock:
        if _talib_settings.get_compatibility() != 0:
            _talib_settings.set_compatibility(0)
        for name in _UNSTABLE_IDS:
            if _talib_settings.get_unstable_period(name) != 0:
                _talib_settings.set_unstable_period(name, 0)


@contextmanager
def reference_mode() -> Iterator[None]:
    """TA-Lib defaults (unstable period 0, default compatibility) for the enclosed computations."""
    _pin_reference_settings()
    yield


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = ATR_PERIOD) -> FloatArray:
    """Wilder ATR: seed mean(TR[1..n]), first value at index n (bar 0 has no true range)."""
    with reference_mode():
        return np.asarray(talib.ATR(high, low, close, timeperiod=period))


def atr_percent(high: FloatArray, low: FloatArray, close: FloatArray, period: int = ATR_PERIOD) -> FloatArray:
    """100 * ATR / close (TA-Lib NATR)."""
    with reference_mode():
        return np.asarray(talib.NATR(high, low, close, timeperiod=period))


def rsi(close: FloatArray, period: int = RSI_PERIOD) -> FloatArray:
    with reference_mode():
        return np.asarray(talib.RSI(close, timeperiod=period))


def sma(close: FloatArray, period: int) -> FloatArray:
    with reference_mode():
        return np.asarray(talib.SMA(close, timeperiod=period))


def ema(close: FloatArray, period: int) -> FloatArray:
    """EMA with alpha 2/(n+1), seeded with the SMA of the first n closes; first value at n-1."""
    with reference_mode():
        return np.asarray(talib.EMA(close, timeperiod=period))


def macd(close: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TA-Lib MACD(12, 26, 9): line, signal, histogram; first value at index 33."""
    with reference_mode():
        line, signal, hist = talib.MACD(
            close, fastperiod=MACD_FAST, slowperiod=MACD_SLOW, signalperiod=MACD_SIGNAL
        )
    return np.asarray(line), np.asarray(signal), np.asarray(hist)


def dmi(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = ADX_PERIOD
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(ADX, +DI, -DI), Wilder; ADX first at 2n-1, the DIs at n."""
    with reference_mode():
        return (
            np.asarray(talib.ADX(high, low, close, timeperiod=period)),
            np.asarray(talib.PLUS_DI(high, low, close, timeperiod=period)),
            np.asarray(talib.MINUS_DI(high, low, close, timeperiod=period)),
        )


def series_names() -> list[str]:
    names = ["atr_14", "atr_pct", "atr_50", "rsi_14"]
    names += [f"sma_{n}" for n in SMA_PERIODS] + [f"ema_{n}" for n in EMA_PERIODS]
    names += ["macd", "macd_signal", "macd_hist", "adx_14", "plus_di_14", "minus_di_14"]
    return names


def compute_series(series: BarSeries) -> dict[str, FloatArray]:
    """Every indicator as an array the length of the series, NaN during warm-up.

    Calls TA-Lib directly (no per-call settings check) for speed: run it inside `reference_mode()`,
    as `compute_snapshot` and `indicator_series` do.
    """
    h, lo, c = series.high, series.low, series.close
    if len(series) == 0:
        return {name: np.empty(0) for name in series_names()}
    out: dict[str, FloatArray] = {
        "atr_14": talib.ATR(h, lo, c, timeperiod=ATR_PERIOD),
        "atr_pct": talib.NATR(h, lo, c, timeperiod=ATR_PERIOD),
        "atr_50": talib.ATR(h, lo, c, timeperiod=ATR_SLOW_PERIOD),
        "rsi_14": talib.RSI(c, timeperiod=RSI_PERIOD),
    }
    for n in SMA_PERIODS:
        out[f"sma_{n}"] = talib.SMA(c, timeperiod=n)
    for n in EMA_PERIODS:
        out[f"ema_{n}"] = talib.EMA(c, timeperiod=n)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(
        c, fastperiod=MACD_FAST, slowperiod=MACD_SLOW, signalperiod=MACD_SIGNAL
    )
    out["adx_14"] = talib.ADX(h, lo, c, timeperiod=ADX_PERIOD)
    out["plus_di_14"] = talib.PLUS_DI(h, lo, c, timeperiod=ADX_PERIOD)
    out["minus_di_14"] = talib.MINUS_DI(h, lo, c, timeperiod=ADX_PERIOD)
    return out


def indicator_series(series: BarSeries) -> dict[str, FloatArray]:
    """`compute_series` under TA-Lib's reference settings."""
    with reference_mode():
        return compute_series(series)
