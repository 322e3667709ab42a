"""A thin client for Schwab's Trader API (`<schwab_api_url>/trader/v1`, brokers.md §B.2).

Transport only: it returns Schwab's JSON as plain dicts and lists; `normalizer` makes records.
Every call takes its bearer token from a TokenSource. A 401 gets one refresh and one retry; 429
and 5xx (and connection failures) are retried with exponential backoff, honouring Retry-After,
through an injectable `sleep`; a body that is not the JSON we expect is a BrokerDataError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from foliosync.brokers.base import (
    BrokerAuthError,
    BrokerDataError,
    BrokerError,
    BrokerRateLimited,
    BrokerUnavailable,
)
from foliosync.brokers.schwab.oauth import RELINK_HINT
from foliosync.brokers.schwab.tokens import TokenSource
from foliosync.brokers.schwab.windows import (
    MAX_ROWS_PER_CALL,
    MIN_WINDOW,
    Window,
    halves,
    schwab_time,
    year_windows,
)

# The `types` filter is required; ask for every type (§B.2) and let the normalizer decide.
TRANSACTION_TYPES = (
    "TRADE",
    "RECEIVE_AND_DELIVER",
    "DIVIDEND_OR_INTEREST",
    "ACH_RECEIPT",
    "ACH_DISBURSEMENT",
    "CASH_RECEIPT",
    "CASH_DISBURSEMENT",
    "ELECTRONIC_FUND",
    "WIRE_OUT",
    "WIRE_IN",
    "JOURNAL",
    "MEMORANDUM",
    "MARGIN_CALL",
    "MONEY_MARKET",
    "SMA_ADJUSTMENT",
)


class SchwabRequestRejected(BrokerError):
    """Schwab refused the request itself (400/403/404): retrying will not help; its reason is shown."""

    status_code = 422
    code = "schwab_rejected"


@dataclass(frozen=True)
class AccountNumber:
    number: str  # the plain account number: what the ledger keys on
    hash_value: str = field(repr=False)  # what every account URL takes instead


@dataclass
class TransactionFetch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    warnings: list[str] = field(default_factory=list)
    complete: bool = True


class SchwabTraderClient:
    def __init__(
        self,
        http: httpx.Client,
        api_url: str,
        tokens: TokenSource,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
    ) -> None:
        self._http = http
        self._base = f"{api_url.rstrip('/')}/trader/v1"
        self._tokens = tokens
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds

    # -- accounts -------------------------------------------------------------------------------

    def account_numbers(self) -> list[AccountNumber]:
        body = self._get_json("/accounts/accountNumbers")
        if not isinstance(body, list):
            raise BrokerDataError("Schwab's account list is not a JSON array.")
        numbers: list[AccountNumber] = []
        for item in body:
            if not isinstance(item, dict) or not item.get("accountNumber") or not item.get("hashValue"):
                raise BrokerDataError("Schwab's account list has an entry without accountNumber/hashValue.")
            numbers.append(AccountNumber(str(item["accountNumber"]), str(item["hashValue"])))
        return numbers

    def account(self, hash_value: str) -> dict[str, Any]:
        """One account with balances and positions (`fields=positions`, §B.3)."""
        body = self._get_json(f"/accounts/{hash_value}", params={"fields": "positions"})
        if not isinstance(body, dict) or not isinstance(body.get("securitiesAccount"), dict):
            raise BrokerDataError("Schwab's account answer has no securitiesAccount object.")
        return body

    def accounts(self) -> list[dict[str, Any]]:
        body = self._get_json("/accounts", params={"fields": "positions"})
        if not isinstance(body, list):
            raise BrokerDataError("Schwab's accounts answer is not a JSON array.")
        return [a for a in body if isinstance(a, dict)]

    # -- transactions ---------------------------------------------------------------------------

    def transactions(self, hash_value: str, start: datetime, end: datetime) -> TransactionFetch:
        """Every transaction in [start, end], whatever the length of the range (see windows.py)."""
        result = TransactionFetch()
        by_id: dict[str, dict[str, Any]] = {}
        without_id: dict[str, dict[str, Any]] = {}
        pending: list[Window] = list(reversed(year_windows(start, end)))
        while pending:
            window = pending.pop()
            rows = self._transactions_window(hash_value, window)
            result.calls += 1
            if len(rows) >= MAX_ROWS_PER_CALL:
                if window[1] - window[0] > MIN_WINDOW:
                    first, second = halves(window)
                    pending.extend([second, first])
                    continue
                result.complete = False
                result.warnings.append(
                    f"Schwab returned {len(rows)} transactions for {schwab_time(window[0])} to "
                    f"{schwab_time(window[1])}, its per-call limit, in a window too short to split: "
                    "some transactions of that minute may be missing."
                )
            for row in rows:
                activity_id = row.get("activityId")
                if activity_id is None:
                    without_id[json.dumps(row, sort_keys=True)] = row
                else:
                    # A later window's copy wins: it may show a PENDING row settled.
                    by_id[str(activity_id)] = row
        result.rows = list(by_id.values()) + list(without_id.values())
        return result

    def _transactions_window(self, hash_value: str, window: Window) -> list[dict[str, Any]]:
        body = self._get_json(
            f"/accounts/{hash_value}/transactions",
            params={
                "startDate": schwab_time(window[0]),
                "endDate": schwab_time(window[1]),
                "types": ",".join(TRANSACTION_TYPES),
            },
        )
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise BrokerDataError("Schwab's transactions answer is not a JSON array of objects.")
        return body

    # -- orders (trading) -----------------------------------------------------------------------

    def preview_order(self, hash_value: str, order: Mapping[str, Any]) -> dict[str, Any]:
        response = self._request("POST", f"/accounts/{hash_value}/previewOrder", json_body=order)
        body = _decode(response)
        if not isinstance(body, dict):
            raise BrokerDataError("Schwab's order preview is not a JSON object.")
        return body

    def place_order(self, hash_value: str, order: Mapping[str, Any]) -> str:
        """Schwab answers 201 with the new order's URL in Location; its last segment is the id."""
        response = self._request("POST", f"/accounts/{hash_value}/orders", json_body=order)
        location = str(response.headers.get("Location", ""))
        order_id = location.rstrip("/").rpartition("/")[2]
        if not order_id.isdigit():
            raise BrokerDataError("Schwab accepted the order but did not say its id (no Location header).")
        return order_id

    def cancel_order(self, hash_value: str, order_id: str) -> None:
        self._request("DELETE", f"/accounts/{hash_value}/orders/{order_id}")

    def orders(self, hash_value: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        body = self._get_json(
            f"/accounts/{hash_value}/orders",
            params={"fromEnteredTime": schwab_time(since), "toEnteredTime": schwab_time(until)},
        )
        if not isinstance(body, list):
            raise BrokerDataError("Schwab's orders answer is not a JSON array.")
        return [o for o in body if isinstance(o, dict)]

    # -- transport ------------------------------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return _decode(self._request("GET", path, params=params))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        token = self._tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method,
                    f"{self._base}{path}",
                    params=params,
                    json=json_body,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                if attempt >= self._max_attempts:
                    raise BrokerUnavailable(
                        f"Schwab's Trader API could not be reached ({type(exc).__name__}).",
                        hint="Try again later.",
                    ) from None
                self._sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if status == 401:
                if refreshed:
                    raise BrokerAuthError(
                        "Schwab rejected a freshly refreshed access token.", hint=RELINK_HINT
                    )
                token = self._tokens.after_rejection(token)
                refreshed = True
                continue
            if status == 429 or status >= 500:
                retry_after = _retry_after(response)
                if attempt >= self._max_attempts:
                    if status == 429:
                        raise BrokerRateLimited(
                            "Schwab is rate limiting this app.",
                            retry_after=retry_after,
                            hint="The sync retries later by itself.",
                        )
                    raise BrokerUnavailable(
                        f"Schwab's Trader API failed (HTTP {status}).", hint="Try again later."
                    )
                self._sleep(self._delay(attempt, retry_after))
                continue
            if status >= 400:
                raise SchwabRequestRejected(
                    f"Schwab refused the request (HTTP {status}): {_schwab_message(response)}"
                )
            return response

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        computed = self._backoff * 2.0 ** (attempt - 1)
        return max(computed, retry_after) if retry_after is not None else computed


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BrokerDataError(
            f"Schwab's answer to {response.request.url.path} is not valid JSON.",
            hint="The raw answer was not stored; report this if it persists.",
        ) from None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _schwab_message(response: httpx.Response) -> str:
    """Schwab's own explanation (`message`, `errors[]`), short; it never contains our tokens."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.reason_phrase or "no reason given"
    if isinstance(body, dict):
        parts = [str(body.get("message") or body.get("error") or "")]
        errors = body.get("errors")
        if isinstance(errors, list):
            parts += [str(e.get("detail") or e) if isinstance(e, dict) else str(e) for e in errors[:3]]
        text = "; ".join(p for p in parts if p)
        return text[:300] or "no reason given"
    return str(body)[:300]
