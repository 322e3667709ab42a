"""Loopback fake of Polygon.io / Massive daily aggregates (shared/docs/marketdata.md B).

Envelope `{"ticker","queryCount","resultsCount","adjusted","results":[{o,h,l,c,v,vw,t,n}],"status",
"request_id","count"(,"next_url")}`; `results` is omitted when empty; `t` is the session's midnight in
America/New_York as Unix ms; `v` is a float. Auth by `Authorization: Bearer`. Errors: 401 unknown key,
403 NOT_AUTHORIZED, 429 with an "error" message. Pagination by `next_url` when `page_size` is set.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


def session_ms(day: date) -> int:
    return int(datetime.combine(day, time(0, 0), tzinfo=NEW_YORK).timestamp() * 1000)


def agg_from_fmp_row(row: dict[str, Any]) -> dict[str, Any]:
    """The same bar in Polygon's one-letter shape."""
    day = date.fromisoformat(row["date"])
    return {
        "v": float(row["volume"]),
        "vw": row["vwap"],
        "o": row["open"],
        "c": row["close"],
        "h": row["high"],
        "l": row["low"],
        "t": session_ms(day),
        "n": 1234,
    }


class FakePolygon:
    def __init__(self, api_key: str = "polygon-test-key-456") -> None:
        self.api_key = api_key
        self.bars: dict[str, list[dict[str, Any]]] = {}  # keyed by Polygon spelling (BRK.B)
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.page_size: int | None = None
        self.status = "OK"
        self._script: deque[int] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def set_bars(self, ticker: str, aggs: list[dict[str, Any]]) -> None:
        self.bars[ticker] = sorted(aggs, key=lambda a: a["t"])

    def script(self, *statuses: int) -> None:
        self._script.extend(statuses)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakePolygon:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body = fake._answer(self.path, dict(self.headers.items()))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
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

    def _answer(self, raw_path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((parts.path, params, headers))
            scripted = self._script.popleft() if self._script else None
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if auth != f"Bearer {self.api_key}" and params.get("apiKey") != self.api_key:
            return 401, {"status": "ERROR", "request_id": "r1", "error": "Unknown API Key"}
        if scripted == 429:
            return 429, {
                "status": "ERROR",
                "request_id": "r2",
                "error": "You've exceeded the maximum requests per minute, please wait or upgrade your "
                "subscription to continue. https://polygon.io/pricing",
            }
        if scripted == 403:
            return 403, {
                "status": "NOT_AUTHORIZED",
                "request_id": "r3",
                "message": "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing",
            }
        if scripted is not None:
            return scripted, {"status": "ERROR", "request_id": "r4", "error": "internal"}
        segments = parts.path.strip("/").split("/")
        # v2/aggs/ticker/{T}/range/{mult}/{span}/{from}/{to}
        if len(segments) != 9 or segments[:3] != ["v2", "aggs", "ticker"] or segments[6] != "day":
            return 404, {"status": "NOT_FOUND", "request_id": "r5", "message": "not found"}
        ticker, start, end = segments[3], segments[7], segments[8]
        lo = session_ms(date.fromisoformat(start))
        hi = session_ms(date.fromisoformat(end))
        rows = [a for a in self.bars.get(ticker, []) if lo <= a["t"] <= hi]
        offset = int(params.get("cursor", "0"))
        size = self.page_size or len(rows) or 1
        page = rows[offset : offset + size]
        body: dict[str, Any] = {
            "ticker": ticker,
            "queryCount": len(page),
            "resultsCount": len(page),
            "adjusted": True,
            "status": self.status,
            "request_id": "r6",
            "count": len(page),
        }
        if page:
            body["results"] = page  # omitted, not [], when there is no data
        if offset + size < len(rows):
            body["next_url"] = f"https://api.polygon.io{parts.path}?cursor={offset + size}"
        return 200, body
