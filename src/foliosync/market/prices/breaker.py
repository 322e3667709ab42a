"""A circuit breaker for a fragile provider (marketdata.md E: "open after N consecutive 429s for M hours").

closed    -> calls go through; `failure_threshold` consecutive failures open the circuit.
open      -> calls are refused at once (CircuitOpen) until `cooldown` has passed.
half-open -> one trial call; success closes the circuit, failure opens it for another cooldown.

State is per process: a Celery worker and the web process each learn on their own, which errs on
the side of calling Yahoo less often, never more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from foliosync.market.errors import CircuitOpen, ProviderError, ProviderNotInstalled
from foliosync.market.providers.base import Bar, PriceProvider


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _now() -> datetime:
    return datetime.now(UTC)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        cooldown: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: datetime | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def reopens_at(self) -> datetime | None:
        with self._lock:
            return None if self._opened_at is None else self._opened_at + self.cooldown

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go through now."""
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            assert self._opened_at is not None
            reopen = self._opened_at + self.cooldown
        raise CircuitOpen(
            self.name,
            f"circuit open after {self.failure_threshold} consecutive failures; not calling until "
            f"{reopen:%Y-%m-%d %H:%M} UTC",
            hint="Bars come from the other providers meanwhile.",
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            was_trial = self._trial_running
            self._trial_running = False
            self._failures += 1
            if was_trial or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def reset(self) -> None:
        self.record_success()


class GuardedProvider:
    """A PriceProvider whose calls pass through a CircuitBreaker. A missing library (yfinance not
    installed) is reported as such and does not count as a failure: it is a setting, not an outage."""

    def __init__(self, provider: PriceProvider, breaker: CircuitBreaker) -> None:
        self._provider = provider
        self.breaker = breaker
        self.name = provider.name

    def fetch_daily_bars(self, symbol: str, start: date, end: date) -> list[Bar]:
        self.breaker.before_call()
        try:
            bars = self._provider.fetch_daily_bars(symbol, start, end)
        except ProviderNotInstalled:
            self.breaker.record_success()
            raise
        except ProviderError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return bars


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(name: str) -> CircuitBreaker:
    """The process-wide breaker of a provider, so every refresh in this process shares its memory."""
    with _breakers_lock:
        if name not in _breakers:
            _breakers[name] = CircuitBreaker(name)
        return _breakers[name]
