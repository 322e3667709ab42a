"""Indicators + one scan over 3,000 symbols x 1,260 daily bars (synthetic, seeded).

    .venv/bin/python bench/bench_indicators.py                 # in memory, then from PostgreSQL
    .venv/bin/python bench/bench_indicators.py --skip-pg       # in memory only

Two measurements (docs/benchmarks/market.md):
1. in memory: bars already as numpy series -> compute_snapshot (every indicator) -> one preset scan.
   Target <= 0.5 s.
2. end to end from PostgreSQL: 3.78M bars are first loaded into a scratch database with COPY (not
   timed), then load_series as a scan reads it (binary COPY, one row per symbol, open/volume for the
   last SCAN_TAIL_DAYS only) -> compute_snapshot -> scan, on a fresh session. Target <= 3 s.
   Reported for 1 and 2 reading connections.
The scratch database (on FOLIOSYNC_BENCH_PG, default postgresql://postgres@127.0.0.1/postgres) is dropped
at the end. Each figure is the median of --repeat runs (min and max shown too).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
from collections.abc import Callable

import numpy as np
from sqlalchemy import create_engine, text

from foliosync.db.migrate import upgrade
from foliosync.db.session import build_engine, normalize_database_url, session_factory
from foliosync.market.indicators.series import BarSeries
from foliosync.market.indicators.snapshot import compute_snapshot
from foliosync.market.prices.store import load_series
from foliosync.market.scanners.scan import SCAN_TAIL_DAYS, run_scan

ADMIN = os.environ.get("FOLIOSYNC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PRESET = "high_atr_movers"


def synthetic(symbols: int, bars: int, seed: int) -> list[BarSeries]:
    """Geometric random walks in cents, business days ending 2026-03-06, volumes 0.2M-20M."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0003, 0.0004, (symbols, 1))
    vol = rng.uniform(0.008, 0.04, (symbols, 1))
    start = rng.uniform(5, 400, (symbols, 1))
    close = np.round(start * np.exp(np.cumsum(rng.normal(drift, vol, (symbols, bars)), axis=1)), 2)
    close = np.maximum(close, 0.5)
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = np.maximum(np.round(prev * (1 + rng.normal(0, vol / 3, (symbols, bars))), 2), 0.5)
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 1, (symbols, bars)) * vol), 2)
    low = np.maximum(
        np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 1, (symbols, bars)) * vol), 2), 0.01
    )
    volume = np.round(rng.uniform(2e5, 2e7, (symbols, 1)) * rng.lognormal(0, 0.3, (symbols, bars)))
    days = np.busday_offset(np.datetime64("2026-03-06"), -np.arange(bars)[::-1], roll="backward")
    names = [f"S{i:04d}" for i in range(symbols)]
    return [BarSeries(names[i], days, open_[i], high[i], low[i], close[i], volume[i]) for i in range(symbols)]


def timed(label: str, repeat: int, action: Callable[[], object]) -> tuple[float, object]:
    seconds: list[float] = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    print(
        f"{label:<58} median {median:6.3f} s   (min {min(seconds):.3f}, max {max(seconds):.3f}, n={repeat})"
    )
    return median, result


def in_memory(series: list[BarSeries], repeat: int) -> None:
    def run() -> object:
        table = compute_snapshot(series)
        return run_scan(table, preset=PRESET)

    timed("indicators only (compute_snapshot)", repeat, lambda: compute_snapshot(series))
    _, result = timed(f"indicators + scan '{PRESET}' (in memory)", repeat, run)
    assert hasattr(result, "matched")
    print(f"   -> {result.passed_gate} symbols pass the gate, {result.matched} match")  # type: ignore[attr-defined]


def load_into_postgres(url: str, series: list[BarSeries]) -> None:
    engine = build_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(
                "COPY daily_prices (symbol, bar_date, open, high, low, close, volume, source) FROM STDIN"
            ) as copy,
        ):
            for s in series:
                dates = s.dates.astype(str)
                lines = [
                    f"{s.symbol}\t{d}\t{o:.2f}\t{h:.2f}\t{lo:.2f}\t{c:.2f}\t{int(v)}\tbench\n"
                    for d, o, h, lo, c, v in zip(dates, s.open, s.high, s.low, s.close, s.volume, strict=True)
                ]
                copy.write("".join(lines))
        raw.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE daily_prices"))
    engine.dispose()


def from_postgres(url: str, symbols: list[str], repeat: int) -> None:
    for workers in (1, 2):
        engine = build_engine(url)

        def run(engine: object = engine, workers: int = workers) -> object:
            with session_factory(engine)() as session:  # type: ignore[arg-type]
                series = load_series(session, symbols, workers=workers, tail_days=SCAN_TAIL_DAYS)
            table = compute_snapshot([series[s] for s in symbols])
            return run_scan(table, preset=PRESET)

        def read_only(engine: object = engine, workers: int = workers) -> object:
            with session_factory(engine)() as session:  # type: ignore[arg-type]
                return load_series(session, symbols, workers=workers, tail_days=SCAN_TAIL_DAYS)

        timed(
            f"read bars from PostgreSQL ({workers} connection{'s' if workers > 1 else ''})", repeat, read_only
        )
        timed(f"end to end: read + indicators + scan ({workers} conn.)", repeat, run)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--bars", type=int, default=1_260)
    parser.add_argument("--seed", type=int, default=20260306)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    series = synthetic(args.symbols, args.bars, args.seed)
    print(
        f"{args.symbols} symbols x {args.bars} bars = {args.symbols * args.bars:,} bars "
        f"(generated in {time.perf_counter() - start:.1f} s)"
    )
    in_memory(series, args.repeat)
    if args.skip_pg:
        return

    name = f"foliosync_bench_{secrets.token_hex(3)}"
    admin = create_engine(normalize_database_url(ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rpartition("/")[0] + "/" + name
    try:
        start = time.perf_counter()
        load_into_postgres(url, series)
        print(
            f"loaded {args.symbols * args.bars:,} bars into PostgreSQL in {time.perf_counter() - start:.1f} s "
            "(not part of the measurement)"
        )
        from_postgres(url, [s.symbol for s in series], args.repeat)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
