"""Try price providers in order until one answers (marketdata.md recommendations 1 and 6).

An empty answer is an answer: after the last stored bar there may simply be nothing new (a
weekend), and falling through to the next provider would spend the last-resort source's goodwill
every Saturday. Only errors move on to the next provider, except on a first backfill
(`require_bars=True`): a symbol with no history at all that a provider knows nothing about is
asked of the next provider.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from foliosync.config import Settings
from foliosync.market.errors import ProviderError
from foliosync.market.prices.breaker import GuardedProvider, breaker_for
from foliosync.market.providers.base import Bar, PriceProvider

log = logging.getLogger(__name__)


@dataclass
class ChainResult:
    symbol: str
    bars: list[Bar] = field(default_factory=list)
    provider: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.provider is not None

    @property
    def fallback_used(self) -> bool:
        return bool(self.failures) and self.ok


class PriceChain:
    def __init__(self, providers: Sequence[PriceProvider]) -> None:
        self.providers = list(providers)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.providers]

    def fetch(self, symbol: str, start: date, end: date, *, require_bars: bool = False) -> ChainResult:
        result = ChainResult(symbol)
        for provider in self.providers:
            try:
                bars = provider.fetch_daily_bars(symbol, start, end)
            except ProviderError as exc:
                log.info("bars for %s: %s", symbol, exc.message)
                result.failures.append(exc.message)
                continue
            if require_bars and not bars:
                result.failures.append(f"{provider.name}: no bars for {symbol} from {start} to {end}")
                continue
            result.bars, result.provider = bars, provider.name
            return result
        return result


def default_price_chain(settings: Settings) -> PriceChain:
    """FMP and Polygon when their keys are set, then yfinance behind its process-wide breaker."""
    from foliosync.market.providers.fmp import FmpClient
    from foliosync.market.providers.polygon import PolygonClient
    from foliosync.market.providers.yfinance import YFinanceClient

    providers: list[PriceProvider] = []
    if settings.fmp_api_key is not None:
        providers.append(FmpClient(settings.fmp_api_url, settings.fmp_api_key.get_secret_value()))
    if settings.polygon_api_key is not None:
        providers.append(PolygonClient(settings.polygon_api_url, settings.polygon_api_key.get_secret_value()))
    providers.append(GuardedProvider(YFinanceClient(), breaker_for("yfinance")))
    return PriceChain(providers)
