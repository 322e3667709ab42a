"""Daily bars: provider chain, incremental backfill, source tags, fallback replacement, circuit breaker,
and the fast numeric read-back. Database tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select

from foliosync.market.errors import CircuitOpen, ProviderNotInstalled, ProviderRateLimited
from foliosync.market.prices.breaker import BreakerState, CircuitBreaker, GuardedProvider
from foliosync.market.prices.chain import PriceChain, default_price_chain
from foliosync.market.prices.service import refresh_prices
from foliosync.market.prices.store import last_bar_dates, load_series, upsert_bars
from foliosync.market.providers.base import Bar
from foliosync.market.providers.fmp import EOD_PATH
from foliosync.market.providers.yfinance import YFinanceClient
from foliosync.models import DailyPrice
from tests.fakes.fmp_server import make_bars
from tests.fakes.polygon_server import agg_from_fmp_row
from tests.support.api import make_settings

from .conftest import fmp_client, polygon_client

START = date(2025, 1, 2)


@pytest.fixture
def settings():
    return make_settings("sqlite://")


def _stored(session, symbol: str) -> list[DailyPrice]:
    return list(
        session.scalars(select(DailyPrice).where(DailyPrice.symbol == symbol).order_by(DailyPrice.bar_date))
    )


def test_backfill_then_incremental_refresh(session, settings, fmp):
    rows = make_bars("BRK.B", START, 120)
    fmp.set_bars("BRK.B", rows)
    fmp.set_bars("AAPL", make_bars("AAPL", START, 120, seed=2))
    chain = PriceChain([fmp_client(fmp)])
    first_day = date.fromisoformat(rows[79]["date"])
    summary = refresh_prices(
        session, settings, ["brk-b", "AAPL"], chain=chain, today=first_day, history_days=400
    )
    session.commit()
    assert summary.counts.inserted == 160 and not summary.failed
    stored = _stored(session, "BRK.B")
    assert [b.bar_date.isoformat() for b in stored] == [r["date"] for r in rows[:80]]
    assert stored[10].close == Decimal(str(rows[10]["close"])) and stored[10].volume == rows[10]["volume"]
    assert {b.source for b in stored} == {"fmp"}
    assert fmp.requests_to(EOD_PATH)[1] == {
        "symbol": "BRK-B",
        "from": (first_day - timedelta(days=400)).isoformat(),
        "to": first_day.isoformat(),
        "apikey": fmp.api_key,
    }

    later = date.fromisoformat(rows[99]["date"])
    summary = refresh_prices(session, settings, ["BRK.B", "AAPL"], chain=chain, today=later)
    session.commit()
    # Only the bars after the last stored one are asked for and written.
    assert fmp.requests_to(EOD_PATH)[-1]["from"] == (first_day + timedelta(days=1)).isoformat()
    assert summary.counts.inserted == 40 and summary.counts.updated == 0
    assert last_bar_dates(session, ["BRK.B", "AAPL", "NONE"]) == {"BRK.B": later, "AAPL": later}

    requests = len(fmp.requests)
    summary = refresh_prices(session, settings, ["BRK.B"], chain=chain, today=later)
    assert len(fmp.requests) == requests and len(summary.up_to_date) == 1


def test_fmp_plan_error_falls_back_to_polygon_and_bars_say_so(session, settings, fmp, polygon):
    rows = make_bars("MSFT", START, 30)
    polygon.set_bars("MSFT", [agg_from_fmp_row(r) for r in rows])
    fmp.script(EOD_PATH, 402)
    chain = PriceChain([fmp_client(fmp), polygon_client(polygon)])
    today = date.fromisoformat(rows[-1]["date"])
    summary = refresh_prices(session, settings, ["MSFT"], chain=chain, today=today, history_days=60)
    session.commit()
    [outcome] = summary.outcomes
    assert outcome.provider == "polygon" and outcome.fallback_used and outcome.bars == 30
    assert {b.source for b in _stored(session, "MSFT")} == {"polygon"}
    assert _stored(session, "MSFT")[-1].close == Decimal(str(rows[-1]["close"]))


def test_a_first_backfill_that_fmp_cannot_serve_asks_polygon(session, settings, fmp, polygon):
    rows = make_bars("ARM", START, 10)
    polygon.set_bars("ARM", [agg_from_fmp_row(r) for r in rows])  # FMP knows nothing about ARM: []
    chain = PriceChain([fmp_client(fmp), polygon_client(polygon)])
    today = date.fromisoformat(rows[-1]["date"])
    [outcome] = refresh_prices(session, settings, ["ARM"], chain=chain, today=today, history_days=30).outcomes
    assert outcome.provider == "polygon" and outcome.bars == 10
    assert outcome.fallback_used
    # Once history exists, FMP's empty answer means "nothing new" and Polygon is not asked.
    calls = len(polygon.requests)
    [outcome] = refresh_prices(
        session, settings, ["ARM"], chain=chain, today=today + timedelta(days=3)
    ).outcomes
    assert outcome.provider == "fmp" and outcome.bars == 0 and len(polygon.requests) == calls


def test_every_provider_failing_is_reported_per_symbol(session, settings, fmp, polygon):
    fmp.script(EOD_PATH, 402)
    polygon.script(403)
    chain = PriceChain([fmp_client(fmp), polygon_client(polygon)])
    summary = refresh_prices(session, settings, ["MSFT", "not a ticker"], chain=chain, today=START)
    errors = {o.symbol: o.error for o in summary.outcomes}
    assert "fmp: HTTP 402" in errors["MSFT"] and "polygon: HTTP 403" in errors["MSFT"]
    assert errors["NOT A TICKER"] == "not a US stock ticker; skipped"
    assert _stored(session, "MSFT") == []


def test_fallback_bars_are_fetched_again_from_the_primary(session, settings, fmp):
    rows = make_bars("NVDA", START, 20)
    fmp.set_bars("NVDA", rows)
    today = date.fromisoformat(rows[-1]["date"])
    upsert_bars(
        session,
        [
            Bar(
                "NVDA",
                date.fromisoformat(r["date"]),
                Decimal("1"),
                Decimal("2"),
                Decimal("0.5"),
                Decimal("1.5"),
                10,
                "yfinance",
            )
            for r in rows[-3:]
        ],
    )
    session.commit()
    summary = refresh_prices(session, settings, ["NVDA"], chain=PriceChain([fmp_client(fmp)]), today=today)
    session.commit()
    assert fmp.requests_to(EOD_PATH)[-1]["from"] == rows[-3]["date"]
    assert summary.counts.updated == 3
    assert {b.source for b in _stored(session, "NVDA")} == {"fmp"}


def test_default_chain_order_and_a_missing_yfinance(session, fmp):
    keyed = make_settings("sqlite://", fmp_api_key="k", polygon_api_key="p")
    assert default_price_chain(keyed).names == ["fmp", "polygon", "yfinance"]
    bare = make_settings("sqlite://")
    chain = default_price_chain(bare)
    assert chain.names == ["yfinance"]
    if "yfinance" in sys.modules or _installed("yfinance"):
        pytest.skip("yfinance is installed here")
    summary = refresh_prices(session, bare, ["AAPL"], chain=chain, today=START)
    [outcome] = summary.outcomes
    assert "yfinance: the yfinance library is not installed" in outcome.error


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- circuit breaker ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FlakyProvider:
    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0
        self.fail = True

    def fetch_daily_bars(self, symbol, start, end):
        self.calls += 1
        if self.fail:
            raise ProviderRateLimited(self.name, "HTTP 429 Too Many Requests")
        return [Bar(symbol, start, Decimal(1), Decimal(1), Decimal(1), Decimal(1), 1, self.name)]


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown():
    clock, inner = Clock(), FlakyProvider()
    breaker = CircuitBreaker("flaky", failure_threshold=3, cooldown=timedelta(hours=6), clock=clock)
    guarded = GuardedProvider(inner, breaker)
    for _ in range(3):
        with pytest.raises(ProviderRateLimited):
            guarded.fetch_daily_bars("AAPL", START, START)
    assert breaker.state is BreakerState.OPEN and inner.calls == 3
    with pytest.raises(CircuitOpen, match="not calling until 2026-01-05 18:00"):
        guarded.fetch_daily_bars("AAPL", START, START)
    assert inner.calls == 3  # refused without calling

    clock.now += timedelta(hours=6)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(ProviderRateLimited):  # the one trial call fails: open again, for a new cooldown
        guarded.fetch_daily_bars("AAPL", START, START)
    assert inner.calls == 4 and breaker.state is BreakerState.OPEN
    assert breaker.reopens_at == clock.now + timedelta(hours=6)

    clock.now += timedelta(hours=6, minutes=1)
    inner.fail = False
    assert len(guarded.fetch_daily_bars("AAPL", START, START)) == 1
    assert breaker.state is BreakerState.CLOSED


def test_breaker_lets_one_trial_through_and_resets_on_success():
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=2, cooldown=timedelta(minutes=5), clock=clock)
    breaker.record_failure()
    breaker.record_success()  # success in between resets the count
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += timedelta(minutes=5)
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the trial runs


def test_chain_skips_an_open_breaker_and_uses_the_next_provider():
    clock, flaky = Clock(), FlakyProvider()
    breaker = CircuitBreaker("flaky", failure_threshold=1, clock=clock)
    breaker.record_failure()
    backup = FlakyProvider()
    backup.name = "backup"
    backup.fail = False
    result = PriceChain([GuardedProvider(flaky, breaker), backup]).fetch("AAPL", START, START)
    assert result.provider == "backup" and flaky.calls == 0
    assert result.failures[0].startswith("flaky: circuit open")


def test_yfinance_not_installed_is_clean_and_does_not_trip_the_breaker():
    if _installed("yfinance"):
        pytest.skip("yfinance is installed here")
    breaker = CircuitBreaker("yfinance", failure_threshold=1)
    guarded = GuardedProvider(YFinanceClient(), breaker)
    with pytest.raises(ProviderNotInstalled) as error:
        guarded.fetch_daily_bars("BRK.B", START, START)
    assert "not installed" in error.value.message and "pip install yfinance" in (error.value.hint or "")
    assert breaker.state is BreakerState.CLOSED


def test_yfinance_adapter_with_a_stand_in_library():
    """The adapter's calls into the library (Ticker(...).history(...)) with the dash spelling."""
    seen = {}

    class Frame:
        def iterrows(self):
            yield datetime(2025, 1, 2), {"Open": 10.0, "High": 11.0, "Low": 9.0, "Close": 10.5, "Volume": 100}
            yield datetime(2025, 1, 3), {"Open": None, "High": 11.0, "Low": 9.0, "Close": 10.5, "Volume": 100}

    class Ticker:
        def __init__(self, symbol):
            seen["symbol"] = symbol

        def history(self, **kwargs):
            seen.update(kwargs)
            return Frame()

    class YFRateLimitError(Exception):
        pass

    client = YFinanceClient(SimpleNamespace(Ticker=Ticker))
    bars = client.fetch_daily_bars("BRK.B", date(2025, 1, 1), date(2025, 1, 3))
    assert [(b.symbol, b.bar_date, b.close, b.source) for b in bars] == [
        ("BRK.B", date(2025, 1, 2), Decimal("10.5"), "yfinance")
    ]
    assert seen == {
        "symbol": "BRK-B",
        "start": "2025-01-01",
        "end": "2025-01-04",
        "interval": "1d",
        "auto_adjust": True,
        "actions": False,
    }

    class Limited(Ticker):
        def history(self, **kwargs):
            raise YFRateLimitError("Too Many Requests. Rate limited. Try after a while.")

    with pytest.raises(ProviderRateLimited):
        YFinanceClient(SimpleNamespace(Ticker=Limited)).fetch_daily_bars("AAPL", START, START)


# --- numeric read-back -------------------------------------------------------------------------


def _bars(symbol: str, count: int, seed: int) -> list[Bar]:
    return [
        Bar(
            symbol,
            date.fromisoformat(r["date"]),
            *(Decimal(str(r[k])) for k in ("open", "high", "low", "close")),
            r["volume"],
            "fmp",
        )
        for r in make_bars(symbol, START, count, seed=seed)
    ]


def test_load_series_returns_sorted_float_arrays(session):
    aapl, brk = _bars("AAPL", 50, 1), _bars("BRK.B", 30, 2)
    # Written newest first, so physical order is not date order.
    upsert_bars(session, list(reversed(aapl[25:])) + list(reversed(aapl[:25])) + brk)
    session.commit()
    series = load_series(session, ["AAPL", "BRK.B", "NONE"])
    assert sorted(series) == ["AAPL", "BRK.B"]
    s = series["AAPL"]
    assert [str(d) for d in s.dates] == [b.bar_date.isoformat() for b in aapl]
    np.testing.assert_array_equal(s.close, [float(b.close) for b in aapl])
    np.testing.assert_array_equal(s.high, [float(b.high) for b in aapl])
    np.testing.assert_array_equal(s.volume, [float(b.volume) for b in aapl])
    assert s.close.dtype == np.float64 and s.dates.dtype == np.dtype("datetime64[D]")
    recent = load_series(session, ["BRK.B"], since=brk[20].bar_date)["BRK.B"]
    assert len(recent) == 10 and recent.close[0] == float(brk[20].close)


def test_parallel_postgres_read_equals_the_single_connection_read(pg_engine):
    from foliosync.db.session import session_factory

    symbols = [f"S{i}" for i in range(7)]
    with session_factory(pg_engine)() as session:
        upsert_bars(session, [bar for i, s in enumerate(symbols) for bar in _bars(s, 40 + i, i)])
        session.commit()
        single = load_series(session, symbols)
        parallel = load_series(session, symbols, workers=3)
    assert sorted(single) == sorted(parallel) == symbols
    for symbol in symbols:
        assert len(single[symbol]) == 40 + int(symbol[1:])
        for field in ("dates", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(single[symbol], field), getattr(parallel[symbol], field))


def test_postgres_tail_read_leaves_old_open_and_volume_out_but_not_the_indicators(pg_engine):
    from foliosync.db.session import session_factory
    from foliosync.market.indicators.snapshot import compute_snapshot

    long, short = _bars("LONG", 400, 1), _bars("SHRT", 30, 2)
    with session_factory(pg_engine)() as session:
        # Newest first again, so the aggregate sees rows out of date order.
        upsert_bars(session, list(reversed(long)) + short)
        session.commit()
        full = load_series(session, ["LONG", "SHRT"])
        tail = load_series(session, ["LONG", "SHRT"], tail_days=100, workers=2)
    newest = long[-1].bar_date
    cutoff = newest - timedelta(days=100)
    for symbol, bars in (("LONG", long), ("SHRT", short)):
        in_tail = np.array([b.bar_date >= cutoff for b in bars])
        got = tail[symbol]
        np.testing.assert_array_equal(got.close, full[symbol].close)
        np.testing.assert_array_equal(got.high, full[symbol].high)
        np.testing.assert_array_equal(got.open[in_tail], full[symbol].open[in_tail])
        np.testing.assert_array_equal(got.volume[in_tail], full[symbol].volume[in_tail])
        assert np.all(np.isnan(got.open[~in_tail])) and np.all(np.isnan(got.volume[~in_tail]))
    assert np.isnan(tail["LONG"].open).sum() == sum(b.bar_date < cutoff for b in long) > 0
    a, b = compute_snapshot([full["LONG"]]), compute_snapshot([tail["LONG"]])
    for name in (
        "atr_14",
        "rsi_14",
        "sma_200",
        "macd",
        "adx_14",
        "dollar_volume_20",
        "rel_volume",
        "gap",
        "perf_252d",
    ):
        assert a.fields[name][0] == b.fields[name][0], name
