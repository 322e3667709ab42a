"""Flex Web Service v3 client (shared ibkr.md §A): request a statement, poll until it is ready.

Step 1 `SendRequest?t=TOKEN&q=QUERY_ID&v=3` at the configured base URL answers a ReferenceCode and
the `Url` to poll; step 2 polls that Url with `q=REFERENCE&t=TOKEN&v=3` until the statement comes
back. Errors arrive as HTTP 200 with a `<FlexStatementResponse>` whose ErrorCode decides (never
Warn/Fail, §A.2). Waiting follows the §A.3 retry recipe:
* 1019 "generation in progress" (and 1004-1009, 1021) -> poll again with backoff (2, 4, 8, 16, 20,
  20 ... s) within a total budget (5 min by default);
* 1001 / 1009 / 1021 on step 1 -> a few retries, 10 s, 30 s, 90 s apart;
* 1018 "too many requests" (1 request/s, 10/min per token) -> wait a minute, then retry, a few
  times at most (IBKR penalty-boxes IPs that keep hammering);
* 1017 "reference code invalid" -> start over from step 1, once;
* token, query, IP or account problems -> BrokerAuthError whose hint says what to do;
* HTTP 5xx, 429 and network failures -> retried, then BrokerUnavailable / BrokerRateLimited;
* a body that is not XML, or a statement cut short -> BrokerDataError.

The token travels only in the query string of these two requests: it is never logged, never in an
exception message, and never sent to a host other than the configured one or IBKR's own. The
`httpx` request log line is redacted for the same reason. `sleep` and `clock` are injectable so
tests run the whole protocol against a loopback fake without waiting.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from urllib.parse import urlsplit
from xml.parsers import expat

import httpx

from foliosync.brokers.base import (
    BrokerAuthError,
    BrokerDataError,
    BrokerError,
    BrokerRateLimited,
    BrokerUnavailable,
)

log = logging.getLogger(__name__)

STATEMENT_ROOT = b"FlexQueryResponse"
STATUS_ROOT = "FlexStatementResponse"
DEFAULT_USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor}"  # §A.1 "technology/version"
RENEW_ACCESS_HINT = (
    "Create a new token in IBKR Client Portal under Settings > Flex Web Service (newer menus: "
    "Reporting > Flex Queries > Flex Web Service Configuration) and save it as the account's flex_token. "
    "A new token replaces the old one."
)
NOT_READY = frozenset({1004, 1005, 1006, 1007, 1008, 1009, 1019, 1021})
RETRY_LATER = frozenset({1001, 1004, 1005, 1006, 1007, 1008, 1009, 1021})
RATE_LIMITED = 1018
REFERENCE_EXPIRED = 1017


@dataclass(frozen=True)
class FlexPolicy:
    """How long and how often to wait. Defaults follow shared ibkr.md §A.3."""

    send_retry_delays: tuple[float, ...] = (10.0, 30.0, 90.0)
    first_poll_delay: float = 2.0
    poll_delays: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0, 20.0)
    poll_budget: float = 300.0
    rate_limit_wait: float = 60.0
    rate_limit_retries: int = 2
    transport_retry_delays: tuple[float, ...] = (2.0, 5.0, 15.0)
    restarts: int = 1
    timeout: float = 60.0


@dataclass(frozen=True)
class _Reply:
    status: str | None
    code: int | None
    message: str | None
    reference: str | None
    url: str | None


class _StartOver(Exception):
    """GetStatement said the reference code is unknown (1017): request a new one."""


_TOKEN_IN_TEXT = re.compile(r"([?&]t=)[^&\s\"'>]+")


def redact(text: str) -> str:
    """Mask the `t=` (token) query parameter in a URL or log line."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


class _RedactTokens(logging.Filter):
    """httpx logs every request URL at INFO: mask the Flex token in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "t=" in message:
            record.msg = redact(message)
            record.args = None
        return True


for _name in ("httpx", "httpcore"):
    if not any(isinstance(f, _RedactTokens) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_RedactTokens())


def _auth(message: str, hint: str) -> BrokerAuthError:
    return BrokerAuthError(message, hint=hint)


def error_for(code: int, message: str | None) -> BrokerError:
    """The exception for a permanent Flex Web Service error code (ibkr.md §A.3)."""
    said = f" (IBKR: {message})" if message else ""
    if code in (1012, 1015):
        state = "expired" if code == 1012 else "not valid"
        return _auth(f"The Flex Web Service token is {state} (error {code}){said}.", RENEW_ACCESS_HINT)
    if code == 1013:
        return _auth(
            f"The Flex Web Service token is restricted to other IP addresses (error 1013){said}.",
            "Run foliosync from an allowed address, or remove the token's IP restriction in Client Portal "
            "(Settings > Flex Web Service) and make a new token.",
        )
    if code == 1011:
        return _auth(
            f"The Flex Web Service is not enabled for this account (error 1011){said}.",
            "Enable it in Client Portal under Settings > Flex Web Service, then create a token.",
        )
    if code == 1014:
        return _auth(
            f"The Flex query id is not valid (error 1014){said}.",
            "Use the number shown next to the saved Activity Flex Query (Reporting > Flex Queries) as "
            "flex_query_id.",
        )
    if code == 1016:
        return _auth(
            f"IBKR says the account is not valid for this Flex query (error 1016){said}.",
            "Check the accounts selected in the Flex query.",
        )
    if code == 1003:
        return BrokerDataError(
            f"IBKR has no statement for this request (error 1003){said}.",
            hint="Check the Flex query's period; dates before the account opened have no data.",
        )
    if code == 1010:
        return BrokerError(
            f"Legacy Flex queries are not supported (error 1010){said}.",
            hint="Create an Activity Flex Query (Reporting > Flex Queries) and use its id.",
        )
    return BrokerError(
        f"The Flex Web Service refused the request (error {code}){said}.",
        hint="Check the token and query id; if it persists, IBKR's status page may explain it.",
    )


def _parse_reply(body: bytes, step: str) -> _Reply:
    """Read a small FlexStatementResponse (DTDs refused: it is untrusted input too)."""
    fields: dict[str, str] = {}
    stack: list[str] = []
    root: list[str] = []

    def start(name: str, _attrs: dict[str, str]) -> None:
        if not root:
            root.append(name)
        stack.append(name)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if len(stack) == 2:
            fields[stack[-1]] = fields.get(stack[-1], "") + data

    def refuse(*_args: object) -> None:
        raise BrokerDataError(f"The Flex Web Service {step} reply declares a DTD; refusing to read it.")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise BrokerDataError(
            f"The Flex Web Service {step} reply is not well-formed XML.",
            hint="IBKR may be having problems; try again later.",
        ) from None
    if root != [STATUS_ROOT]:
        raise BrokerDataError(f"The Flex Web Service {step} reply has an unexpected shape.")
    code_text = fields.get("ErrorCode", "").strip()
    return _Reply(
        status=(fields.get("Status") or "").strip() or None,
        code=int(code_text) if code_text.isdigit() else None,
        message=(fields.get("ErrorMessage") or "").strip() or None,
        reference=(fields.get("ReferenceCode") or "").strip() or None,
        url=(fields.get("Url") or "").strip() or None,
    )


def _root_name(body: bytes) -> str | None:
    """The first element's name, read from the head of the body only."""
    found: list[str] = []

    class _Found(Exception):
        pass

    def start(name: str, _attrs: dict[str, str]) -> None:
        found.append(name)
        raise _Found

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = lambda *_a: None
    try:
        parser.Parse(body[:65536], False)
    except _Found:
        return found[0]
    except expat.ExpatError:
        return None
    return None


class FlexClient:
    """Fetches one Flex statement (bytes of a `<FlexQueryResponse>`) for a token and query id."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        policy: FlexPolicy | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy or FlexPolicy()
        self._http = http or httpx.Client(timeout=self.policy.timeout, follow_redirects=False)
        self._owns_http = http is None
        self._sleep = sleep
        self._clock = clock
        self._user_agent = user_agent

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> FlexClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the two steps --------------------------------------------------------------------------

    def fetch_statement(
        self, token: str, query_id: str, *, from_date: date | None = None, to_date: date | None = None
    ) -> bytes:
        """Request and download a statement; `from_date`/`to_date` override the query's period."""
        if not token or not query_id:
            raise BrokerAuthError("The Flex token or query id is missing.", hint=RENEW_ACCESS_HINT)
        for _attempt in range(self.policy.restarts + 1):
            reference, url = self.send_request(token, query_id, from_date=from_date, to_date=to_date)
            try:
                return self.get_statement(token, reference, url)
            except _StartOver:
                log.info("flex: reference code expired, requesting a new statement")
        raise BrokerUnavailable(
            "IBKR kept rejecting the statement's reference code (error 1017).", hint="Try again later."
        )

    def send_request(
        self, token: str, query_id: str, *, from_date: date | None = None, to_date: date | None = None
    ) -> tuple[str, str]:
        params = {"t": token, "q": query_id, "v": "3"}
        if from_date is not None and to_date is not None:
            params["fd"] = f"{from_date:%Y%m%d}"
            params["td"] = f"{to_date:%Y%m%d}"
        retries = iter(self.policy.send_retry_delays)
        rate_retries = self.policy.rate_limit_retries
        while True:
            reply = _parse_reply(
                self._get(f"{self.base_url}/SendRequest", params, "SendRequest"), "SendRequest"
            )
            if reply.code is None and reply.reference:
                log.info("flex: statement requested (reference %s)", reply.reference)
                return reply.reference, self._poll_url(reply.url)
            code = reply.code
            if code == RATE_LIMITED:
                if rate_retries <= 0:
                    raise self._rate_limited()
                rate_retries -= 1
                self._wait(self.policy.rate_limit_wait, "SendRequest rate limited (1018)")
                continue
            if code in RETRY_LATER or code == 1019:
                delay = next(retries, None)
                if delay is None:
                    raise BrokerUnavailable(
                        f"IBKR could not generate the statement (error {code}).",
                        hint="IBKR is busy; the sync will try again later.",
                    )
                self._wait(delay, f"SendRequest error {code}")
                continue
            if code is None:
                raise BrokerDataError(
                    "The Flex Web Service answered without a reference code or an error code."
                )
            raise error_for(code, reply.message)

    def get_statement(self, token: str, reference: str, url: str) -> bytes:
        params = {"q": reference, "t": token, "v": "3"}
        deadline = self._clock() + self.policy.poll_budget
        delays = iter(self.policy.poll_delays)
        delay = self.policy.first_poll_delay
        rate_retries = self.policy.rate_limit_retries
        self._wait(delay, "statement generation")
        while True:
            body = self._get(url, params, "GetStatement")
            root = _root_name(body)
            if root == STATEMENT_ROOT.decode():
                if not body.rstrip().endswith(b"</" + STATEMENT_ROOT + b">"):
                    raise BrokerDataError(
                        "The Flex statement download was cut short.", hint="The sync will try again later."
                    )
                log.info("flex: statement %s downloaded (%d bytes)", reference, len(body))
                return body
            if root != STATUS_ROOT:
                raise BrokerDataError(
                    "The Flex Web Service sent something that is not a Flex statement.",
                    hint="Make sure the Flex query's format is XML.",
                )
            reply = _parse_reply(body, "GetStatement")
            code = reply.code
            if code == REFERENCE_EXPIRED:
                raise _StartOver
            if code == RATE_LIMITED:
                if rate_retries <= 0:
                    raise self._rate_limited()
                rate_retries -= 1
                wait = max(self.policy.rate_limit_wait, delay)
            elif code in NOT_READY:
                delay = next(delays, delay)
                wait = delay
            elif code is None:
                raise BrokerDataError("The Flex Web Service answered neither a statement nor an error code.")
            else:
                raise error_for(code, reply.message)
            if self._clock() + wait > deadline:
                raise BrokerUnavailable(
                    f"The Flex statement was not ready after {self.policy.poll_budget:.0f} s (error {code}).",
                    hint="IBKR is slow to generate it; the sync will try again later.",
                )
            self._wait(wait, f"GetStatement error {code}")

    # --- transport ------------------------------------------------------------------------------

    def _poll_url(self, url: str | None) -> str:
        """Step 2 goes to the Url IBKR returned, but the token only ever goes to a trusted host."""
        if not url:
            return f"{self.base_url}/GetStatement"
        given = urlsplit(url)
        base = urlsplit(self.base_url)
        same_host = (given.scheme, given.netloc) == (base.scheme, base.netloc)
        ibkr = given.scheme == "https" and (given.hostname or "").endswith(".interactivebrokers.com")
        if not (same_host or ibkr):
            raise BrokerDataError(
                f"The Flex Web Service pointed at an unexpected host ({given.hostname}); the token was not sent.",
                hint="Check the configured IBKR_FLEX_URL.",
            )
        return url

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > 0:
            log.debug("flex: waiting %.0f s (%s)", seconds, why)
            self._sleep(seconds)

    def _rate_limited(self) -> BrokerRateLimited:
        return BrokerRateLimited(
            "IBKR is limiting requests for this Flex token (error 1018: at most 1 per second, 10 per minute).",
            retry_after=max(self.policy.rate_limit_wait, 60.0),
            hint="Wait a few minutes before syncing again; repeated bursts get the IP blocked for a while.",
        )

    def _get(self, url: str, params: Mapping[str, str], step: str) -> bytes:
        delays = self.policy.transport_retry_delays
        problem = ""
        throttled = False
        for attempt in range(len(delays) + 1):
            try:
                response = self._http.get(url, params=params, headers={"User-Agent": self._user_agent})
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"could not connect ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return response.content
                if status == 429 or status >= 500:
                    throttled = status == 429
                    problem = f"answered HTTP {status}"
                else:
                    raise BrokerDataError(
                        f"The Flex Web Service {step} answered HTTP {status}.",
                        hint="Check the configured IBKR_FLEX_URL.",
                    )
            log.warning("flex: %s %s (attempt %d)", step, problem, attempt + 1)
            if attempt < len(delays):
                self._wait(delays[attempt], f"{step} {problem}")
        if throttled:
            raise self._rate_limited()
        raise BrokerUnavailable(
            f"The Flex Web Service {step} {problem} after {len(delays) + 1} attempts.",
            hint="IBKR may be down or unreachable; the sync will try again later.",
        )
