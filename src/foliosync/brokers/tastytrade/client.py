"""A thin, synchronous httpx client for the TastyTrade REST API (transport only).

Why not the `tastytrade` SDK: docs/decisions/0004-tastytrade-client.md. What this client does,
each rule citing shared brokers.md part A:

* OAuth only (§A.1-A.2): `POST /oauth/token` with a JSON body `{grant_type: refresh_token,
  client_secret, refresh_token}` and no Authorization header; the response's `access_token` lives
  `expires_in` seconds (900). The token is refreshed when less than a minute is left, and once
  more when an API call answers 401 (a token revoked early); a second 401 is an auth error.
* Every request sends a `User-Agent` of the form product/version, or TastyTrade answers 401 (§A.1),
  and pins `Accept-Version` so the payload shapes stay the ones the fixtures show (§A.3, §A.9).
* 429 (§A.9: no rate-limit headers, back off with jitter): `Retry-After` honoured when present,
  else exponential backoff; a long `Retry-After` or too many attempts raise `BrokerRateLimited`
  so the scheduler retries later instead of holding a worker. 5xx and network errors are retried
  the same way, then `BrokerUnavailable`.
* Envelopes (§A.4): `{"data": {"items": [...]}, "pagination": {...}}`; transactions are paged
  with `page-offset` until `total-pages` is reached.
* A body that is not JSON or not the documented shape is `BrokerDataError`, naming the endpoint.

Secrets are never logged: tokens travel in a header or in the token request's body, URLs carry
none, and only API (`GET`) responses are recorded for archiving, never the token response.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from foliosync import __version__
from foliosync.brokers.base import (
    BrokerAuthError,
    BrokerDataError,
    BrokerError,
    BrokerRateLimited,
    BrokerUnavailable,
)
from foliosync.brokers.tastytrade.credentials import CLIENT_SECRET_HINT, RECONNECT_HINT, OAuthCredentials
from foliosync.brokers.tastytrade.models import (
    Balance,
    CustomerAccount,
    ItemsEnvelope,
    ObjectEnvelope,
    Position,
    TokenResponse,
    Transaction,
)

log = logging.getLogger(__name__)

USER_AGENT = f"foliosync/{__version__}"
# The API version the fixtures were validated with (brokers.md §A.1, 11.0.1 `API_VERSION`).
API_VERSION = "20251101"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a secret)
# Refresh this long before expiry, as the SDK does (brokers.md §A.2), so a call never races it.
REFRESH_MARGIN = timedelta(seconds=60)
TRANSACTIONS_PER_PAGE = 250  # the API's default page size (brokers.md §A.4)
# A Retry-After longer than this is not slept through: the sync fails as rate limited and the
# scheduler comes back later.
MAX_RETRY_AFTER_SECONDS = 60.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
MAX_PAGES = 10_000  # a guard against a server that never stops paging
UNAVAILABLE_HINT = "TastyTrade seems to be down or unreachable; try again in a few minutes."
DATA_HINT = (
    "Nothing was saved. TastyTrade's response did not have the documented shape; try again later, "
    "and report it if it keeps happening."
)

ModelT = TypeVar("ModelT", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RecordedResponse:
    """An API response body kept for the raw-payload archive (never a token response)."""

    kind: str  # "accounts", "positions", "balances", "transactions"
    source_name: str  # "GET /accounts/5WX00001/transactions?page-offset=0&..."
    content: bytes
    account_number: str | None


class TastyTradeClient:
    """One logged-in conversation with TastyTrade for one set of credentials (not thread-safe)."""

    def __init__(
        self,
        base_url: str,
        credentials: OAuthCredentials,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        max_attempts: int = 4,
        timeout: float = 30.0,
        api_version: str | None = API_VERSION,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_version:
            headers["Accept-Version"] = api_version
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), transport=transport, timeout=timeout, headers=headers
        )
        self._credentials = credentials
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self.token_refreshed = False
        self.recorded: list[RecordedResponse] = []

    def __repr__(self) -> str:
        return f"TastyTradeClient(base_url={str(self._http.base_url)!r})"

    def __enter__(self) -> TastyTradeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def credentials(self) -> OAuthCredentials:
        """The credentials with the current access token (store them so the next sync reuses it)."""
        return self._credentials

    # ---- auth -------------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Make sure a usable access token is at hand, minting one if the cached one is stale."""
        creds = self._credentials
        expires_at = creds.access_token_expires_at
        if creds.access_token and expires_at and expires_at - REFRESH_MARGIN > self._clock():
            return
        self._refresh_access_token()

    def _refresh_access_token(self) -> None:
        creds = self._credentials
        body = {
            "grant_type": "refresh_token",
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        }
        # No Authorization header on the token call (brokers.md §A.2).
        response = self._send("POST", TOKEN_PATH, json_body=body)
        if response.status_code in (400, 401, 403):
            raise _token_error(response)
        if response.status_code >= 400:
            raise BrokerError(
                f"TastyTrade refused to issue an access token (HTTP {response.status_code}).",
                hint=UNAVAILABLE_HINT,
            )
        token = _validate(TokenResponse, _json(response, "POST /oauth/token"), "POST /oauth/token")
        self._credentials = creds.with_access_token(
            token.access_token, self._clock() + timedelta(seconds=token.expires_in)
        )
        self.token_refreshed = True
        log.info("tastytrade.token_refreshed expires_in=%s", token.expires_in)

    # ---- endpoints (brokers.md §A.5) ---------------------------------------------------------

    def accounts(self) -> list[CustomerAccount]:
        path = "/customers/me/accounts"
        payload = self._get_json(path, kind="accounts")
        envelope = _validate(ItemsEnvelope[CustomerAccount], payload, f"GET {path}")
        return envelope.data.items

    def positions(self, account_number: str) -> list[Position]:
        path = f"/accounts/{quote(account_number, safe='')}/positions"
        payload = self._get_json(path, kind="positions", account_number=account_number)
        return _validate(ItemsEnvelope[Position], payload, f"GET {path}").data.items

    def balances(self, account_number: str, currency: str = "USD") -> Balance:
        path = f"/accounts/{quote(account_number, safe='')}/balances/{quote(currency, safe='')}"
        payload = self._get_json(path, kind="balances", account_number=account_number)
        envelope = _validate(ObjectEnvelope, payload, f"GET {path}")
        return _validate(Balance, envelope.data, f"GET {path}")

    def transactions(
        self,
        account_number: str,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        per_page: int = TRANSACTIONS_PER_PAGE,
    ) -> list[Transaction]:
        """Every transaction in the date window (inclusive), all pages, oldest first.

        Ascending order means rows booked while we page land after the pages already read
        instead of shifting them (the default order is newest first).
        """
        path = f"/accounts/{quote(account_number, safe='')}/transactions"
        base: dict[str, str | int] = {"per-page": per_page, "sort": "Asc"}
        if start_date is not None:
            base["start-date"] = start_date.isoformat()
        if end_date is not None:
            base["end-date"] = end_date.isoformat()
        items: list[Transaction] = []
        page = 0
        while True:
            params = {**base, "page-offset": page}
            payload = self._get_json(path, kind="transactions", params=params, account_number=account_number)
            envelope = _validate(ItemsEnvelope[Transaction], payload, f"GET {path} page {page}")
            items.extend(envelope.data.items)
            total_pages = envelope.pagination.total_pages if envelope.pagination else 1
            page += 1
            if page >= total_pages or not envelope.data.items:
                return items
            if page >= MAX_PAGES:
                raise BrokerDataError(
                    f"TastyTrade kept paging GET {path} past {MAX_PAGES} pages.", hint=DATA_HINT
                )

    # ---- transport ----------------------------------------------------------------------------

    def _get_json(
        self,
        path: str,
        *,
        kind: str,
        params: dict[str, str | int] | None = None,
        account_number: str | None = None,
    ) -> Any:
        """GET with the access token: refresh it once on a 401, map other failures to BrokerError."""
        self.authenticate()
        response = self._send("GET", path, params=params, authorized=True)
        if response.status_code == 401:
            log.info("tastytrade.access_token_refused path=%s; refreshing once", path)
            self._refresh_access_token()
            response = self._send("GET", path, params=params, authorized=True)
            if response.status_code == 401:
                raise BrokerAuthError(
                    "TastyTrade refused a freshly issued access token.", hint=RECONNECT_HINT
                )
        if response.status_code == 403:
            raise BrokerAuthError(
                f"TastyTrade denied access to GET {path} (HTTP 403): {_server_message(response)}",
                hint="Check that the grant has the 'read' scope and the account belongs to this login. "
                + RECONNECT_HINT,
            )
        if response.status_code == 404:
            raise BrokerError(
                f"TastyTrade does not know GET {path} (HTTP 404): {_server_message(response)}",
                hint="If this is an account number, it is not accessible with these credentials; "
                "reconnect TastyTrade to refresh the account list.",
            )
        if response.status_code >= 400:
            raise BrokerError(
                f"TastyTrade rejected GET {path} (HTTP {response.status_code}): {_server_message(response)}"
            )
        source = f"GET {path}" + (f"?{httpx.QueryParams(params)}" if params else "")
        payload = _json(response, source)
        self.recorded.append(RecordedResponse(kind, source, response.content, account_number))
        return payload

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json_body: dict[str, str] | None = None,
        authorized: bool = False,
    ) -> httpx.Response:
        """Send with retries for network errors, 429 and 5xx; return any other response."""
        attempt = 0
        while True:
            attempt += 1
            headers = {}
            if authorized and self._credentials.access_token:
                headers["Authorization"] = f"Bearer {self._credentials.access_token}"
            try:
                response = self._http.request(method, path, params=params, json=json_body, headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self._max_attempts:
                    raise BrokerUnavailable(
                        f"Could not reach TastyTrade for {method} {path} ({type(exc).__name__}).",
                        hint=UNAVAILABLE_HINT,
                    ) from None
                delay = _backoff(attempt)
                log.warning(
                    "tastytrade.network_error path=%s attempt=%s retry_in=%.1fs", path, attempt, delay
                )
                self._sleep(delay)
                continue
            status = response.status_code
            if status == 429:
                retry_after = _retry_after(response, self._clock())
                if attempt >= self._max_attempts or (
                    retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS
                ):
                    raise BrokerRateLimited(
                        f"TastyTrade is rate limiting requests ({method} {path}).",
                        retry_after=retry_after,
                        hint="Wait a few minutes before syncing again.",
                    )
                delay = retry_after if retry_after is not None else _backoff(attempt)
                log.warning("tastytrade.rate_limited path=%s attempt=%s retry_in=%.1fs", path, attempt, delay)
                self._sleep(delay)
                continue
            if status >= 500:
                if attempt >= self._max_attempts:
                    raise BrokerUnavailable(
                        f"TastyTrade answered HTTP {status} to {method} {path} {attempt} times.",
                        hint=UNAVAILABLE_HINT,
                    )
                delay = _backoff(attempt)
                log.warning("tastytrade.server_error status=%s path=%s retry_in=%.1fs", status, path, delay)
                self._sleep(delay)
                continue
            return response


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter (brokers.md §A.9)."""
    delay: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return delay + random.uniform(0.0, delay / 2)


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), or None when absent/unreadable."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _json(response: httpx.Response, source: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BrokerDataError(
            f"TastyTrade sent a response that is not valid JSON for {source} (HTTP {response.status_code}).",
            hint=DATA_HINT,
        ) from None


def _validate(model: type[ModelT], payload: Any, source: str) -> ModelT:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        # loc + msg only: pydantic's own text would quote the input values.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:3]
        )
        raise BrokerDataError(
            f"TastyTrade sent an unexpected payload for {source} ({problems}).", hint=DATA_HINT
        ) from None


def _server_message(response: httpx.Response) -> str:
    """The error text of TastyTrade's envelope `{"error": {"code", "message"}}` (brokers.md §A.4),
    or of an OAuth error `{"error": "...", "error_description": "..."}`, shortened."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "no details"
    if not isinstance(body, dict):
        return "no details"
    error = body.get("error")
    text: str
    if isinstance(error, dict):
        nested = error.get("errors")
        if isinstance(nested, list) and nested and isinstance(nested[0], dict):
            text = str(nested[0].get("message") or nested[0].get("code") or "")
        else:
            text = str(error.get("message") or error.get("code") or "")
    elif isinstance(error, str):
        text = str(body.get("error_description") or error)
    else:
        text = ""
    return (text or "no details")[:200]


def _oauth_error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        return str(error.get("code") or "")
    return ""


def _token_error(response: httpx.Response) -> BrokerAuthError:
    """Map the token endpoint's refusal to what the user must do (RFC 6749 §5.2 error codes)."""
    code = _oauth_error_code(response)
    if code == "invalid_client":
        return BrokerAuthError("TastyTrade rejected the client secret.", hint=CLIENT_SECRET_HINT)
    if code == "invalid_grant":
        return BrokerAuthError(
            "TastyTrade rejected the refresh token: it was revoked or does not belong to this client.",
            hint=RECONNECT_HINT,
        )
    return BrokerAuthError(
        f"TastyTrade refused the login (HTTP {response.status_code}: {_server_message(response)}).",
        hint=RECONNECT_HINT,
    )
