"""What can go wrong talking to a market-data provider.

Messages name the provider and the next step; they never contain an API key or a full URL with
its query string (FMP takes its key as a query parameter, marketdata.md A.1).
"""

from __future__ import annotations

from foliosync.errors import FoliosyncError


class ProviderError(FoliosyncError):
    """A provider did not give a usable answer. `provider` is its short name (fmp, polygon, ...)."""

    status_code = 502
    code = "market_provider_error"

    def __init__(self, provider: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{provider}: {message}", hint=hint)
        self.provider = provider


class ProviderNotConfigured(ProviderError):
    """No API key (or base URL) for this provider."""


class ProviderAuthError(ProviderError):
    """The key was refused (HTTP 401)."""


class ProviderPlanError(ProviderError):
    """The key is valid but the plan does not include this endpoint (HTTP 402/403)."""


class ProviderRateLimited(ProviderError):
    """HTTP 429 after every retry. `retry_after` is the server's Retry-After in seconds, if it sent one."""

    status_code = 503

    def __init__(
        self, provider: str, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(provider, message, hint=hint)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """Network error, timeout or a 5xx."""

    status_code = 503


class ProviderDataError(ProviderError):
    """The answer arrived but its shape is not what the provider documents (layout changed, bad JSON)."""


class ProviderNotInstalled(ProviderError):
    """An optional library (yfinance) is not installed."""


class CircuitOpen(ProviderError):
    """The circuit breaker in front of a fragile provider is open; it is not being called."""

    status_code = 503
