"""Indicators equal TA-Lib's reference (shared/fixtures/indicators, copied to tests/data/market/indicators)
to 1e-9, with TA-Lib's warm-up (NaN before the first valid bar), whatever the global unstable period is;
and equal independent textbook implementations on longer series."""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import talib

from foliosync.market.indicators import engine
from foliosync.market.indicators.series import BarSeries
from foliosync.market.indicators.snapshot import FIELDS, compute_snapshot

DATA = Path(__file__).resolve().parent.parent / "data" / "market" / "indicators"
TOL = {"rtol": 1e-9, "atol": 1e-9}  # the reference is printed with 10 decimals


def _csv(name: str) -> dict[str, np.ndarray]:
    with (DATA / name).open() as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for key in rows[0]:
        if key == "date":
            columns[key] = np.array([r[key] for r in rows], dtype="datetime64[D]")
        else:
            columns[key] = np.array([float(r[key]) if r[key] else np.nan for r in rows])
    return columns


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    c = _csv("ohlcv_series.csv")
    return BarSeries("REF", c["date"], c["open"], c["high"], c["low"], c["close"], c["volume"])


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _csv("talib_reference.csv")


def _assert_matches(mine: np.ndarray, ref: np.ndarray, first: int) -> None:
    assert mine.shape == ref.shape
    assert np.all(np.isnan(mine[:first])), f"values before the first valid bar {first}"
    assert np.all(np.isnan(ref[:first]))
    assert not np.isnan(mine[first])
    np.testing.assert_allclose(mine[first:], ref[first:], **TOL)


def test_fixture_has_the_documented_shape(bars, reference):
    assert len(bars) == 80
    # Bar 40 is the deliberate gap-up: its true range comes from |H - C_prev|, not H - L.
    assert reference["TRANGE"][40] == pytest.approx(bars.high[40] - bars.close[39])
    assert reference["TRANGE"][40] > bars.high[40] - bars.low[40]


def test_every_indicator_equals_the_talib_reference(bars, reference):
    h, lo, c = bars.high, bars.low, bars.close
    _assert_matches(engine.atr(h, lo, c), reference["ATR_14"], 14)
    _assert_matches(engine.atr_percent(h, lo, c), reference["NATR_14"], 14)
    _assert_matches(engine.rsi(c), reference["RSI_14"], 14)
    adx, plus_di, minus_di = engine.dmi(h, lo, c)
    _assert_matches(plus_di, reference["PLUS_DI_14"], 14)
    _assert_matches(minus_di, reference["MINUS_DI_14"], 14)
    _assert_matches(adx, reference["ADX_14"], 27)
    _assert_matches(engine.sma(c, 20), reference["SMA_20"], 19)
    _assert_matches(engine.ema(c, 20), reference["EMA_20"], 19)
    line, signal, hist = engine.macd(c)
    _assert_matches(line, reference["MACD_12_26_9"], 33)
    _assert_matches(signal, reference["MACDSIGNAL_12_26_9"], 33)
    _assert_matches(hist, reference["MACDHIST_12_26_9"], 33)


def test_series_bundle_matches_the_reference(bars, reference):
    out = engine.indicator_series(bars)
    _assert_matches(out["atr_14"], reference["ATR_14"], 14)
    _assert_matches(out["atr_pct"], reference["NATR_14"], 14)
    _assert_matches(out["rsi_14"], reference["RSI_14"], 14)
    _assert_matches(out["adx_14"], reference["ADX_14"], 27)
    _assert_matches(out["sma_20"], reference["SMA_20"], 19)
    _assert_matches(out["macd"], reference["MACD_12_26_9"], 33)
    _assert_matches(out["macd_signal"], reference["MACDSIGNAL_12_26_9"], 33)
    snapshot = compute_snapshot([bars])
    assert snapshot.fields["atr_14"][0] == pytest.approx(reference["ATR_14"][-1], rel=1e-9, abs=1e-9)
    assert snapshot.fields["rsi_14"][0] == pytest.approx(reference["RSI_14"][-1], rel=1e-9, abs=1e-9)
    assert snapshot.fields["prev_macd"][0] == pytest.approx(reference["MACD_12_26_9"][-2], rel=1e-9, abs=1e-9)


def test_a_global_unstable_period_set_elsewhere_does_not_shift_results(bars, reference):
    """check_unstable.py: set_unstable_period only suppresses early outputs; it would move the first
    ATR from 14 to 24. foliosync pins TA-Lib's default (0) before computing."""
    try:
        talib.set_unstable_period("ATR", 10)
        talib.set_unstable_period("RSI", 5)
        talib.set_unstable_period("EMA", 7)
        raw = talib.ATR(bars.high, bars.low, bars.close, timeperiod=14)
        assert int(np.argmax(~np.isnan(raw))) == 24  # the hazard is real
        out = engine.indicator_series(bars)
        _assert_matches(out["atr_14"], reference["ATR_14"], 14)
        _assert_matches(out["rsi_14"], reference["RSI_14"], 14)
        _assert_matches(out["macd"], reference["MACD_12_26_9"], 33)
        talib.set_unstable_period("ADX", 3)
        table = compute_snapshot([bars])
        assert table.fields["adx_14"][0] == pytest.approx(reference["ADX_14"][-1], rel=1e-9, abs=1e-9)
    finally:
        talib.set_unstable_period("ALL", 0)


def test_tradingview_style_atr_is_not_what_we_compute(bars):
    """atr_variants.csv: the TradingView seed (TR[0] = H-L) differs by 0.047 at bar 14."""
    variants = _csv("atr_variants.csv")
    ours = engine.atr(bars.high, bars.low, bars.close)
    assert abs(ours[14] - variants["ATR14_wilder_seed_bars0_13"][14]) > 0.04
    np.testing.assert_allclose(ours[14:], variants["ATR14_wilder_seed_bars1_14"][14:], **TOL)


# --- independent implementations on a longer series ---------------------------------------------


def _long_series(n: int = 320, seed: int = 3) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = np.round(50 * np.exp(np.cumsum(rng.normal(0.0004, 0.02, n))), 2)
    open_ = np.round(np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.005, n)), 2)
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n)), 2)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n)), 2)
    volume = rng.integers(100_000, 2_000_000, n).astype(float)
    dates = np.array([np.datetime64("2023-01-02") + i for i in range(n)], dtype="datetime64[D]")
    return BarSeries("LONG", dates, open_, high, low, close, volume)


def _wilder_atr(h, lo, c, n):
    tr = [math.nan] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]
    out = [math.nan] * len(c)
    out[n] = sum(tr[1 : n + 1]) / n
    for i in range(n + 1, len(c)):
        out[i] = (out[i - 1] * (n - 1) + tr[i]) / n
    return np.array(out)


def _ema(values, n):
    out = [math.nan] * len(values)
    out[n - 1] = sum(values[:n]) / n
    k = 2 / (n + 1)
    for i in range(n, len(values)):
        out[i] = out[i - 1] + k * (values[i] - out[i - 1])
    return np.array(out)


def _rsi(c, n):
    gains = [max(c[i] - c[i - 1], 0) for i in range(1, len(c))]
    losses = [max(c[i - 1] - c[i], 0) for i in range(1, len(c))]
    avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    out = [math.nan] * len(c)
    out[n] = 100 * avg_gain / (avg_gain + avg_loss)
    for i in range(n + 1, len(c)):
        avg_gain = (avg_gain * (n - 1) + gains[i - 1]) / n
        avg_loss = (avg_loss * (n - 1) + losses[i - 1]) / n
        out[i] = 100 * avg_gain / (avg_gain + avg_loss)
    return np.array(out)


def test_indicators_equal_textbook_definitions_on_a_long_series():
    s = _long_series()
    out = engine.indicator_series(s)
    h, lo, c = (list(map(float, a)) for a in (s.high, s.low, s.close))
    np.testing.assert_allclose(out["atr_14"][14:], _wilder_atr(h, lo, c, 14)[14:], **TOL)
    np.testing.assert_allclose(out["atr_50"][50:], _wilder_atr(h, lo, c, 50)[50:], **TOL)
    np.testing.assert_allclose(
        out["atr_pct"][14:], 100 * _wilder_atr(h, lo, c, 14)[14:] / s.close[14:], **TOL
    )
    np.testing.assert_allclose(out["rsi_14"][14:], _rsi(c, 14)[14:], **TOL)
    for n in engine.SMA_PERIODS:
        expected = np.array([np.mean(s.close[i - n + 1 : i + 1]) for i in range(n - 1, len(c))])
        assert np.all(np.isnan(out[f"sma_{n}"][: n - 1]))
        np.testing.assert_allclose(out[f"sma_{n}"][n - 1 :], expected, **TOL)
    for n in engine.EMA_PERIODS:
        assert np.all(np.isnan(out[f"ema_{n}"][: n - 1]))
        np.testing.assert_allclose(out[f"ema_{n}"][n - 1 :], _ema(c, n)[n - 1 :], **TOL)
    # TA-Lib's MACD seeds its fast EMA at the slow EMA's first output (bar 25), so it is not
    # EMA12 - EMA26 of two independently seeded EMAs; rebuild it that way.
    fast = _ema(c[14:], 12)  # seeded on closes 14..25
    slow = _ema(c, 26)
    line = np.full(len(c), np.nan)
    line[25:] = fast[11:] - slow[25:]
    signal = np.full(len(c), np.nan)
    signal[33:] = _ema(list(line[25:]), 9)[8:]
    np.testing.assert_allclose(out["macd"][33:], line[33:], **TOL)
    np.testing.assert_allclose(out["macd_signal"][33:], signal[33:], **TOL)
    np.testing.assert_allclose(out["macd_hist"][33:], line[33:] - signal[33:], **TOL)


# --- snapshot: many symbols at once ------------------------------------------------------------


def _dated_series(symbol: str, start: date, end: date, seed: int) -> BarSeries:
    days = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    base = _long_series(len(days), seed)
    dates = np.array([d.isoformat() for d in days], dtype="datetime64[D]")
    return BarSeries(symbol, dates, base.open, base.high, base.low, base.close, base.volume)


def test_performance_windows_and_periods():
    s = _dated_series("PERF", date(2023, 3, 1), date(2024, 5, 15), seed=11)
    table = compute_snapshot([s])
    c = [float(x) for x in s.close]
    days = [date.fromisoformat(str(d)) for d in s.dates]
    for k in (1, 3, 5, 20, 60, 120, 252):
        assert table.fields[f"perf_{k}d"][0] == pytest.approx(100 * (c[-1] / c[-1 - k] - 1), rel=1e-12)

    def before(limit: date) -> float:
        return [close for day, close in zip(days, c, strict=True) if day < limit][-1]

    assert table.fields["perf_mtd"][0] == pytest.approx(
        100 * (c[-1] / before(date(2024, 5, 1)) - 1), rel=1e-12
    )
    assert table.fields["perf_qtd"][0] == pytest.approx(
        100 * (c[-1] / before(date(2024, 4, 1)) - 1), rel=1e-12
    )
    assert table.fields["perf_ytd"][0] == pytest.approx(
        100 * (c[-1] / before(date(2024, 1, 1)) - 1), rel=1e-12
    )
    assert table.as_of == [date(2024, 5, 15)]


def test_snapshot_of_ragged_symbols_equals_each_symbol_alone(bars):
    long = _dated_series("LONG", date(2023, 1, 2), date(2024, 3, 28), seed=5)
    short = BarSeries(
        "SHORT",
        bars.dates[:10],
        bars.open[:10],
        bars.high[:10],
        bars.low[:10],
        bars.close[:10],
        bars.volume[:10],
    )
    empty = BarSeries("NONE", np.array([], dtype="datetime64[D]"), *(np.array([]) for _ in range(5)))
    table = compute_snapshot([bars, long, short, empty])
    assert table.symbols == ["REF", "LONG", "SHORT", "NONE"]
    assert set(table.fields) == set(FIELDS)
    for position, series in ((0, bars), (1, long)):
        alone = engine.indicator_series(series)
        for name in ("atr_14", "rsi_14", "sma_50", "ema_21", "macd_signal", "adx_14", "minus_di_14"):
            expected = alone[name][-1]
            got = table.fields[name][position]
            assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(
                expected, rel=1e-9, abs=1e-9
            )
    # The 80-bar fixture has no SMA200/52-week range; the 10-bar symbol has no ATR; the empty one nothing.
    assert np.isnan(table.fields["sma_200"][0]) and np.isnan(table.fields["high_252"][0])
    assert np.isnan(table.fields["atr_14"][2]) and table.fields["close"][2] == bars.close[9]
    assert table.row(3)["close"] is None and table.as_of[3] is None
    # Volume statistics of the long series, recomputed here.
    v, c, h = long.volume, long.close, long.high
    assert table.fields["avg_volume_20"][1] == pytest.approx(v[-20:].mean())
    assert table.fields["rel_volume"][1] == pytest.approx(v[-1] / v[-21:-1].mean())
    assert table.fields["dollar_volume_20"][1] == pytest.approx((c[-20:] * v[-20:]).mean())
    assert table.fields["high_20"][1] == h[-21:-1].max()
    assert table.fields["gap_atr"][1] == pytest.approx(
        (long.open[-1] - c[-2]) / engine.indicator_series(long)["atr_14"][-2]
    )
