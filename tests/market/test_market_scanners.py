"""Scans: presets, the liquidity gate, ranking and sorting on crafted tables; presets on real series
cut at a crossing bar; the universe and the holdings scan on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from foliosync.errors import ValidationFailed
from foliosync.market.indicators.engine import indicator_series
from foliosync.market.indicators.series import BarSeries
from foliosync.market.indicators.snapshot import FIELDS, IndicatorTable, compute_snapshot
from foliosync.market.prices.store import upsert_bars
from foliosync.market.providers.base import Bar
from foliosync.market.scanners.expression import parse_condition, parse_numeric
from foliosync.market.scanners.gate import LiquidityGate
from foliosync.market.scanners.holdings import holdings_scan
from foliosync.market.scanners.presets import PRESETS
from foliosync.market.scanners.runner import scan
from foliosync.market.scanners.scan import run_scan
from foliosync.market.scanners.universe import build_universe, held_positions
from foliosync.models import BrokerAccount, IndexConstituent, Instrument, Position, User
from tests.fakes.fmp_server import make_bars

AS_OF = date(2026, 3, 6)
LIQUID = {"close": 50.0, "dollar_volume_20": 50e6, "bars": 300.0, "atr_pct": 4.0, "atr_14": 2.0}


def make_table(
    rows: dict[str, dict[str, float]], as_of: dict[str, date | None] | None = None
) -> IndicatorTable:
    symbols = list(rows)
    fields = {name: np.array([rows[s].get(name, np.nan) for s in symbols], dtype=float) for name in FIELDS}
    dates = [(as_of or {}).get(s, AS_OF) for s in symbols]
    return IndicatorTable(symbols, dates, fields)


def test_every_preset_parses_against_the_field_list():
    for preset in PRESETS.values():
        parse_condition(preset.expression, sorted(FIELDS))
        parse_numeric(preset.sort, sorted(FIELDS))
        if preset.rank:
            assert preset.rank.field in FIELDS


def test_gate_drops_cheap_illiquid_short_calm_wild_and_stale_symbols():
    table = make_table(
        {
            "OK": dict(LIQUID),
            "CHEAP": {**LIQUID, "close": 9.99},
            "THIN": {**LIQUID, "dollar_volume_20": 19e6},
            "YOUNG": {**LIQUID, "bars": 150.0},
            "CALM": {**LIQUID, "atr_pct": 1.5},
            "WILD": {**LIQUID, "atr_pct": 12.0},
            "STALE": dict(LIQUID),
            "NOATR": {**LIQUID, "atr_pct": np.nan},
        },
        {"STALE": AS_OF - timedelta(days=10)},
    )
    result = run_scan(table, expression="close > 0")
    assert [r["symbol"] for r in result.rows] == ["OK"]
    assert (result.passed_gate, result.matched, result.universe_size) == (1, 1, 8)
    assert "dollar_volume_20 >= 20,000,000" in (result.gate or "")
    # Without the gate only staleness still applies.
    ungated = run_scan(table, expression="close > 0", gate=None)
    assert sorted(r["symbol"] for r in ungated.rows) == [
        "CALM",
        "CHEAP",
        "NOATR",
        "OK",
        "THIN",
        "WILD",
        "YOUNG",
    ]
    looser = run_scan(table, expression="close > 0", gate=LiquidityGate(min_atr_pct=None, max_atr_pct=None))
    assert sorted(r["symbol"] for r in looser.rows) == ["CALM", "NOATR", "OK", "WILD"]


def test_high_atr_movers_rank_the_top_decile_of_the_gated_universe():
    rows = {f"S{i:02d}": {**LIQUID, "atr_pct": 2.0 + i * 0.4, "rel_volume": 2.0} for i in range(20)}
    rows["S19"]["rel_volume"] = 1.2  # top ATR% but no volume surge
    rows["HUGE"] = {**LIQUID, "atr_pct": 30.0, "rel_volume": 5.0}  # fails the gate, must not set the bar
    result = run_scan(make_table(rows), preset="high_atr_movers")
    # 90th percentile of 2.0..9.6 step 0.4 = 8.84: S18 (9.2) qualifies, S19 (9.6) lacks volume.
    assert [r["symbol"] for r in result.rows] == ["S18"]
    assert result.expression == "rel_volume >= 1.5"


def test_trend_pullback_two_atr_breakout_and_oversold_presets():
    base = {**LIQUID, "sma_50": 45.0, "sma_200": 40.0, "ema_21": 49.0, "sma_20": 44.0, "rel_volume": 2.0}
    rows = {
        "PULL": {**base, "rsi_14": 45.0},
        "HOT": {**base, "rsi_14": 65.0},
        "FAR": {**base, "rsi_14": 45.0, "ema_21": 47.5},  # 2.5 away with ATR 2
        "BRK": {**base, "rsi_14": 70.0, "close": 49.0, "sma_20": 44.5, "high_20": 48.0, "atr_pct": 4.1},
        "OVER": {**base, "rsi_14": 25.0},
        "DOWN": {**base, "rsi_14": 25.0, "sma_200": 60.0},
    }
    table = make_table(rows)
    assert [r["symbol"] for r in run_scan(table, preset="trend_pullback").rows] == ["PULL"]
    # close > sma_20 + 2*atr: BRK 49 > 48.5 and > high_20 48.
    assert [r["symbol"] for r in run_scan(table, preset="atr_breakout").rows] == ["BRK"]
    assert [r["symbol"] for r in run_scan(table, preset="oversold_uptrend").rows] == ["OVER"]


def test_sorting_limit_and_output_columns():
    rows = {f"S{i}": {**LIQUID, "gap_atr": g} for i, g in enumerate([1.5, -3.0, 0.5, 2.0, -1.0])}
    rows["S0"].update({"sma_20": 48.0, "rsi_14": 60.0})
    result = run_scan(make_table(rows), preset="gaps", memberships={"S1": ["SP500", "HELD"]})
    assert [r["symbol"] for r in result.rows] == ["S1", "S3", "S0", "S4"]
    assert result.rows[0]["indices"] == ["SP500", "HELD"]
    s0 = result.rows[2]
    assert s0["stop"] == 46.0 and s0["dist_sma_20_atr"] is None and s0["rsi_14"] == 60.0
    assert s0["as_of"] == AS_OF
    assert [r["symbol"] for r in run_scan(make_table(rows), preset="gaps", limit=2).rows] == ["S1", "S3"]
    ascending = run_scan(make_table(rows), expression="gap_atr > -10", sort="gap_atr", descending=False)
    assert [r["symbol"] for r in ascending.rows] == ["S1", "S4", "S2", "S0", "S3"]


def test_preset_or_expression_errors():
    table = make_table({"A": dict(LIQUID)})
    with pytest.raises(ValidationFailed, match="either a preset or an expression"):
        run_scan(table)
    with pytest.raises(ValidationFailed, match="unknown preset 'moon'"):
        run_scan(table, preset="moon")
    with pytest.raises(ValidationFailed, match="unknown field 'atr'"):
        run_scan(table, expression="atr > 1")


# --- presets on real series: cut the history at a crossing bar ---------------------------------


def _random_walk(n: int, seed: int) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = 60 * np.exp(np.cumsum(rng.normal(0.0002, 0.025, n)))
    open_ = close * (1 + rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.005, 0.03, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.005, 0.03, n))
    volume = rng.uniform(1e6, 3e6, n)
    dates = np.array([np.datetime64("2021-01-04") + i for i in range(n)], dtype="datetime64[D]")
    return BarSeries(f"W{seed}", dates, open_, high, low, close, volume)


def _cut(series: BarSeries, end: int) -> BarSeries:
    return BarSeries(
        series.symbol,
        *(getattr(series, k)[: end + 1] for k in ("dates", "open", "high", "low", "close", "volume")),
    )


def _crossings(up: np.ndarray, down: np.ndarray) -> list[int]:
    return [i for i in range(1, len(up)) if up[i - 1] <= down[i - 1] and up[i] > down[i]]


def test_golden_cross_and_macd_cross_fire_on_the_crossing_bar_only():
    for seed in range(40):
        series = _random_walk(900, seed)
        full = indicator_series(series)
        golden = [i for i in _crossings(full["sma_50"], full["sma_200"]) if i > 250]
        if golden:
            break
    else:
        pytest.fail("no golden cross in 40 random walks")
    at = golden[0]
    on = compute_snapshot([_cut(series, at)])
    after = compute_snapshot([_cut(series, at + 1)])
    no_gate = {"gate": None}
    assert [r["symbol"] for r in run_scan(on, preset="golden_cross", **no_gate).rows] == [series.symbol]
    assert run_scan(after, preset="golden_cross", **no_gate).rows == []
    macd_at = next(i for i in _crossings(full["macd"], full["macd_signal"]) if i > 40)
    assert run_scan(compute_snapshot([_cut(series, macd_at)]), preset="macd_cross", **no_gate).matched == 1
    assert (
        run_scan(compute_snapshot([_cut(series, macd_at + 1)]), preset="macd_cross", **no_gate).matched == 0
    )


# --- universe and holdings (database) ----------------------------------------------------------


def _instrument(session, symbol: str, category: str = "STK", **extra) -> Instrument:
    inst = Instrument(
        key=f"{category}:{symbol}:USD", asset_category=category, symbol=symbol, currency="USD", **extra
    )
    session.add(inst)
    session.flush()
    return inst


def _position(session, account, inst, day: date, quantity: str) -> None:
    session.add(
        Position(
            account_id=account.id,
            instrument_id=inst.id,
            source="flex_xml",
            as_of_date=day,
            as_of=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
            quantity=Decimal(quantity),
            currency="USD",
        )
    )


@pytest.fixture
def holdings_db(session):
    alice = User(email="alice@example.com", password_hash="x")
    bob = User(email="bob@example.com", password_hash="x")
    session.add_all([alice, bob])
    session.flush()
    main = BrokerAccount(user_id=alice.id, broker="ibkr", external_account_id="U100", alias="Main")
    ira = BrokerAccount(user_id=alice.id, broker="schwab", external_account_id="9876")
    other = BrokerAccount(user_id=bob.id, broker="ibkr", external_account_id="U200")
    session.add_all([main, ira, other])
    session.flush()
    aapl, msft, brk = (
        _instrument(session, "AAPL"),
        _instrument(session, "MSFT"),
        _instrument(session, "BRK B"),
    )
    tsla, bond = _instrument(session, "TSLA"), _instrument(session, "US912828", "BOND")
    call = Instrument(
        key="OPT:AAPL  260320C00200000",
        asset_category="OPT",
        symbol="AAPL  260320C00200000",
        underlying_symbol="AAPL",
        currency="USD",
        multiplier=Decimal(100),
    )
    session.add(call)
    session.flush()
    old, new = date(2026, 3, 2), date(2026, 3, 5)
    _position(session, main, msft, old, "50")  # only in the older snapshot
    _position(session, main, aapl, new, "100")
    _position(session, main, call, new, "2")
    _position(session, main, bond, new, "10000")
    _position(session, main, tsla, new, "0")  # closed: not held
    _position(session, ira, brk, old, "-10")  # the IRA's latest snapshot is older; still its latest
    _position(session, other, tsla, new, "5")
    session.add(
        IndexConstituent(
            index_name="DOW30",
            symbol="AAPL",
            is_active=True,
            first_seen_at=datetime(2026, 1, 1, tzinfo=UTC),
            last_seen_at=datetime(2026, 3, 1, tzinfo=UTC),
            provider="fmp",
        )
    )
    session.add(
        IndexConstituent(
            index_name="SP500",
            symbol="XOM",
            is_active=False,
            first_seen_at=datetime(2026, 1, 1, tzinfo=UTC),
            last_seen_at=datetime(2026, 1, 1, tzinfo=UTC),
            became_inactive_at=datetime(2026, 2, 1, tzinfo=UTC),
            provider="fmp",
        )
    )
    session.commit()
    return alice, bob


def test_universe_is_active_index_members_plus_everything_held(session, holdings_db):
    universe = build_universe(session)
    assert universe.symbols == ["AAPL", "BRK.B", "TSLA"]  # XOM inactive, MSFT only in an old snapshot
    assert universe.memberships["AAPL"] == ["DOW30", "HELD"]
    alice, _bob = holdings_db
    held = held_positions(session, alice.id)
    assert sorted((p.account_label, p.instrument_symbol, p.bar_symbol) for p in held) == [
        ("9876", "BRK B", "BRK.B"),
        ("Main", "AAPL", "AAPL"),
        ("Main", "AAPL  260320C00200000", "AAPL"),
        ("Main", "US912828", None),
    ]


def _store_bars(session, symbol: str, count: int, seed: int) -> list[Bar]:
    bars = [
        Bar(
            symbol,
            date.fromisoformat(r["date"]),
            *(Decimal(str(r[k])) for k in ("open", "high", "low", "close")),
            r["volume"],
            "fmp",
        )
        for r in make_bars(symbol, date(2025, 11, 3), count, seed=seed)
    ]
    upsert_bars(session, bars)
    return bars


def test_holdings_scan_gives_atr_and_stop_per_position_of_that_user_only(session, holdings_db):
    alice, bob = holdings_db
    aapl_bars = _store_bars(session, "AAPL", 60, 1)
    brk_bars = _store_bars(session, "BRK.B", 60, 2)
    _store_bars(session, "TSLA", 60, 3)
    session.commit()
    rows = {r.symbol: r for r in holdings_scan(session, alice.id)}
    assert sorted(rows) == ["AAPL", "AAPL  260320C00200000", "BRK B", "US912828"]

    def atr_of(bars: list[Bar]) -> Decimal:
        series = BarSeries.from_rows(
            "X", [(b.bar_date, b.open, b.high, b.low, b.close, b.volume) for b in bars]
        )
        value = indicator_series(series)["atr_14"][-1]
        return Decimal(repr(float(value))).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    aapl = rows["AAPL"]
    assert aapl.close == aapl_bars[-1].close and aapl.as_of == aapl_bars[-1].bar_date
    assert aapl.atr_14 == atr_of(aapl_bars)
    assert aapl.distance == 2 * aapl.atr_14
    assert aapl.stop == aapl.close - 2 * aapl.atr_14
    assert aapl.risk_amount == (100 * aapl.distance).quantize(Decimal("0.01"))
    assert aapl.distance_pct == (aapl.distance / aapl.close * 100).quantize(Decimal("0.0001"))
    short = rows["BRK B"]
    assert short.bar_symbol == "BRK.B" and short.stop == brk_bars[-1].close + 2 * atr_of(brk_bars)
    assert short.risk_amount == (10 * short.distance).quantize(Decimal("0.01"))
    option = rows["AAPL  260320C00200000"]
    assert option.stop == aapl.stop and option.risk_amount is None and "underlying AAPL" in option.note
    assert rows["US912828"].atr_14 is None and "no daily bars for BOND" in rows["US912828"].note
    wider = {r.symbol: r for r in holdings_scan(session, alice.id, multiple=Decimal("1.5"))}
    assert wider["AAPL"].distance == (Decimal("1.5") * aapl.atr_14).quantize(Decimal("0.0001"))
    assert [r.symbol for r in holdings_scan(session, bob.id)] == ["TSLA"]


def test_scan_runner_over_stored_bars_and_the_held_universe(session, holdings_db):
    alice, _ = holdings_db
    for i, symbol in enumerate(["AAPL", "BRK.B", "TSLA"]):
        _store_bars(session, symbol, 260, i)
    session.commit()
    everything = scan(session, expression="bars >= 260", gate=None)
    assert sorted(r["symbol"] for r in everything.rows) == ["AAPL", "BRK.B", "TSLA"]
    held = scan(session, expression="bars >= 260", universe="HELD", user_id=alice.id, gate=None)
    assert sorted(r["symbol"] for r in held.rows) == ["AAPL", "BRK.B"]
    dow = scan(session, expression="close > 0", universe="DOW30", gate=None)
    assert [r["symbol"] for r in dow.rows] == ["AAPL"] and dow.rows[0]["indices"] == ["DOW30"]
    explicit = scan(session, expression="close > 0", universe=["aapl", "NVDA"], gate=None)
    assert [r["symbol"] for r in explicit.rows] == ["AAPL"] and explicit.no_data == ["NVDA"]
    with pytest.raises(ValidationFailed, match="FTSE"):
        scan(session, expression="close > 0", universe="FTSE")
