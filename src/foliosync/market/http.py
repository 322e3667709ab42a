"""The HTTP exchange shared by every provider: rate limit, retries, status mapping, no secret leaks.

- 429 is retried with exponential backoff; FMP sends no Retry-After (marketdata.md A.5), Polygon
  may. A Retry-After header, when present, is honoured (capped).
- 5xx and network errors are retried a little, then reported as ProviderUnavailable.
- 401 -> ProviderAuthError, 402/403 -> ProviderPlanError (never retried: waiting does not help).
- Error messages carry the provider name, the path and the status, never the query string,
  because FMP's key travels there. httpx's own request log line is redacted for the same reason.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from foliosync import __version__
from foliosync.market.errors import (
    ProviderAuthError,
    ProviderDataError,
    ProviderPlanError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from foliosync.market.ratelimit import TokenBucket

log = logging.getLogger(__name__)

USER_AGENT = f"foliosync/{__version__} (self-hosted portfolio ledger; market-data refresh)"

_SECRET_QUERY = re.compile(r"(?i)((?:api_?key|token)=)[^&\s\"']+")


class _RedactKeys(logging.Filter):
    """httpx logs every request URL at INFO; FMP's key is in that URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact_value(v) for v in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _redact_value(value: object) -> object:
    text = str(value)
    return redact(text) if "=" in text else value


def _install_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactKeys) for f in logger.filters):
        logger.addFilter(_RedactKeys())


_install_redaction()


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1***", text)


@dataclass
class RetryPolicy:
    """Backoff schedule: `backoff_seconds * 2**attempt`, at most `max_retries` retries."""

    max_retries: int = 3
    backoff_seconds: float = 2.0
    max_retry_after: float = 60.0


@dataclass
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """Floats parse as Decimal so prices keep the provider's exact digits."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except ValueError as exc:
            raise ValueError(f"not JSON ({getattr(exc, 'msg', type(exc).__name__)})") from None


class HttpFetcher:
    """One provider's HTTP client. `fetch` returns a successful Response or raises a ProviderError."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        bucket: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self._bucket = bucket
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
        )
        self.calls = 0

    def close(self) -> None:
        self._client.close()

    def fetch(self, path: str, params: Mapping[str, str] | None = None) -> Response:
        attempt = 0
        while True:
            if self._bucket is not None:
                self._bucket.acquire()
            self.calls += 1
            try:
                raw = self._client.get(path, params=dict(params or {}))
            except httpx.TimeoutException:
                failure: Exception = ProviderUnavailable(
                    self.provider, f"timed out on {path}", hint="Check the network and retry later."
                )
            except httpx.TransportError as exc:
                failure = ProviderUnavailable(
                    self.provider,
                    f"cannot reach the service for {path} ({type(exc).__name__})",
                    hint="Check the network, or the base URL setting, and retry later.",
                )
            else:
                response = Response(raw.status_code, raw.content, raw.headers)
                if raw.status_code < 400:
                    return response
                failure = self._status_error(path, response)
                if raw.status_code != 429 and raw.status_code < 500:
                    raise failure
            if attempt >= self._retry.max_retries:
                raise failure
            self._sleep(self._delay(attempt, failure))
            attempt += 1

    def _delay(self, attempt: int, failure: Exception) -> float:
        if isinstance(failure, ProviderRateLimited) and failure.retry_after is not None:
            return min(failure.retry_after, self._retry.max_retry_after)
        return float(self._retry.backoff_seconds * (2**attempt))

    def _status_error(self, path: str, response: Response) -> Exception:
        status = response.status
        detail = _error_detail(response.body)
        where = f"HTTP {status} on {path}" + (f": {detail}" if detail else "")
        if status == 401:
            return ProviderAuthError(self.provider, where, hint="Check the API key setting.")
        if status in (402, 403):
            return ProviderPlanError(
                self.provider,
                where,
                hint="The plan of this API key does not include this endpoint; upgrade it or rely on the fallback.",
            )
        if status == 429:
            return ProviderRateLimited(
                self.provider,
                where,
                hint="The plan's rate limit was hit; retry later or lower the call rate.",
                retry_after=_retry_after(response.headers),
            )
        if status >= 500:
            return ProviderUnavailable(self.provider, where, hint="The service is failing; retry later.")
        return ProviderDataError(
            self.provider, where, hint="The endpoint may have moved; check docs/market.md."
        )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_detail(body: bytes) -> str:
    """A short, key-free summary of an error body (FMP: {"Error Message": ...}; Polygon: {"status","error"})."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if isinstance(payload, dict):
        for key in ("Error Message", "error", "message", "status"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return redact(value[:200])
    return ""
