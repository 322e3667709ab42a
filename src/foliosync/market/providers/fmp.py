"""Financial Modeling Prep, `/stable` API only (marketdata.md A).

Legacy `/api/v3` paths answer 403 for keys bought after 2025-08-31 (A.1), so they are never used.
Successful answers are JSON arrays; errors are objects with an "Error Message" key (A.5).
Tickers use the dash form (`BRK-B`): converted at this edge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from foliosync.market.errors import (
    ProviderDataError,
    ProviderNotConfigured,
    ProviderRateLimited,
)
from foliosync.market.http import HttpFetcher, RetryPolicy
from foliosync.market.indices import IndexName
from foliosync.market.providers.base import Bar, Constituent, ConstituentList
from foliosync.market.ratelimit import TokenBucket
from foliosync.market.symbols import from_provider, is_valid_ticker, to_fmp

log = logging.getLogger(__name__)

NAME = "fmp"

# A.2: no parameters; every path returns the same 8 keys.
CONSTITUENT_PATHS: dict[IndexName, str] = {
    IndexName.SP500: "/stable/sp500-constituent",
    IndexName.NASDAQ100: "/stable/nasdaq-constituent",
    IndexName.DOW30: "/stable/dowjones-constituent",
}
EOD_PATH = "/stable/historical-price-eod/full"
# A.4: at most 5,000 records per request. 6,900 calendar days hold about 4,750 sessions.
MAX_WINDOW_DAYS = 6_900
# A.5: Starter is 300 calls/min; stay at about 80 % of it.
DEFAULT_CALLS_PER_MINUTE = 240


# --- query ------------------------------------------------------------------------------------


def eod_windows(start: date, end: date) -> Iterator[tuple[date, date]]:
    """Split [start, end] into windows that each fit under the 5,000-record cap."""
    cursor = start
    while cursor <= end:
        window_end = min(end, cursor + timedelta(days=MAX_WINDOW_DAYS - 1))
        yield cursor, window_end
        cursor = window_end + timedelta(days=1)


def eod_params(symbol: str, start: date, end: date) -> dict[str, str]:
    return {"symbol": to_fmp(symbol), "from": start.isoformat(), "to": end.isoformat()}


# --- transform --------------------------------------------------------------------------------


def _require_list(payload: Any, what: str) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and "Error Message" in payload:
        message = str(payload["Error Message"])[:200]
        if "limit" in message.lower():
            raise ProviderRateLimited(NAME, f"{what}: {message}", hint="Wait for the plan's limit to reset.")
        raise ProviderDataError(NAME, f"{what}: {message}")
    raise ProviderDataError(NAME, f"{what}: expected a JSON array, got {type(payload).__name__}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_constituents(index: IndexName, payload: Any) -> ConstituentList:
    rows = _require_list(payload, f"{index.value} constituents")
    members: dict[str, Constituent] = {}
    rejected: list[str] = []
    for row in rows:
        if not isinstance(row, dict):
            raise ProviderDataError(NAME, f"{index.value} constituents: a row is not an object")
        raw = _text(row.get("symbol")) or ""
        symbol = from_provider(raw)
        if not is_valid_ticker(symbol):
            rejected.append(raw)
            continue
        members[symbol] = Constituent(
            symbol=symbol,
            name=_text(row.get("name")),
            sector=_text(row.get("sector")),
            date_added=_text(row.get("dateFirstAdded")),
        )
    if rejected:
        log.warning("fmp %s: rejected tickers %s", index.value, rejected)
    return ConstituentList(index, NAME, tuple(members.values()), tuple(rejected))


def _decimal(value: Any, field: str, symbol: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ProviderDataError(NAME, f"{symbol}: {field}={value!r} is not a number") from None
    if not result.is_finite():
        raise ProviderDataError(NAME, f"{symbol}: {field}={value!r} is not a number")
    return result


def parse_eod(symbol: str, payload: Any, start: date, end: date) -> list[Bar]:
    """A.4: a flat array in no promised order; sort ascending and keep [start, end]."""
    rows = _require_list(payload, f"{symbol} daily bars")
    bars: dict[date, Bar] = {}
    for row in rows:
        if not isinstance(row, dict) or "date" not in row:
            raise ProviderDataError(NAME, f"{symbol} daily bars: a row has no date")
        if any(row.get(k) is None for k in ("open", "high", "low", "close")):
            continue  # an incomplete bar is skipped, not stored half-empty
        day = date.fromisoformat(str(row["date"])[:10])
        if not start <= day <= end:
            continue
        bars[day] = Bar(
            symbol=symbol,
            bar_date=day,
            open=_decimal(row["open"], "open", symbol),
            high=_decimal(row["high"], "high", symbol),
            low=_decimal(row["low"], "low", symbol),
            close=_decimal(row["close"], "close", symbol),
            volume=int(_decimal(row.get("volume") or 0, "volume", symbol)),
            source=NAME,
        )
    return [bars[d] for d in sorted(bars)]


# --- extract ----------------------------------------------------------------------------------


class FmpClient:
    """Constituents and daily bars from FMP. The key travels as the `apikey` query parameter."""

    name = NAME

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        calls_per_minute: float = DEFAULT_CALLS_PER_MINUTE,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._api_key = api_key
        kwargs: dict[str, Any] = {"bucket": TokenBucket(calls_per_minute), "retry": retry}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._http = HttpFetcher(NAME, base_url, **kwargs)

    def __repr__(self) -> str:
        return f"FmpClient(configured={self._api_key is not None})"

    @property
    def calls(self) -> int:
        return self._http.calls

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        if not self._api_key:
            raise ProviderNotConfigured(NAME, "no API key", hint="Set FMP_API_KEY to use FMP.")
        response = self._http.fetch(path, {**(params or {}), "apikey": self._api_key})
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderDataError(NAME, f"{path}: {exc}") from None

    def fetch_constituents(self, index: IndexName) -> ConstituentList:
        return parse_constituents(index, self._get(CONSTITUENT_PATHS[index]))

    def fetch_daily_bars(self, symbol: str, start: date, end: date) -> list[Bar]:
        bars: list[Bar] = []
        for window_start, window_end in eod_windows(start, end):
            payload = self._get(EOD_PATH, eod_params(symbol, window_start, window_end))
            bars.extend(parse_eod(symbol, payload, window_start, window_end))
        return bars

    def close(self) -> None:
        self._http.close()
