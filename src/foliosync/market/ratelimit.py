"""A client-side token bucket, so foliosync stays below a provider's plan limit instead of
learning it from 429s (marketdata.md A.5: FMP sends 429 without Retry-After; budget ~80 % of the plan)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`calls_per_minute` tokens refilled continuously, bursting up to `burst`."""

    def __init__(
        self,
        calls_per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls_per_minute <= 0:
            raise ValueError("calls_per_minute must be positive")
        self._rate = calls_per_minute / 60.0
        self._capacity = float(burst if burst is not None else max(1, int(calls_per_minute // 10)))
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait = (1 - self._tokens) / self._rate
            # Reserve the token now so concurrent callers queue behind us.
            self._tokens -= 1
        self._sleep(wait)
        return wait
