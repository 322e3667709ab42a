"""Run a preset or an expression over an IndicatorTable, behind the liquidity gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy.orm import Session

from foliosync.errors import ValidationFailed
from foliosync.market.indicators.snapshot import FIELDS, IndicatorTable, compute_snapshot
from foliosync.market.prices.store import load_series
from foliosync.market.scanners.expression import (
    BoolArray,
    FloatArray,
    parse_condition,
    parse_numeric,
)
from foliosync.market.scanners.gate import DEFAULT_GATE, LiquidityGate, current_mask
from foliosync.market.scanners.presets import PRESETS, Preset

FIELD_NAMES = sorted(FIELDS)
STOP_ATR_MULTIPLE = 2.0

OUTPUT_FIELDS = (
    "close",
    "atr_14",
    "atr_pct",
    "rsi_14",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "dist_sma_20_atr",
    "dist_sma_50_atr",
    "dist_sma_200_atr",
    "perf_5d",
    "perf_20d",
    "perf_60d",
    "perf_120d",
    "rel_volume",
    "dollar_volume_20",
)


@dataclass
class ScanResult:
    expression: str
    preset: str | None
    gate: str | None
    universe_size: int
    passed_gate: int
    matched: int
    as_of: date | None
    rows: list[dict[str, object]] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ValidationFailed(
            f"unknown preset {name!r}",
            hint=f"Presets: {', '.join(sorted(PRESETS))}; or pass a filter expression instead.",
        ) from None


def _rank_mask(values: FloatArray, eligible: BoolArray, top_fraction: float) -> BoolArray:
    pool = values[eligible & np.isfinite(values)]
    if pool.size == 0:
        return np.zeros(values.shape, dtype=bool)
    threshold = np.quantile(pool, 1.0 - top_fraction)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values >= threshold)


def _clean(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def run_scan(
    table: IndicatorTable,
    *,
    expression: str | None = None,
    preset: str | None = None,
    gate: LiquidityGate | None = DEFAULT_GATE,
    sort: str | None = None,
    descending: bool | None = None,
    limit: int = 100,
    memberships: Mapping[str, Sequence[str]] | None = None,
) -> ScanResult:
    """Exactly one of `expression` or `preset`. `gate=None` scans the whole table (stale rows still
    excluded)."""
    if (expression is None) == (preset is None):
        raise ValidationFailed(
            "give either a preset or an expression", hint=f"Presets: {', '.join(sorted(PRESETS))}"
        )
    chosen = get_preset(preset) if preset is not None else None
    source = chosen.expression if chosen else str(expression)
    condition = parse_condition(source, FIELD_NAMES)
    sort_source = sort or (chosen.sort if chosen else "atr_pct")
    sort_key = parse_numeric(sort_source, FIELD_NAMES)
    if descending is None:
        descending = chosen.descending if chosen else True

    eligible = (
        gate.mask(table) if gate is not None else current_mask(table, LiquidityGate().max_staleness_days)
    )
    matched = condition.evaluate(table.fields) & eligible
    if chosen is not None and chosen.rank is not None:
        matched &= _rank_mask(table.fields[chosen.rank.field], eligible, chosen.rank.top_fraction)

    positions = np.flatnonzero(matched)
    keys = sort_key.evaluate(table.fields)[positions]
    keys = np.where(np.isfinite(keys), keys, -np.inf if descending else np.inf)
    order = np.argsort(-keys if descending else keys, kind="stable")
    rows: list[dict[str, object]] = []
    for position in positions[order][: max(0, limit)]:
        symbol = table.symbols[position]
        row: dict[str, object] = {"symbol": symbol, "as_of": table.as_of[position]}
        for name in OUTPUT_FIELDS:
            row[name] = _clean(table.fields[name][position])
        close, atr = table.fields["close"][position], table.fields["atr_14"][position]
        row["stop"] = _clean(close - STOP_ATR_MULTIPLE * atr)
        row["indices"] = list(memberships.get(symbol, ())) if memberships else []
        rows.append(row)
    dated = [d for d in table.as_of if d is not None]
    return ScanResult(
        expression=source,
        preset=chosen.name if chosen else None,
        gate=gate.describe() if gate is not None else None,
        universe_size=len(table),
        passed_gate=int(eligible.sum()),
        matched=int(matched.sum()),
        as_of=max(dated) if dated else None,
        rows=rows,
    )


# Open and volume are only used over the last TAIL sessions (performance.TAIL = 300 sessions, about
# 430 calendar days); 460 days leave room for holidays.
SCAN_TAIL_DAYS = 460


def table_for(
    session: Session, symbols: Sequence[str], *, workers: int = 1
) -> tuple[IndicatorTable, list[str]]:
    """Indicators for `symbols` from stored bars; also the symbols that have no bars at all."""
    series = load_series(session, symbols, workers=workers, tail_days=SCAN_TAIL_DAYS)
    ordered = [series[s] for s in sorted(series)]
    missing = sorted(set(symbols) - set(series))
    return compute_snapshot(ordered), missing
