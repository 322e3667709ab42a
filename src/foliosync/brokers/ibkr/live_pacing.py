"""IBKR pacing for the TWS API: stay under ~50 messages per second.

TWS disconnects a client that sends more than 50 messages a second (shared/docs/ibkr.md D.1; ib_async
itself queues beyond 45 per second). On top of that hard cap, market data requests go through a
token bucket of their own so a quote page for a large portfolio never floods the gateway, and at
most `max_concurrent_market_data` snapshot lines are open at once (TWS allows 100 lines by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

_EPSILON = 1e-9


@dataclass(frozen=True)
class PacingPolicy:
    # Hard cap for every message this client sends (ib_async's `Client.MaxRequests`).
    max_messages_per_second: int = 45
    # Contract lookups and market data snapshot requests, a subset of the above.
    market_data_requests_per_second: float = 20.0
    max_concurrent_market_data: int = 50

    def __post_init__(self) -> None:
        if not 0 < self.max_messages_per_second <= 50:
            raise ValueError("max_messages_per_second must be between 1 and 50 (IBKR's limit)")
        if self.market_data_requests_per_second <= 0 or self.max_concurrent_market_data <= 0:
            raise ValueError("market data pacing needs a positive rate and line count")


class RequestPacer:
    """A token bucket: `rate` tokens a second, at most `burst` banked. `acquire(n)` waits until
    n tokens are there. The clock and sleep are injectable so the schedule is testable exactly."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, tokens: float = 1.0) -> None:
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens at once from a bucket of {self.burst}")
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= tokens - _EPSILON:  # float refills land a hair short
                    self._tokens = max(0.0, self._tokens - tokens)
                    return
                await self._sleep((tokens - self._tokens) / self.rate)
