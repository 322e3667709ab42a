"""Performance windows, as finviz computes them (marketdata.md D.5): trading-day offsets
`perf_k = 100 * (C_t / C_{t-k} - 1)`, and MTD/QTD/YTD from the last close *before* the period
began. All in percent. Works on right-aligned tail matrices (one row per symbol, newest bar in the
last column, NaN where a symbol has no bar), so every symbol is done at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foliosync.market.indicators.series import FloatArray

PERF_WINDOWS = (1, 3, 5, 20, 60, 120, 252)
# One calendar year holds at most ~253 sessions; YTD needs the session before the first of the year.
TAIL = 300

IntArray = npt.NDArray[np.int64]


def window_returns(closes: FloatArray) -> dict[str, FloatArray]:
    last = closes[:, -1]
    result: dict[str, FloatArray] = {}
    width = closes.shape[1]
    for k in PERF_WINDOWS:
        if k + 1 > width:
            result[f"perf_{k}d"] = np.full(closes.shape[0], np.nan)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            result[f"perf_{k}d"] = 100.0 * (last / closes[:, -1 - k] - 1.0)
    return result


def _period_starts(last_days: IntArray) -> dict[str, IntArray]:
    """First calendar day of the month, quarter and year of each symbol's last bar (days since epoch)."""
    last = last_days.astype("datetime64[D]")
    months = last.astype("datetime64[M]")
    month_number = months.astype(np.int64) % 12  # 0 = January
    quarters = months - (month_number % 3).astype("timedelta64[M]")
    years = last.astype("datetime64[Y]")
    return {
        "mtd": months.astype("datetime64[D]").astype(np.int64),
        "qtd": quarters.astype("datetime64[D]").astype(np.int64),
        "ytd": years.astype("datetime64[D]").astype(np.int64),
    }


def period_returns(closes: FloatArray, days: IntArray) -> dict[str, FloatArray]:
    """`days` holds each bar's date as days since 1970-01-01 (any value where there is no bar)."""
    valid = np.isfinite(closes)
    rows = np.arange(closes.shape[0])
    width = closes.shape[1]
    last = closes[:, -1]
    result: dict[str, FloatArray] = {}
    for name, start in _period_starts(days[:, -1]).items():
        before = valid & (days < start[:, None])
        has = before.any(axis=1)
        position = width - 1 - np.argmax(before[:, ::-1], axis=1)
        reference = closes[rows, position]
        with np.errstate(divide="ignore", invalid="ignore"):
            result[f"perf_{name}"] = np.where(has, 100.0 * (last / reference - 1.0), np.nan)
    return result
