"""The scheduled market-data refresh (Celery beat's `foliosync.refresh_market_data`, every 6 h).

Constituents first (so newly added members get prices), then daily bars for the whole ATR
universe in chunks, committing after each chunk: a refresh interrupted half-way keeps what it
fetched, and the next one continues from the last stored bar (the backfill is incremental).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from foliosync.config import Settings
from foliosync.db.session import session_scope
from foliosync.market.constituents.service import refresh_constituents
from foliosync.market.prices.chain import default_price_chain
from foliosync.market.prices.service import refresh_prices
from foliosync.market.scanners.universe import build_universe

log = logging.getLogger(__name__)

CHUNK = 100


@dataclass
class MarketRefreshResult:
    indices_applied: int
    symbols: int
    bars_written: int
    failed_symbols: int

    def __str__(self) -> str:
        return (
            f"{self.indices_applied} indices updated, {self.symbols} symbols, "
            f"{self.bars_written} bars written, {self.failed_symbols} symbols failed"
        )


def universe_symbols(session: Session) -> list[str]:
    return build_universe(session).symbols


def refresh_all(
    engine: Engine,
    settings: Settings,
    *,
    chunk_size: int = CHUNK,
    universe: Callable[[Session], list[str]] = universe_symbols,
) -> MarketRefreshResult:
    with session_scope(engine) as session:
        outcomes = refresh_constituents(session, settings)
    with session_scope(engine) as session:
        symbols = universe(session)
    chain = default_price_chain(settings)
    written = failed = 0
    for start in range(0, len(symbols), chunk_size):
        with session_scope(engine) as session:
            summary = refresh_prices(session, settings, symbols[start : start + chunk_size], chain=chain)
            written += summary.counts.written
            failed += len(summary.failed)
    result = MarketRefreshResult(sum(1 for o in outcomes if o.applied), len(symbols), written, failed)
    log.info("market data refresh: %s", result)
    return result
