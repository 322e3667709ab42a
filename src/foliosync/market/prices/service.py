"""Incremental daily-bar backfill: for each symbol, fetch only what comes after its last stored bar.

A symbol with no bars gets `history_days` of history (default about five years, enough for the
1,260-bar benchmark universe and for SMA200 warm-up). Bars a fallback source (yfinance) supplied in
the last `refetch_fallback_days` days are asked for again, so a primary provider can replace them.
The function never commits: the caller owns the transaction (a task or the CLI commits per batch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from foliosync.config import Settings
from foliosync.db.upsert import UpsertCounts
from foliosync.market.prices.chain import PriceChain, default_price_chain
from foliosync.market.prices.store import earliest_bars_from, last_bar_dates, upsert_bars
from foliosync.market.symbols import is_valid_ticker, normalize_ticker

log = logging.getLogger(__name__)

DEFAULT_HISTORY_DAYS = 1_900  # calendar days, about 1,300 sessions
FALLBACK_SOURCE = "yfinance"


@dataclass
class SymbolOutcome:
    symbol: str
    start: date | None
    provider: str | None
    bars: int = 0
    error: str | None = None
    fallback_used: bool = False


@dataclass
class PriceRefreshSummary:
    outcomes: list[SymbolOutcome] = field(default_factory=list)
    counts: UpsertCounts = field(default_factory=UpsertCounts)

    @property
    def failed(self) -> list[SymbolOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def up_to_date(self) -> list[SymbolOutcome]:
        return [o for o in self.outcomes if o.start is None and o.error is None]

    def by_provider(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.provider:
                tally[outcome.provider] = tally.get(outcome.provider, 0) + 1
        return tally


def refresh_prices(
    session: Session,
    settings: Settings,
    symbols: Sequence[str] | None = None,
    *,
    chain: PriceChain | None = None,
    today: date | None = None,
    history_days: int = DEFAULT_HISTORY_DAYS,
    refetch_fallback_days: int = 30,
    on_symbol: Callable[[SymbolOutcome], None] | None = None,
) -> PriceRefreshSummary:
    """Fetch and store new daily bars for `symbols` (default: the ATR universe)."""
    if symbols is None:
        from foliosync.market.scanners.universe import build_universe

        symbols = build_universe(session).symbols
    wanted = sorted({normalize_ticker(s) for s in symbols})
    invalid = [s for s in wanted if not is_valid_ticker(s)]
    wanted = [s for s in wanted if is_valid_ticker(s)]
    chain = chain or default_price_chain(settings)
    today = today or datetime.now(UTC).date()
    last = last_bar_dates(session, wanted)
    fallback_from = earliest_bars_from(
        session, wanted, FALLBACK_SOURCE, today - timedelta(days=refetch_fallback_days)
    )
    summary = PriceRefreshSummary()
    for bad in invalid:
        summary.outcomes.append(SymbolOutcome(bad, None, None, error="not a US stock ticker; skipped"))
    for symbol in wanted:
        start = last[symbol] + timedelta(days=1) if symbol in last else today - timedelta(days=history_days)
        if symbol in fallback_from:
            start = min(start, fallback_from[symbol])
        if start > today:
            outcome = SymbolOutcome(symbol, None, None)
        else:
            result = chain.fetch(symbol, start, today, require_bars=symbol not in last)
            outcome = SymbolOutcome(
                symbol,
                start,
                result.provider,
                bars=len(result.bars),
                error=None if result.ok else "; ".join(result.failures) or "no provider configured",
                fallback_used=result.fallback_used,
            )
            if result.bars:
                summary.counts += upsert_bars(session, result.bars)
        summary.outcomes.append(outcome)
        if on_symbol is not None:
            on_symbol(outcome)
    return summary
