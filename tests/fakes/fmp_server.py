"""Loopback fake of Financial Modeling Prep's `/stable` API (shared/docs/marketdata.md A).

Speaks the real wire shapes: constituents are JSON arrays of the 8 documented keys; EOD bars are a
flat array, newest first, at most 5,000 rows; errors are objects with an "Error Message" key.
Quirks reproduced: 401 for a bad key, 403 "Legacy Endpoint" for any /api/v3 path, 404 for the
underscore names under /stable, 429 *without* Retry-After, 402 for endpoints outside the plan.
Failures are scripted per path with `script(path, 429, 429, 402, "empty", ...)`.
"""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict, deque
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LEGACY_MESSAGE = (
    "Legacy Endpoint : Due to Legacy endpoints being no longer supported - This endpoint is only available "
    "for legacy users who have valid subscriptions prior August 31, 2025. Please visit our subscription page "
    "to upgrade your plan at https://site.financialmodelingprep.com/pricing-plans"
)
PLAN_MESSAGE = (
    "Restricted Endpoint: This endpoint is not available under your current subscription please visit our "
    "subscription page to upgrade your plan at https://site.financialmodelingprep.com/pricing-plans"
)
LIMIT_MESSAGE = (
    "Limit Reach . Please upgrade your plan or visit our documentation for more details at "
    "https://site.financialmodelingprep.com/"
)
KEY_MESSAGE = (
    "Invalid API KEY. Feel free to create a Free API Key or visit https://site.financialmodelingprep.com/faqs"
)

PATHS = {
    "SP500": "/stable/sp500-constituent",
    "NASDAQ100": "/stable/nasdaq-constituent",
    "DOW30": "/stable/dowjones-constituent",
}
EOD_PATH = "/stable/historical-price-eod/full"
MAX_EOD_ROWS = 5_000

SECTORS = [
    "Technology",
    "Healthcare",
    "Financial Services",
    "Consumer Cyclical",
    "Industrials",
    "Communication Services",
    "Consumer Defensive",
    "Energy",
    "Utilities",
    "Real Estate",
    "Basic Materials",
]


def synthetic_tickers(count: int, *, seed: int = 7, special: tuple[str, ...] = ()) -> list[str]:
    """`count` distinct uppercase tickers (dot form), starting with `special` ones."""
    rng = random.Random(seed)
    result = list(dict.fromkeys(special))
    seen = set(result)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while len(result) < count:
        symbol = "".join(rng.choice(letters) for _ in range(rng.choice((2, 3, 3, 4))))
        if symbol not in seen:
            seen.add(symbol)
            result.append(symbol)
    return result[:count]


def constituent_row(symbol: str, i: int) -> dict[str, Any]:
    """One row with the 8 documented keys; FMP spells share classes with a dash (BRK-B)."""
    return {
        "symbol": symbol.replace(".", "-"),
        "name": f"{symbol} Holdings, Inc.",
        "sector": SECTORS[i % len(SECTORS)],
        "subSector": "Software - Infrastructure",
        "headQuarter": "Santa Clara, California" if i % 2 else "San Jose, CA",
        "dateFirstAdded": None if i % 17 == 3 else (date(1990, 1, 1) + timedelta(days=97 * i)).isoformat(),
        "cik": f"{1045810 + i:010d}",
        "founded": "1902" if i % 3 else "1975/1977",
    }


def make_bars(
    symbol: str, start: date, count: int, *, seed: int = 1, base: float = 100.0
) -> list[dict[str, Any]]:
    """`count` business-day bars from `start`, FMP's row shape, prices in cents."""
    rng = random.Random(f"{symbol}-{seed}")
    rows: list[dict[str, Any]] = []
    day = start
    close = base
    while len(rows) < count:
        if day.weekday() < 5:
            open_ = round(close * (1 + rng.uniform(-0.01, 0.01)), 2)
            close_new = round(max(1.0, close * (1 + rng.gauss(0.0005, 0.02))), 2)
            high = round(max(open_, close_new) * (1 + rng.uniform(0, 0.015)), 2)
            low = round(min(open_, close_new) * (1 - rng.uniform(0, 0.015)), 2)
            volume = rng.randint(500_000, 5_000_000)
            rows.append(
                {
                    "symbol": symbol.replace(".", "-"),
                    "date": day.isoformat(),
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close_new,
                    "volume": volume,
                    "change": round(close_new - open_, 2),
                    "changePercent": round((close_new / open_ - 1) * 100, 4),
                    "vwap": round((high + low + close_new) / 3, 4),
                }
            )
            close = close_new
        day += timedelta(days=1)
    return rows


class FakeFMP:
    def __init__(self, api_key: str = "fmp-test-key-123") -> None:
        self.api_key = api_key
        self.constituents: dict[str, list[dict[str, Any]]] = {}
        self.bars: dict[str, list[dict[str, Any]]] = {}  # keyed by FMP spelling (BRK-B)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._script: dict[str, deque[int | str]] = defaultdict(deque)
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # --- setup ---------------------------------------------------------------------------------

    def set_index(self, index: str, symbols: list[str]) -> None:
        self.constituents[PATHS[index]] = [constituent_row(s, i) for i, s in enumerate(symbols)]

    def set_bars(self, symbol: str, rows: list[dict[str, Any]]) -> None:
        self.bars[symbol.replace(".", "-")] = rows

    def script(self, path: str, *outcomes: int | str) -> None:
        """Next requests to `path` answer these statuses (429, 402, 403, 500) or "empty"/"garbage"."""
        self._script[path].extend(outcomes)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p == path]

    # --- server --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeFMP:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers = fake._answer(self.path)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, raw_path: str) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        with self._lock:
            self.requests.append((path, params))
            scripted = self._script[path].popleft() if self._script[path] else None
        if params.get("apikey") != self.api_key:
            return 401, {"Error Message": KEY_MESSAGE}, {}
        if path.startswith("/api/v3") or path.startswith("/api/v4"):
            return 403, {"Error Message": LEGACY_MESSAGE}, {}
        if scripted is not None:
            if scripted == 429:
                return 429, {"Error Message": LIMIT_MESSAGE}, {}  # no Retry-After, as measured
            if scripted == 402:
                return 402, {"Error Message": PLAN_MESSAGE}, {}
            if scripted == 403:
                return 403, {"Error Message": LEGACY_MESSAGE}, {}
            if scripted == "empty":
                return 200, [], {}
            if scripted == "garbage":
                return 200, b"<html>maintenance</html>", {}
            if isinstance(scripted, int):
                return scripted, {"Error Message": "Internal error"}, {}
        if path in self.constituents:
            return 200, self.constituents[path], {}
        if path == EOD_PATH:
            return 200, self._eod(params), {}
        return 404, {"Error Message": f"Not found: {path}"}, {}

    def _eod(self, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = self.bars.get(params.get("symbol", ""), [])
        start = params.get("from", "0000-00-00")
        end = params.get("to", "9999-99-99")
        picked = [r for r in rows if start <= r["date"] <= end]
        picked.sort(key=lambda r: r["date"], reverse=True)  # FMP has returned newest first
        return picked[:MAX_EOD_ROWS]


def decimal_close(row: dict[str, Any]) -> Decimal:
    return Decimal(str(row["close"]))
