"""A loopback fake of Schwab's OAuth endpoints and Trader API (shared brokers.md part B).

OAuth (§B.1), under `/v1/oauth` (point SCHWAB_AUTH_URL at `<url>/v1/oauth`):
* `GET /authorize?response_type=code&client_id=&redirect_uri=&state=` consents at once: a 302 to
  `redirect_uri?code=…&session=…&state=…` (the code ends in `@`, URL-encoded `%40`, and lives
  30 s), or with `consent = "deny"` to `redirect_uri?error=access_denied&state=…`.
* `POST /token`, form-encoded, client credentials in HTTP Basic (else 401 invalid_client):
  `grant_type=authorization_code` (code once, same redirect_uri) or `grant_type=refresh_token`.
  Access tokens live 1800 s, refresh tokens 7 days from consent (not extended by refreshing);
  an expired or revoked refresh token is 400 `invalid_grant` (`refresh_error` to change it).

Trader API (§B.2-B.4), under `/trader/v1` (point SCHWAB_API_URL at `<url>`), bearer token needed
(401 otherwise): `accounts/accountNumbers`, `accounts?fields=positions`, `accounts/{hash}`,
`accounts/{hash}/transactions` (startDate/endDate in `yyyy-MM-dd'T'HH:mm:ss.SSSZ` and types
required; more than a year is 400; at most 3,000 rows are returned, silently, as Schwab does),
`accounts/{hash}/previewOrder`, `accounts/{hash}/orders` (POST 201 + Location, GET),
`DELETE accounts/{hash}/orders/{id}`. Payloads come from tests/data/schwab (MANIFEST.md there).

`clock` drives every expiry; `calls` counts requests per route, `token_calls` per grant type;
`fail()` queues canned answers (429, 5xx, malformed JSON); `on_refresh` runs inside a refresh
before it answers (to hold a worker at the token endpoint in race tests).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "schwab"
CLIENT_ID = "fake-schwab-app-key"
CLIENT_SECRET = "fake-schwab-app-secret-7Qx"
REDIRECT_URI = "https://127.0.0.1:8182/api/v1/aggregator/schwab/callback"
ACCESS_LIFETIME = timedelta(seconds=1800)
REFRESH_LIFETIME = timedelta(days=7)
CODE_LIFETIME = timedelta(seconds=30)
MAX_ROWS = 3000
MAX_RANGE = timedelta(days=365)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def load_fixture(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text())


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00")))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class FakeAccount:
    number: str
    hash_value: str
    payload: dict[str, Any]
    transactions: list[dict[str, Any]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeSchwab:
    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_uris = {REDIRECT_URI}
        self.consent = "approve"
        self.refresh_error = "invalid_grant"
        self.on_refresh: Callable[[], None] | None = None
        self.accounts: dict[str, FakeAccount] = {}
        self.codes: dict[str, tuple[str, datetime]] = {}
        self.access_tokens: dict[str, datetime] = {}  # token -> expires at
        self.refresh_tokens: dict[str, datetime] = {}  # token -> consent time
        self.calls: Counter[str] = Counter()
        self.token_calls: Counter[str] = Counter()
        self.requests: list[LoggedRequest] = []
        self._canned: deque[tuple[str, Answer]] = deque()
        self._lock = threading.Lock()
        self._next_order = 1000000001
        self._server: ThreadingHTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        """Back to the fixture accounts, default behaviour and zero counters (tokens stay valid)."""
        self.consent = "approve"
        self.refresh_error = "invalid_grant"
        self.on_refresh = None
        self.calls.clear()
        self.token_calls.clear()
        self.requests.clear()
        self._canned.clear()
        self.accounts.clear()
        numbers = load_fixture("accountNumbers.json")
        payloads = {
            a["securitiesAccount"]["accountNumber"]: a for a in load_fixture("accounts_fields_positions.json")
        }
        transactions = load_fixture("transactions.json")
        for entry in numbers:
            number = entry["accountNumber"]
            self.add_account(
                number,
                entry["hashValue"],
                payloads[number],
                [t for t in transactions if t["accountNumber"] == number],
            )

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeSchwab:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-schwab", daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v1/oauth"

    # -- test controls ---------------------------------------------------------------------------

    def add_account(
        self,
        number: str,
        hash_value: str | None = None,
        payload: dict[str, Any] | None = None,
        transactions: list[dict[str, Any]] | None = None,
    ) -> FakeAccount:
        if payload is None:
            payload = {
                "securitiesAccount": {
                    "type": "CASH",
                    "accountNumber": number,
                    "positions": [],
                    "currentBalances": {"cashBalance": 0, "liquidationValue": 0},
                },
                "aggregatedBalance": {"liquidationValue": 0},
            }
        account = FakeAccount(number, hash_value or secrets.token_hex(32).upper(), copy.deepcopy(payload))
        account.transactions = copy.deepcopy(transactions or [])
        self.accounts[account.hash_value] = account
        return account

    def account(self, number: str) -> FakeAccount:
        return next(a for a in self.accounts.values() if a.number == number)

    def issue_tokens(
        self, *, consent_at: datetime | None = None, access_expires_at: datetime | None = None
    ) -> dict[str, Any]:
        """Tokens as if a user had consented at `consent_at` (tests that skip the browser)."""
        now = self.clock()
        access, refresh = "acc-" + secrets.token_urlsafe(24), "ref-" + secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens[access] = access_expires_at or now + ACCESS_LIFETIME
            self.refresh_tokens[refresh] = consent_at or now
        return {"access_token": access, "refresh_token": refresh, "expires_in": 1800}

    def access_token_valid(self, token: str) -> bool:
        expires = self.access_tokens.get(token)
        return expires is not None and self.clock() < expires

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, self.clock() - timedelta(seconds=1))

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.refresh_tokens.clear()

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes = b"{}",
    ) -> None:
        for _ in range(times):
            self._canned.append((path_prefix, Answer(status, body, headers or {})))

    def malformed(self, path_prefix: str) -> None:
        self._canned.append((path_prefix, Answer(200, b'[{"activityId": 1, "type": ')))

    def api_requests(self, path_prefix: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- dispatch --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append(LoggedRequest(method, parts.path, query, headers, body))
            for index, (prefix, answer) in enumerate(self._canned):
                if parts.path.startswith(prefix):
                    del self._canned[index]
                    self.calls[f"canned {parts.path}"] += 1
                    return answer
        if parts.path == "/v1/oauth/authorize" and method == "GET":
            self.calls["authorize"] += 1
            return self._authorize(query)
        if parts.path == "/v1/oauth/token" and method == "POST":
            return self._token(headers, body)
        if parts.path.startswith("/trader/v1/"):
            if not self._authorized(headers):
                self.calls["unauthorized"] += 1
                return _json(
                    401,
                    {
                        "errors": [
                            {"status": "401", "title": "Unauthorized", "detail": "Client not authorized"}
                        ]
                    },
                )
            return self._trader(method, parts.path.removeprefix("/trader/v1"), query, body)
        return _json(404, {"message": f"no route {method} {parts.path}"})

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        return value.startswith("Bearer ") and self.access_token_valid(value.removeprefix("Bearer "))

    # -- OAuth -----------------------------------------------------------------------------------

    def _authorize(self, query: dict[str, list[str]]) -> Answer:
        first = {k: v[0] for k, v in query.items()}
        if first.get("response_type") != "code" or first.get("client_id") != self.client_id:
            return _json(
                400, {"error": "invalid_request", "error_description": "unknown client or response type"}
            )
        redirect = first.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return _json(
                400, {"error": "invalid_request", "error_description": "redirect_uri does not match"}
            )
        state = first.get("state", "")
        if self.consent == "deny":
            params = {
                "error": "access_denied",
                "error_description": "The user denied consent",
                "state": state,
            }
        else:
            code = f"C0.{secrets.token_urlsafe(24)}@"
            with self._lock:
                self.codes[code] = (redirect, self.clock())
            params = {"code": code, "session": secrets.token_hex(8), "state": state}
        return Answer(302, b"", {"Location": f"{redirect}?{urlencode(params)}"})

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if headers.get("authorization") != expected:
            with self._lock:
                self.token_calls["bad_client"] += 1
            return _json(
                401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _json(400, {"error": "invalid_request", "error_description": "form body expected"})
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type", "")
        with self._lock:
            self.token_calls[grant] += 1
        now = self.clock()
        if grant == "authorization_code":
            with self._lock:
                issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or issued[0] != form.get("redirect_uri") or now - issued[1] > CODE_LIFETIME:
                return _json(400, {"error": "invalid_grant", "error_description": "Bad authorization code"})
            tokens = self.issue_tokens(consent_at=now)
            return _json(200, {**tokens, "token_type": "Bearer", "scope": "api", "id_token": "fake.id.token"})
        if grant == "refresh_token":
            if self.on_refresh is not None:
                self.on_refresh()
            refresh = form.get("refresh_token", "")
            with self._lock:
                consent = self.refresh_tokens.get(refresh)
            if consent is None or now - consent >= REFRESH_LIFETIME:
                return _json(
                    400,
                    {"error": self.refresh_error, "error_description": "Refresh token expired or invalid"},
                )
            access = "acc-" + secrets.token_urlsafe(24)
            with self._lock:
                self.access_tokens[access] = now + ACCESS_LIFETIME
            return _json(
                200,
                {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_in": 1800,
                    "token_type": "Bearer",
                    "scope": "api",
                    "id_token": "fake.id.token",
                },
            )
        return _json(400, {"error": "unsupported_grant_type", "error_description": grant})

    # -- Trader API ------------------------------------------------------------------------------

    def _trader(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Answer:
        segments = [s for s in path.split("/") if s]
        if method == "GET" and segments == ["accounts", "accountNumbers"]:
            self.calls["accountNumbers"] += 1
            return _json(
                200, [{"accountNumber": a.number, "hashValue": a.hash_value} for a in self.accounts.values()]
            )
        if method == "GET" and segments == ["accounts"]:
            self.calls["accounts"] += 1
            return _json(200, [self._account_view(a, query) for a in self.accounts.values()])
        if len(segments) < 2 or segments[0] != "accounts":
            return _json(404, {"message": "not found"})
        account = self.accounts.get(segments[1])
        if account is None:
            return _json(404, {"message": "Invalid account hash"})
        rest = segments[2:]
        if method == "GET" and not rest:
            self.calls["account"] += 1
            return _json(200, self._account_view(account, query))
        if method == "GET" and rest == ["transactions"]:
            self.calls["transactions"] += 1
            return self._transactions(account, query)
        if method == "POST" and rest == ["previewOrder"]:
            self.calls["previewOrder"] += 1
            return self._preview(body)
        if method == "POST" and rest == ["orders"]:
            self.calls["placeOrder"] += 1
            return self._place(account, body)
        if method == "GET" and rest == ["orders"]:
            self.calls["orders"] += 1
            return _json(200, list(account.orders.values()))
        if method == "DELETE" and len(rest) == 2 and rest[0] == "orders":
            self.calls["cancelOrder"] += 1
            order = account.orders.get(rest[1])
            if order is None:
                return _json(404, {"message": "Order not found"})
            order["status"] = "CANCELED"
            return Answer(200)
        return _json(404, {"message": "not found"})

    @staticmethod
    def _account_view(account: FakeAccount, query: dict[str, list[str]]) -> dict[str, Any]:
        view = copy.deepcopy(account.payload)
        if "positions" not in (query.get("fields") or [""])[0]:
            view["securitiesAccount"].pop("positions", None)  # positions only with fields=positions
        return view

    def _transactions(self, account: FakeAccount, query: dict[str, list[str]]) -> Answer:
        start_raw, end_raw = (query.get("startDate") or [""])[0], (query.get("endDate") or [""])[0]
        types = (query.get("types") or [""])[0]
        if not (_TIME.match(start_raw) and _TIME.match(end_raw)) or not types:
            return _json(
                400, {"message": "startDate, endDate (yyyy-MM-dd'T'HH:mm:ss.SSSZ) and types are required"}
            )
        start, end = parse_time(start_raw), parse_time(end_raw)
        if end < start or end - start > MAX_RANGE:
            return _json(
                400, {"message": "Date range must be within 1 year", "errors": ["startDate/endDate"]}
            )
        wanted = set(types.split(","))
        rows = [
            t
            for t in account.transactions
            if t.get("type") in wanted and start <= parse_time(t.get("time") or t["tradeDate"]) <= end
        ]
        rows.sort(key=lambda t: parse_time(t.get("time") or t["tradeDate"]))
        return _json(200, rows[:MAX_ROWS])

    @staticmethod
    def _order_problem(order: Any) -> str | None:
        if not isinstance(order, dict):
            return "order must be an object"
        for name in ("session", "duration", "orderType", "orderStrategyType", "orderLegCollection"):
            if name not in order:
                return f"{name} is required"
        if order["orderType"] in ("LIMIT", "STOP_LIMIT") and "price" not in order:
            return "price is required for LIMIT orders"
        legs = order["orderLegCollection"]
        if not legs or not all(
            isinstance(leg.get("quantity"), int)
            and leg.get("instruction")
            and leg.get("instrument", {}).get("symbol")
            for leg in legs
        ):
            return "orderLegCollection entries need instruction, integer quantity and instrument.symbol"
        return None

    def _preview(self, body: bytes) -> Answer:
        try:
            order = json.loads(body)
        except json.JSONDecodeError:
            return _json(400, {"message": "body is not JSON"})
        problem = self._order_problem(order)
        if problem:
            return _json(400, {"message": problem})
        return _json(
            200,
            {
                "orderId": 0,
                "orderStrategy": {**order, "status": "ACCEPTED"},
                "orderValidationResult": {
                    "alerts": [],
                    "accepts": [],
                    "rejects": [],
                    "reviews": [],
                    "warns": [],
                },
                "commissionAndFee": {"commission": {"commissionLegs": []}, "fee": {"feeLegs": []}},
            },
        )

    def _place(self, account: FakeAccount, body: bytes) -> Answer:
        try:
            order = json.loads(body)
        except json.JSONDecodeError:
            return _json(400, {"message": "body is not JSON"})
        problem = self._order_problem(order)
        if problem:
            return _json(400, {"message": problem})
        with self._lock:
            order_id = str(self._next_order)
            self._next_order += 1
            account.orders[order_id] = {**order, "orderId": int(order_id), "status": "WORKING"}
        return Answer(
            201, b"", {"Location": f"{self.url}/trader/v1/accounts/{account.hash_value}/orders/{order_id}"}
        )


def _json(status: int, payload: Any) -> Answer:
    return Answer(status, json.dumps(payload).encode())


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeSchwab
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server_fake.handle(self.command, self.path, headers, body)
        self.send_response(answer.status)
        if answer.body:
            self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return
