"""Polygon.io (now "Massive"; same paths and keys on either host), daily aggregates (marketdata.md B).

Polygon has no index-constituents endpoint (only a paid ETF-holdings add-on), so it serves bars only.
- Auth: `Authorization: Bearer <key>`, so the key never appears in a URL or a log line.
- Aggregates envelope: `{"ticker","status","resultsCount","results":[{o,h,l,c,v,vw,t,n}], "next_url"?}`;
  `results` is omitted (not []) when there is no data; status "OK" or "DELAYED" are both success.
- `t` is the window start in Unix ms; a daily bar's session date is taken in America/New_York.
- Tickers keep the dot form (BRK.B).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from foliosync.market.errors import ProviderDataError, ProviderNotConfigured
from foliosync.market.http import HttpFetcher, RetryPolicy
from foliosync.market.providers.base import Bar
from foliosync.market.ratelimit import TokenBucket
from foliosync.market.symbols import to_polygon

NAME = "polygon"
NEW_YORK = ZoneInfo("America/New_York")
# B: the free Basic plan allows 5 calls/min; paid plans are "unlimited". Default to the safe side.
DEFAULT_CALLS_PER_MINUTE = 4
MAX_PAGES = 50


# --- query ------------------------------------------------------------------------------------


def aggs_path(symbol: str, start: date, end: date) -> str:
    return f"/v2/aggs/ticker/{to_polygon(symbol)}/range/1/day/{start.isoformat()}/{end.isoformat()}"


AGGS_PARAMS = {"adjusted": "true", "sort": "asc", "limit": "50000"}


def next_page(next_url: str) -> tuple[str, dict[str, str]]:
    """`next_url` is absolute; keep only its path and query so the request stays on the configured
    host (the key is a header, so nothing needs re-appending)."""
    parts = urlsplit(next_url)
    params = {k: v for k, v in parse_qsl(parts.query) if k.lower() != "apikey"}
    return parts.path, params


# --- transform --------------------------------------------------------------------------------


def session_date(epoch_ms: int) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).astimezone(NEW_YORK).date()


def _decimal(value: Any, symbol: str, field: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ProviderDataError(NAME, f"{symbol}: {field}={value!r} is not a number") from None
    if not result.is_finite():
        raise ProviderDataError(NAME, f"{symbol}: {field}={value!r} is not a number")
    return result


def parse_aggs(symbol: str, payload: Any, start: date, end: date) -> tuple[list[Bar], str | None]:
    """Bars of one page and the next page's URL, if any."""
    if not isinstance(payload, dict):
        raise ProviderDataError(NAME, f"{symbol} aggregates: expected a JSON object")
    status = payload.get("status")
    if status not in ("OK", "DELAYED"):
        detail = payload.get("error") or payload.get("message") or status
        raise ProviderDataError(NAME, f"{symbol} aggregates: status {detail!r}")
    bars: list[Bar] = []
    for row in payload.get("results", []):
        if not isinstance(row, dict) or "t" not in row:
            raise ProviderDataError(NAME, f"{symbol} aggregates: a bar has no timestamp")
        if any(row.get(k) is None for k in ("o", "h", "l", "c")):
            continue
        day = session_date(int(row["t"]))
        if not start <= day <= end:
            continue
        bars.append(
            Bar(
                symbol=symbol,
                bar_date=day,
                open=_decimal(row["o"], symbol, "o"),
                high=_decimal(row["h"], symbol, "h"),
                low=_decimal(row["l"], symbol, "l"),
                close=_decimal(row["c"], symbol, "c"),
                # `v` is a float on the wire (B).
                volume=int(_decimal(row.get("v") or 0, symbol, "v").to_integral_value()),
                source=NAME,
            )
        )
    next_url = payload.get("next_url")
    return bars, next_url if isinstance(next_url, str) and next_url else None


# --- extract ----------------------------------------------------------------------------------


class PolygonClient:
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
        self._configured = bool(api_key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        kwargs: dict[str, Any] = {
            "headers": headers,
            "bucket": TokenBucket(calls_per_minute, burst=max(1, int(calls_per_minute))),
            "retry": retry,
        }
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._http = HttpFetcher(NAME, base_url, **kwargs)

    def __repr__(self) -> str:
        return f"PolygonClient(configured={self._configured})"

    @property
    def calls(self) -> int:
        return self._http.calls

    def fetch_daily_bars(self, symbol: str, start: date, end: date) -> list[Bar]:
        if not self._configured:
            raise ProviderNotConfigured(NAME, "no API key", hint="Set POLYGON_API_KEY to use Polygon.")
        path, params = aggs_path(symbol, start, end), dict(AGGS_PARAMS)
        by_day: dict[date, Bar] = {}
        for _ in range(MAX_PAGES):
            response = self._http.fetch(path, params)
            try:
                payload = response.json()
            except ValueError as exc:
                raise ProviderDataError(NAME, f"{symbol} aggregates: {exc}") from None
            bars, next_url = parse_aggs(symbol, payload, start, end)
            by_day.update((bar.bar_date, bar) for bar in bars)
            if next_url is None:
                break
            path, params = next_page(next_url)
        return [by_day[d] for d in sorted(by_day)]

    def close(self) -> None:
        self._http.close()
