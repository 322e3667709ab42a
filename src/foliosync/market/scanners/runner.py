"""Scan entry point for the API, the CLI and tasks: pick the universe, load bars, compute, filter.

Universe choices: None = the ATR universe (three indices + every held symbol); an index name
(SP500, NASDAQ100, DOW30); "HELD" = the calling user's held symbols; or an explicit symbol list.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from foliosync.errors import ValidationFailed
from foliosync.market.indices import IndexName
from foliosync.market.scanners.gate import DEFAULT_GATE, LiquidityGate
from foliosync.market.scanners.scan import ScanResult, run_scan, table_for
from foliosync.market.scanners.universe import (
    HELD,
    Universe,
    build_universe,
    held_positions,
    index_memberships,
)
from foliosync.market.symbols import is_valid_ticker, normalize_ticker

MAX_EXPLICIT_SYMBOLS = 5_000


def resolve_universe(session: Session, universe: str | Sequence[str] | None, user_id: int | None) -> Universe:
    if universe is None:
        return build_universe(session)
    if isinstance(universe, str):
        if universe.strip().upper() in (HELD, "HOLDINGS"):
            if user_id is None:
                raise ValidationFailed("the HELD universe needs a user")
            result = Universe()
            for position in held_positions(session, user_id):
                if position.bar_symbol:
                    result.add(position.bar_symbol, HELD)
            return result
        try:
            index = IndexName.parse(universe)
        except ValueError as exc:
            raise ValidationFailed(
                str(exc), hint="Use SP500, NASDAQ100, DOW30, HELD, or a list of symbols."
            ) from None
        return index_memberships(session, [index])
    if len(universe) > MAX_EXPLICIT_SYMBOLS:
        raise ValidationFailed(f"at most {MAX_EXPLICIT_SYMBOLS} symbols per scan")
    full = build_universe(session).memberships
    result = Universe()
    for raw in universe:
        symbol = normalize_ticker(raw)
        if not is_valid_ticker(symbol):
            raise ValidationFailed(f"{raw!r} is not a US stock ticker")
        result.memberships[symbol] = list(full.get(symbol, []))
    return result


def scan(
    session: Session,
    *,
    expression: str | None = None,
    preset: str | None = None,
    universe: str | Sequence[str] | None = None,
    user_id: int | None = None,
    gate: LiquidityGate | None = DEFAULT_GATE,
    sort: str | None = None,
    descending: bool | None = None,
    limit: int = 100,
    workers: int = 2,
) -> ScanResult:
    """`workers`: PostgreSQL connections reading bars in parallel (committed bars only); see
    docs/benchmarks/market.md for why two."""
    chosen = resolve_universe(session, universe, user_id)
    table, missing = table_for(session, chosen.symbols, workers=workers)
    result = run_scan(
        table,
        expression=expression,
        preset=preset,
        gate=gate,
        sort=sort,
        descending=descending,
        limit=limit,
        memberships=chosen.memberships,
    )
    result.universe_size = len(chosen.symbols)
    result.no_data = missing
    return result
