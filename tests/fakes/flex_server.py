"""A loopback fake of IBKR's Flex Web Service v3 (shared ibkr.md §A.4).

Routes `GET /AccountManagement/FlexWebService/SendRequest` and `.../GetStatement` (and the legacy
`/Universal/servlet/FlexStatementService.SendRequest|.GetStatement`). Step 1 checks `v=3`, the
User-Agent, the token (unknown -> 1015, expired -> 1012, IP-bound -> 1013) and the query id
(unknown -> 1014), then answers a ReferenceCode and a `Url` pointing back at this server. Step 2
answers `Warn`/1019 for the first `polls_before_ready` polls of a reference, then the statement
bytes. Unknown references get 1017.

Scripted faults, consumed one per request in order: an error code (`"1018"`, `"1009"`...), `"503"`
(an HTML error page), `"truncated"` (half the statement), `"garbage"` (a 200 that is not XML),
`"slow"` (answers after `slow_seconds`, to trip the client's timeout). `rate_limit_per_minute`
answers 1018 to the calls beyond it within 60 s, like the real service.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

BASE_PATH = "/AccountManagement/FlexWebService"

MESSAGES = {
    "1001": "Statement could not be generated at this time. Please try again shortly.",
    "1009": "The server is under heavy load. Statement could not be generated at this time.",
    "1012": "Token has expired.",
    "1013": "IP restriction.",
    "1014": "Query is invalid.",
    "1015": "Token is invalid.",
    "1017": "Reference code is invalid.",
    "1018": "Too many requests have been made from this token. Please try again shortly. Limit is one "
    "request per second, 10 requests per minute (per token).",
    "1019": "Statement generation in progress. Please try again shortly.",
    "1020": "Invalid request or unable to validate request.",
    "1021": "Statement could not be retrieved at this time. Please try again shortly.",
}


def status_xml(code: str) -> bytes:
    status = "Warn" if code == "1019" else "Fail"
    return (
        f'<FlexStatementResponse timestamp="28 August, 2012 10:37 AM EDT">\n<Status>{status}</Status>\n'
        f"<ErrorCode>{code}</ErrorCode>\n<ErrorMessage>{MESSAGES.get(code, 'Error.')}</ErrorMessage>\n"
        "</FlexStatementResponse>"
    ).encode()


@dataclass
class RecordedRequest:
    step: str
    params: dict[str, str]
    user_agent: str | None


@dataclass
class FakeFlexService:
    """State and behaviour; the HTTP plumbing is in `FakeFlexServer`."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> "valid" | "expired" | "ip"
    queries: dict[str, bytes] = field(default_factory=dict)  # query id -> statement bytes
    polls_before_ready: int = 0
    send_script: deque[str] = field(default_factory=deque)
    get_script: deque[str] = field(default_factory=deque)
    rate_limit_per_minute: int | None = None
    slow_seconds: float = 1.0
    requests: list[RecordedRequest] = field(default_factory=list)
    references: dict[str, dict[str, object]] = field(default_factory=dict)
    base_url: str = ""
    _times: deque[float] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(
        self, path: str, params: dict[str, str], user_agent: str | None
    ) -> tuple[int, str, bytes, float]:
        """(HTTP status, content type, body, delay in seconds) for one request."""
        if path.endswith("SendRequest"):
            step = "SendRequest"
        elif path.endswith("GetStatement"):
            step = "GetStatement"
        else:
            return 404, "text/html", b"<html><body>Not found</body></html>", 0.0
        with self.lock:
            self.requests.append(RecordedRequest(step, dict(params), user_agent))
            now = time.monotonic()
            self._times.append(now)
            while self._times and now - self._times[0] > 60:
                self._times.popleft()
            script = self.send_script if step == "SendRequest" else self.get_script
            fault = script.popleft() if script else None
            if self.rate_limit_per_minute is not None and len(self._times) > self.rate_limit_per_minute:
                return 200, "text/xml", status_xml("1018"), 0.0
            if fault is not None:
                return self._fault(fault, params)
            if params.get("v") != "3" or not user_agent:
                return 200, "text/xml", status_xml("1020"), 0.0
            if step == "SendRequest":
                return self._send(params)
            return self._get(params)

    def _fault(self, fault: str, params: dict[str, str]) -> tuple[int, str, bytes, float]:
        if fault == "503":
            return 503, "text/html", b"<html><body><h1>503 Service Unavailable</h1></body></html>", 0.0
        if fault == "garbage":
            return 200, "text/plain", b"Service temporarily unavailable", 0.0
        if fault == "truncated":
            statement = self._statement_for(params)
            return 200, "text/xml", statement[: len(statement) // 2], 0.0
        if fault == "slow":
            return 200, "text/xml", status_xml("1019"), self.slow_seconds
        return 200, "text/xml", status_xml(fault), 0.0

    def _statement_for(self, params: dict[str, str]) -> bytes:
        ref = self.references.get(params.get("q", ""))
        query = str(ref["query"]) if ref else next(iter(self.queries))
        return self.queries[query]

    def _send(self, params: dict[str, str]) -> tuple[int, str, bytes, float]:
        state = self.tokens.get(params.get("t", ""))
        if state is None:
            return 200, "text/xml", status_xml("1015"), 0.0
        if state == "expired":
            return 200, "text/xml", status_xml("1012"), 0.0
        if state == "ip":
            return 200, "text/xml", status_xml("1013"), 0.0
        query = params.get("q", "")
        if query not in self.queries:
            return 200, "text/xml", status_xml("1014"), 0.0
        reference = str(random.randint(10**9, 10**10 - 1))
        self.references[reference] = {"query": query, "polls": 0, "token": params["t"]}
        body = (
            '<FlexStatementResponse timestamp="28 August, 2012 10:37 AM EDT">\n<Status>Success</Status>\n'
            f"<ReferenceCode>{reference}</ReferenceCode>\n<Url>{self.base_url}{BASE_PATH}/GetStatement</Url>\n"
            "</FlexStatementResponse>"
        ).encode()
        return 200, "text/xml", body, 0.0

    def _get(self, params: dict[str, str]) -> tuple[int, str, bytes, float]:
        ref = self.references.get(params.get("q", ""))
        if ref is None or ref["token"] != params.get("t"):
            return 200, "text/xml", status_xml("1017"), 0.0
        polls = int(str(ref["polls"]))
        ref["polls"] = polls + 1
        if polls < self.polls_before_ready:
            return 200, "text/xml", status_xml("1019"), 0.0
        return 200, "text/xml", self.queries[str(ref["query"])], 0.0


class _Handler(BaseHTTPRequestHandler):
    service: FakeFlexService

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        status, content_type, body, delay = self.server.service.handle(  # type: ignore[attr-defined]
            split.path, params, self.headers.get("User-Agent")
        )
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        return  # keep test output clean (and never print query strings)


class FakeFlexServer:
    """Runs a FakeFlexService on 127.0.0.1 on an ephemeral port, in a background thread."""

    def __init__(self, service: FakeFlexService | None = None) -> None:
        self.service = service or FakeFlexService()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a deliberately slow reply must not hold up shutdown
        self._server.service = self.service  # type: ignore[attr-defined]
        host, port = self._server.server_address[:2]
        self.origin = f"http://{host}:{port}"
        self.service.base_url = self.origin
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-flex", daemon=True
        )

    @property
    def base_url(self) -> str:
        """What `Settings.ibkr_flex_url` would be set to."""
        return f"{self.origin}{BASE_PATH}"

    def __enter__(self) -> FakeFlexServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
