"""What the live TWS / IB Gateway connection is doing, in words a user can act on.

The connection never raises into its callers for a gateway that is down or unreachable: it
publishes a `LiveStatus` (state plus a sentence saying what happened and what to do next) and
keeps retrying with exponential backoff.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from foliosync.errors import FoliosyncError

MIN_SERVER_VERSION = 157  # ib_async 2.1.0 `Client.MinClientVersion`
API_SETTINGS_HINT = "enable the API (Configure > API > Settings)"
PORT_HINT = "IB Gateway listens on 4001 (live) / 4002 (paper), TWS on 7496 / 7497; set IBKR_TWS_PORT."


class LiveState(StrEnum):
    STOPPED = "stopped"  # the service is not running
    CONNECTING = "connecting"
    CONNECTED = "connected"
    # The API socket is up but TWS lost IBKR's servers (error 1100): data is frozen.
    DEGRADED = "degraded"
    DISCONNECTED = "disconnected"


LIVE_STATES = frozenset({LiveState.CONNECTED, LiveState.DEGRADED})


@dataclass(frozen=True)
class LiveStatus:
    state: LiveState
    message: str
    host: str
    port: int
    client_id: int
    readonly: bool
    since: datetime  # when the current state began
    managed_accounts: tuple[str, ...] = ()
    server_version: int | None = None
    failed_attempts: int = 0
    next_retry_at: datetime | None = None
    last_error: str | None = None
    # 1 = live; 3 = delayed where there is no market data subscription (after error 354).
    market_data_type: int = 1
    warnings: tuple[str, ...] = field(default=())

    @property
    def connected(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays: initial, initial*factor, ... capped at `maximum` seconds."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 = the first retry)."""
        if attempt < 1:
            return 0.0
        return float(min(self.maximum, self.initial * self.factor ** (attempt - 1)))


class LiveUnavailable(FoliosyncError):
    """Live data was asked for while TWS / IB Gateway is not connected."""

    status_code = 503
    code = "live_unavailable"


def describe_connect_failure(
    exc: BaseException, *, host: str, port: int, client_id: int, timeout: float, api_error: str | None
) -> str:
    """One sentence per way a connect attempt fails (shared/docs/ibkr.md D.2): what and what to do."""
    where = f"{host}:{port}"
    if api_error and "version" in api_error.lower():
        return (
            f"TWS/IB Gateway at {where} is too old for this API client (ib_async needs server version "
            f"{MIN_SERVER_VERSION} or later): update TWS or IB Gateway to a current release."
        )
    if isinstance(exc, PeerClosedDuringHandshake) or (api_error and "closed" in api_error.lower()):
        return (
            f"TWS/IB Gateway at {where} closed the connection during the API handshake: client id "
            f"{client_id} is probably used by another application, or this machine is not a trusted IP. "
            "Set IBKR_TWS_CLIENT_ID to an unused id, or add 127.0.0.1 under Configure > API > Settings > "
            "Trusted IPs."
        )
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"Nothing is listening on {where}: start TWS or IB Gateway and {API_SETTINGS_HINT}. {PORT_HINT}"
        )
    if isinstance(exc, socket.gaierror):
        return f"Cannot resolve the TWS/IB Gateway host {host!r}: check IBKR_TWS_HOST."
    if isinstance(exc, TimeoutError):
        return (
            f"{where} accepted the connection but did not complete the TWS API handshake within "
            f"{timeout:g} s: check that this is the API socket port of TWS or IB Gateway and "
            f"{API_SETTINGS_HINT}. {PORT_HINT}"
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return (
            f"Cannot connect to TWS/IB Gateway at {where} ({reason}): check IBKR_TWS_HOST and "
            "IBKR_TWS_PORT, and that TWS or IB Gateway is running."
        )
    return f"Connecting to TWS/IB Gateway at {where} failed ({type(exc).__name__}): {exc}"


class PeerClosedDuringHandshake(ConnectionError):
    """TWS hung up before the API was ready (duplicate client id, untrusted IP)."""


# TWS "errors" that are really status notices (shared/docs/ibkr.md D.6).
CONNECTIVITY_LOST = 1100
CONNECTIVITY_RESTORED_DATA_LOST = 1101
CONNECTIVITY_RESTORED = 1102
CLIENT_ID_IN_USE = 326
FARM_BROKEN = frozenset({2103, 2105, 2157})
FARM_OK = frozenset({2104, 2106, 2158})
# No live subscription for this line: ask again with market data type 3 (delayed).
NO_SUBSCRIPTION = frozenset({354, 10089, 10090})
NO_SECURITY_DEFINITION = 200

CONNECTIVITY_LOST_MESSAGE = (
    "TWS/IB Gateway lost its connection to IBKR's servers (error 1100): prices and positions are frozen "
    "until it reconnects by itself; if this lasts, check the TWS/IB Gateway window and your internet link."
)
