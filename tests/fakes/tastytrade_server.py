"""A loopback fake of the TastyTrade REST API, speaking the wire format of shared brokers.md part A.

Serves the payloads in tests/data/tastytrade (synthetic, SDK-validated; see MANIFEST.md there):
* `POST /oauth/token` with a JSON body {grant_type: refresh_token, client_secret, refresh_token}
  (brokers.md §A.2) -> {access_token, token_type, expires_in}. A wrong secret is
  401 `invalid_client`, a wrong or revoked refresh token 400 `invalid_grant` (RFC 6749 §5.2).
* Every request needs a `User-Agent` of the form product/version, else the nginx 401 page the
  TastyTrade FAQ shows; API calls need a live `Authorization: Bearer` token, else 401.
* `GET /customers/me/accounts`, `/accounts/{n}/positions`, `/accounts/{n}/balances/USD`,
  `/accounts/{n}/transactions` (start-date / end-date on `transaction-date`, sort, per-page,
  page-offset, the `pagination` block of §A.4), errors as `{"error": {"code", "message"}}`.

Per test: `fail(path, status, times=..., headers=..., body=...)` queues canned answers (429 with
Retry-After, 5xx, malformed JSON), `expire_access_tokens()` makes the next API call 401 until a
refresh, `revoke_refresh_token()`, `page_size_cap` forces pagination, and `requests` logs every
call (method, path, query, headers, JSON body) for assertions.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "tastytrade"
CLIENT_SECRET = "fake-client-secret-Zq81"
REFRESH_TOKEN = "fake-refresh-token-Wm42"

_USER_AGENT = re.compile(r"^[\w.\-]+/[\w.\-]+")
_NGINX_401 = (
    b"<html>\n<head>\n  <title>401 Authorization Required</title>\n</head>\n<body>\n  <center>\n"
    b"    <h1>401 Authorization Required</h1>\n  </center>\n  <hr>\n  <center>nginx</center>\n</body>\n</html>\n"
)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class CannedAnswer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    pass_through: int = 0  # let this many requests through first


def load_fixture(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text())


class FakeTastyTrade:
    def __init__(self, *, token_lifetime: int = 900) -> None:
        self.client_secret = CLIENT_SECRET
        self.refresh_token = REFRESH_TOKEN
        self.token_lifetime = token_lifetime
        self.page_size_cap: int | None = None
        accounts = load_fixture("customers_me_accounts.json")
        self.account_items: list[dict[str, Any]] = accounts["data"]["items"]
        numbers = [item["account"]["account-number"] for item in self.account_items]
        positions = load_fixture("positions.json")["data"]["items"]
        balances = load_fixture("balances_USD.json")["data"]
        transactions = (
            load_fixture("transactions_page0.json")["data"]["items"]
            + load_fixture("transactions_page1.json")["data"]["items"]
        )
        self.positions: dict[str, list[dict[str, Any]]] = {
            n: [p for p in positions if p["account-number"] == n] for n in numbers
        }
        self.balances: dict[str, dict[str, Any]] = {balances["account-number"]: balances}
        self.transactions: dict[str, list[dict[str, Any]]] = {
            n: [t for t in transactions if t["account-number"] == n] for n in numbers
        }
        self.requests: list[LoggedRequest] = []
        self.tokens_issued = 0
        self._live_tokens: set[str] = set()
        self._canned: dict[str, deque[CannedAnswer]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeTastyTrade:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ---- per-test behaviour -------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        after: int = 0,
    ) -> None:
        """After `after` normal answers, the next `times` requests to `path` get this answer."""
        if body is None:
            body = json.dumps({"error": {"code": f"http_{status}", "message": "canned failure"}}).encode()
        with self._lock:
            queue = self._canned.setdefault(path, deque())
            for n in range(times):
                skip = after if n == 0 else 0
                queue.append(CannedAnswer(status, body, dict(headers or {}), content_type, skip))

    def malformed(self, path: str, *, times: int = 1, after: int = 0) -> None:
        self.fail(path, 200, times=times, after=after, body=b'{"data": {"items": [{"id": 1001, "account-n')

    def expire_access_tokens(self) -> None:
        """Every token issued so far stops working (TastyTrade revoked them early)."""
        with self._lock:
            self._live_tokens.clear()

    def revoke_refresh_token(self) -> None:
        self.refresh_token = "revoked-" + self.refresh_token

    def api_requests(self, path_prefix: str = "/") -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix) and r.path != "/oauth/token"]

    def token_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == "/oauth/token"]

    # ---- request handling (called from the server threads) ------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> CannedAnswer:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        parsed_body: Any = None
        if body:
            try:
                parsed_body = json.loads(body)
            except ValueError:
                parsed_body = body.decode(errors="replace")
        with self._lock:
            self.requests.append(LoggedRequest(method, path, query, headers, parsed_body))
            canned = self._canned.get(path)
            if canned and canned[0].pass_through > 0:
                canned[0].pass_through -= 1
            elif canned:
                return canned.popleft()
        if not _USER_AGENT.match(headers.get("user-agent", "")):
            return CannedAnswer(401, _NGINX_401, content_type="text/html")
        if path == "/oauth/token":
            return self._token(method, headers, parsed_body)
        auth = headers.get("authorization", "")
        with self._lock:
            live = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self._live_tokens
        if not live:
            return _error(401, "invalid_token", "The access token is missing, expired or revoked.")
        if method != "GET":
            return _error(405, "method_not_allowed", f"{method} is not supported here.")
        return self._route(path, query)

    def _token(self, method: str, headers: dict[str, str], body: Any) -> CannedAnswer:
        if method != "POST" or not headers.get("content-type", "").startswith("application/json"):
            return _oauth_error(400, "invalid_request", "Send a JSON body.")
        if not isinstance(body, dict) or body.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Only refresh_token is supported.")
        if body.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        if body.get("refresh_token") != self.refresh_token:
            return _oauth_error(400, "invalid_grant", "The refresh token is invalid or was revoked.")
        with self._lock:
            self.tokens_issued += 1
            token = f"fake-access-token-{self.tokens_issued}"
            self._live_tokens.add(token)
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "id_token": None,
        }
        return CannedAnswer(200, json.dumps(payload).encode())

    def _route(self, path: str, query: dict[str, list[str]]) -> CannedAnswer:
        if path == "/customers/me/accounts":
            return _data({"items": self.account_items}, path)
        match = re.fullmatch(r"/accounts/([^/]+)/(positions|balances/USD|transactions)", path)
        if match is None:
            return _error(404, "not_found", f"No route {path}.")
        number, what = match.groups()
        if number not in self.transactions:
            return _error(404, "record_not_found", f"Account {number} not found.")
        if what == "positions":
            return _data({"items": self.positions[number]}, path)
        if what == "balances/USD":
            return _data(self.balances[number], path)
        return self._transactions(number, path, query)

    def _transactions(self, number: str, path: str, query: dict[str, list[str]]) -> CannedAnswer:
        rows = list(self.transactions[number])
        start, end = _first(query, "start-date"), _first(query, "end-date")
        if start:
            rows = [r for r in rows if r["transaction-date"] >= start]
        if end:
            rows = [r for r in rows if r["transaction-date"] <= end]
        descending = (_first(query, "sort") or "Desc") == "Desc"
        rows.sort(key=lambda r: (r["executed-at"], r["id"]), reverse=descending)
        per_page = int(_first(query, "per-page") or 250)
        if self.page_size_cap is not None:
            per_page = min(per_page, self.page_size_cap)
        offset = int(_first(query, "page-offset") or 0)
        page = rows[offset * per_page : (offset + 1) * per_page]
        pagination = {
            "per-page": per_page,
            "page-offset": offset,
            "item-offset": offset * per_page,
            "total-items": len(rows),
            "total-pages": math.ceil(len(rows) / per_page),
            "current-item-count": len(page),
            "previous-link": None,
            "next-link": None,
            "paging-link-template": None,
        }
        body = {"data": {"items": page}, "context": path, "pagination": pagination}
        return CannedAnswer(200, json.dumps(body).encode())


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _data(data: Any, path: str) -> CannedAnswer:
    return CannedAnswer(200, json.dumps({"data": data, "context": path}).encode())


def _error(status: int, code: str, message: str) -> CannedAnswer:
    return CannedAnswer(status, json.dumps({"error": {"code": code, "message": message}}).encode())


def _oauth_error(status: int, code: str, description: str) -> CannedAnswer:
    return CannedAnswer(status, json.dumps({"error": code, "error_description": description}).encode())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTastyTrade
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.fake.handle(self.command, self.path, headers, body)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
