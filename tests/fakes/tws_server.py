"""A loopback fake of TWS / IB Gateway that speaks the real TWS API socket protocol.

`ib_async.IB().connectAsync()` connects to it unchanged. The fake negotiates server version 178
(the highest ib_async 2.1.0 accepts, and what a current TWS/IB Gateway 10.x answers it with; see
docs/decisions/0006-tws-fake.md) and writes every message in the field layout of that version:
shared/docs/ibkr.md part D, checked against ib_async's `decoder.py` (what the client parses) and
IBKR's own `ibapi` decoder (what a real server sends at 178).

It runs its own asyncio loop on a background thread, so plain synchronous tests can start it,
change the scenario, inject errors (354, 1100, 1101/1102, 326...), drop every socket abruptly,
stop it and bring it back on the same port. Every client message is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157  # ib_async 2.1.0 `Client.MinClientVersion`

# Incoming (server -> client) message ids, D.4.
TICK_PRICE, TICK_SIZE, ERR_MSG, ACCT_VALUE, PORTFOLIO_VALUE, ACCT_UPDATE_TIME = 1, 2, 4, 6, 7, 8
NEXT_VALID_ID, CONTRACT_DATA, MANAGED_ACCTS, CURRENT_TIME = 9, 10, 15, 49
CONTRACT_DATA_END, OPEN_ORDER_END, ACCT_DOWNLOAD_END, EXECUTION_DATA_END = 52, 53, 54, 55
TICK_SNAPSHOT_END, MARKET_DATA_TYPE, POSITION_DATA, POSITION_END = 57, 58, 61, 62
ACCOUNT_SUMMARY, ACCOUNT_SUMMARY_END, ACCOUNT_UPDATE_MULTI, ACCOUNT_UPDATE_MULTI_END = 63, 64, 73, 74
TICK_REQ_PARAMS, COMPLETED_ORDERS_END = 81, 102

# Outgoing (client -> server) request ids, D.5.
REQ_MKT_DATA, CANCEL_MKT_DATA, REQ_OPEN_ORDERS, REQ_ACCOUNT_UPDATES, REQ_EXECUTIONS = 1, 2, 5, 6, 7
REQ_IDS, REQ_CONTRACT_DATA, REQ_AUTO_OPEN_ORDERS, REQ_MANAGED_ACCTS = 8, 9, 15, 17
REQ_CURRENT_TIME, REQ_MARKET_DATA_TYPE, REQ_POSITIONS, REQ_ACCOUNT_SUMMARY = 49, 59, 61, 62
CANCEL_ACCOUNT_SUMMARY, CANCEL_POSITIONS, START_API = 63, 64, 71
REQ_ACCOUNT_UPDATES_MULTI, CANCEL_ACCOUNT_UPDATES_MULTI, REQ_COMPLETED_ORDERS = 76, 77, 99

# Tick types (D.6): live and delayed ids for the same Ticker field.
LIVE_PRICE_TICKS = {"bid": 1, "ask": 2, "last": 4, "high": 6, "low": 7, "close": 9, "open": 14}
DELAYED_PRICE_TICKS = {"bid": 66, "ask": 67, "last": 68, "high": 72, "low": 73, "close": 75, "open": 76}
LIVE_SIZE_TICKS = {"bid_size": 0, "ask_size": 3, "last_size": 5, "volume": 8}
DELAYED_SIZE_TICKS = {"bid_size": 69, "ask_size": 70, "last_size": 71, "volume": 74}

# Account-summary tags that only `$LEDGER:ALL` returns (per currency, and "BASE").
LEDGER_TAGS = frozenset(
    {
        "CashBalance",
        "TotalCashBalance",
        "AccruedCash",
        "StockMarketValue",
        "OptionMarketValue",
        "FutureOptionValue",
        "FuturesPNL",
        "NetLiquidationByCurrency",
        "UnrealizedPnL",
        "RealizedPnL",
        "ExchangeRate",
        "FundValue",
        "NetDividend",
        "MutualFundValue",
        "MoneyMarketFundValue",
        "CorporateBondValue",
        "TBondValue",
        "TBillValue",
        "WarrantValue",
        "FxCashBalance",
        "AccountOrGroup",
        "RealCurrency",
        "IssuerOptionValue",
    }
)

NO_SUBSCRIPTION_TEXT = (
    "Requested market data is not subscribed.Check API status by selecting the Account menu then under "
    "Management choose Market Data Subscription Manager and/or Account Settings."
)
NO_SECURITY_TEXT = "No security definition has been found for the request"
CLIENT_ID_IN_USE_TEXT = "Unable to connect as the client id is already in use. Retry with a unique client id."
CONNECTIVITY_LOST_TEXT = "Connectivity between IB and Trader Workstation has been lost."
RESTORED_DATA_LOST_TEXT = "Connectivity between IB and Trader Workstation has been restored - data lost."
RESTORED_DATA_KEPT_TEXT = (
    "Connectivity between IB and Trader Workstation has been restored - data maintained."
)
TOO_MANY_SUMMARIES_TEXT = (
    "Error processing request.-'bM' : cause - Maximum number of account summary requests exceeded"
)


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class FakeContract:
    """A contract as TWS knows it. Every value is the exact wire text."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    currency: str = "USD"
    exchange: str = "SMART"
    primary_exchange: str = "NASDAQ"
    local_symbol: str = ""  # defaults to the symbol
    trading_class: str = ""  # defaults to "NMS" for stocks, the symbol otherwise
    expiry: str = ""  # lastTradeDateOrContractMonth, YYYYMMDD
    strike: str = "0"
    right: str = ""  # "C" / "P" for options
    multiplier: str = ""
    long_name: str = ""
    min_tick: str = "0.01"
    isin: str = ""
    industry: str = ""
    category: str = ""
    time_zone_id: str = "US/Eastern"

    @property
    def wire_local_symbol(self) -> str:
        return self.local_symbol or self.symbol

    @property
    def wire_trading_class(self) -> str:
        return self.trading_class or ("NMS" if self.sec_type == "STK" else self.symbol)


@dataclass(frozen=True)
class FakeHolding:
    """One position with its portfolio mark, as TWS reports it (msg 61 and msg 7)."""

    account: str
    contract: FakeContract
    position: str
    avg_cost: str
    market_price: str
    market_value: str
    unrealized_pnl: str
    realized_pnl: str = "0"


@dataclass(frozen=True)
class FakeQuote:
    """Prices for one contract. Without a live subscription TWS answers error 354 to a live
    request, and the same prices as delayed ticks once the client asks for market data type 3."""

    bid: str
    ask: str
    last: str
    close: str
    bid_size: str = "100"
    ask_size: str = "200"
    last_size: str = "10"
    volume: str = "123456"
    high: str = ""
    low: str = ""
    open: str = ""
    live_subscription: bool = True


@dataclass
class TwsScenario:
    accounts: list[str]
    holdings: list[FakeHolding] = field(default_factory=list)
    # account -> [(key, value, currency)] sent as msg 6 on reqAccountUpdates / msg 73 on the multi variant
    account_values: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    # account -> [(tag, value, currency)] sent as msg 63 on reqAccountSummary
    account_summary: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    contracts: list[FakeContract] = field(default_factory=list)  # known beyond the holdings
    quotes: dict[int, FakeQuote] = field(default_factory=dict)  # con_id -> prices
    next_order_id: int = 1
    server_version: int = SERVER_VERSION
    connection_time: str = "20250115 14:30:00 EST"
    account_time: str = "14:30"
    farm_status: bool = True
    max_account_summary_subscriptions: int = 2

    def all_contracts(self) -> list[FakeContract]:
        seen: dict[int, FakeContract] = {c.con_id: c for c in self.contracts}
        for holding in self.holdings:
            seen.setdefault(holding.contract.con_id, holding.contract)
        return list(seen.values())


@dataclass(frozen=True)
class ReceivedMessage:
    at: float  # time.monotonic() when the server read it
    client_id: int | None
    fields: list[str]

    @property
    def msg_id(self) -> int:
        return int(self.fields[0])


# --------------------------------------------------------------------------- wire helpers


def encode_message(*fields: object) -> bytes:
    """One framed message: 4-byte big-endian length, then every field NUL-terminated (D.1)."""
    payload = "".join(f"{value}\0" for value in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def _portfolio_right(c: FakeContract) -> str:
    # TWS fills `right` with "0" for non-options in portfolio updates (ib_insync users see right='0').
    return c.right or ("0" if c.sec_type not in ("OPT", "FOP", "WAR") else "")


# --------------------------------------------------------------------------- sessions


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    client_id: int | None = None
    market_data_type: int = 1
    positions_subscribed: bool = False
    account_updates: str | None = None  # the one account whose updates stream (TWS allows one)
    summary_requests: dict[int, tuple[set[str], bool]] = field(default_factory=dict)
    streaming: dict[int, int] = field(default_factory=dict)  # reqId -> con_id
    api_started: bool = False

    def send(self, *fields: object) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode_message(*fields))


class FakeTws:
    """The fake server. `start()` returns the port; all other methods are safe from any thread."""

    def __init__(self, scenario: TwsScenario, *, handshake: str = "normal") -> None:
        if handshake not in ("normal", "silent", "close"):
            raise ValueError(f"unknown handshake mode {handshake!r}")
        if scenario.server_version >= MIN_CLIENT_VERSION and scenario.server_version != SERVER_VERSION:
            raise ValueError(f"the fake writes the layouts of server version {SERVER_VERSION} only")
        self.scenario = scenario
        self.handshake = handshake
        self.reject_client_ids: set[int] = set()
        self.port = 0
        self._lock = threading.Lock()
        self._received: list[ReceivedMessage] = []
        self._sessions: list[_Session] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._received_changed = threading.Condition(self._lock)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> int:
        """Listen on 127.0.0.1 (an ephemeral port the first time, the same port after a stop)."""
        if self._thread is None:
            ready = threading.Event()
            self._loop = asyncio.new_event_loop()

            def run() -> None:
                assert self._loop is not None
                asyncio.set_event_loop(self._loop)
                ready.set()
                self._loop.run_forever()

            self._thread = threading.Thread(target=run, name="fake-tws", daemon=True)
            self._thread.start()
            ready.wait()
        self._call(self._listen())
        return self.port

    def stop(self) -> None:
        """Stop listening and close every client socket (TWS or the Gateway shutting down)."""
        if self._server is not None:
            self._call(self._close_all(listen=False))

    def close(self) -> None:
        """Stop and end the fake's thread."""
        self.stop()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeTws:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 5) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_all(self, *, listen: bool) -> None:
        server = self._server
        if not listen and server is not None:
            server.close()
            self._server = None
        for session in list(self._sessions):
            session.writer.transport.abort()  # abrupt: no orderly goodbye, like a killed Gateway
        self._sessions.clear()
        if not listen and server is not None:
            await server.wait_closed()

    # ------------------------------------------------------------------ injection (any thread)

    def drop_connections(self) -> None:
        """Abruptly close every client socket but keep listening."""
        self._call(self._close_all(listen=True))

    def send_error(self, code: int, message: str, req_id: int = -1) -> None:
        def send() -> None:
            for session in self._sessions:
                session.send(ERR_MSG, 2, req_id, code, message, "")

        self._run_soon(send)

    def connectivity_lost(self) -> None:
        self.send_error(1100, CONNECTIVITY_LOST_TEXT)

    def connectivity_restored(self, *, data_lost: bool = False) -> None:
        if data_lost:
            self.send_error(1101, RESTORED_DATA_LOST_TEXT)
        else:
            self.send_error(1102, RESTORED_DATA_KEPT_TEXT)

    def set_holding(self, holding: FakeHolding) -> None:
        """Add or change a position and push the update like TWS does (msg 61, and msg 7 to the
        client subscribed to that account). A position of "0" closes it."""

        def apply() -> None:
            key = (holding.account, holding.contract.con_id)
            self.scenario.holdings = [
                h for h in self.scenario.holdings if (h.account, h.contract.con_id) != key
            ]
            if holding.position not in ("0", "0.0"):
                self.scenario.holdings.append(holding)
            for session in self._sessions:
                if session.positions_subscribed:
                    self._send_position(session, holding)
                if session.account_updates == holding.account:
                    self._send_portfolio(session, holding)

        self._run_soon(apply)

    def set_quote(self, con_id: int, quote: FakeQuote) -> None:
        self._run_soon(lambda: self.scenario.quotes.__setitem__(con_id, quote))

    def _run_soon(self, fn: Callable[[], None]) -> None:
        async def run() -> None:
            fn()
            for session in self._sessions:
                with contextlib.suppress(ConnectionError):
                    await session.writer.drain()

        self._call(run())

    # ------------------------------------------------------------------ inspection (any thread)

    def received(self, msg_id: int | None = None) -> list[ReceivedMessage]:
        with self._lock:
            return [m for m in self._received if msg_id is None or m.msg_id == msg_id]

    def wait_for_message(
        self,
        msg_id: int,
        *,
        count: int = 1,
        timeout: float = 5,
        where: Callable[[ReceivedMessage], bool] | None = None,
    ) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        with self._received_changed:
            while True:
                found = [m for m in self._received if m.msg_id == msg_id and (where is None or where(m))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the fake received {len(found)} message(s) {msg_id}, expected {count}"
                    )
                self._received_changed.wait(remaining)

    def connection_count(self) -> int:
        return len(self._sessions)

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()

    # ------------------------------------------------------------------ protocol

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(writer)
        self._sessions.append(session)
        try:
            await self._handshake(reader, session)
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                payload = (await reader.readexactly(size)).decode()
                fields = payload.split("\0")[:-1]  # the last field is NUL-terminated too (D.1)
                self._record(session, fields)
                self._dispatch(session, fields)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, _Hangup):
            pass
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
            writer.close()

    def _record(self, session: _Session, fields: list[str]) -> None:
        with self._received_changed:
            self._received.append(ReceivedMessage(time.monotonic(), session.client_id, fields))
            self._received_changed.notify_all()

    async def _handshake(self, reader: asyncio.StreamReader, session: _Session) -> None:
        """D.2: `API\\0`, a framed `v157..178` (not NUL-terminated), then our version and time."""
        prefix = await reader.readexactly(4)
        if prefix != b"API\0":
            raise _Hangup
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        versions = (await reader.readexactly(size)).decode()
        self._record(session, ["0", versions])  # recorded under id 0 for tests of the handshake
        if self.handshake == "close":
            raise _Hangup
        if self.handshake == "silent":
            await reader.read()  # never answer; wait for the client to give up
            raise _Hangup
        low, _, high = versions.split(" ")[0].lstrip("v").partition("..")
        version = min(int(high), self.scenario.server_version)
        if version < int(low):
            # A real TWS older than the client's minimum still answers with its version; the client hangs up.
            version = self.scenario.server_version
        session.send(version, self.scenario.connection_time)
        await session.writer.drain()

    def _dispatch(self, session: _Session, f: list[str]) -> None:
        msg_id = int(f[0])
        handler = self._handlers().get(msg_id)
        if handler is not None:
            handler(session, f)

    def _handlers(self) -> dict[int, Callable[[_Session, list[str]], None]]:
        return {
            START_API: self._start_api,
            REQ_POSITIONS: self._req_positions,
            CANCEL_POSITIONS: self._cancel_positions,
            REQ_ACCOUNT_UPDATES: self._req_account_updates,
            REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            CANCEL_ACCOUNT_SUMMARY: self._cancel_account_summary,
            REQ_CONTRACT_DATA: self._req_contract_details,
            REQ_MKT_DATA: self._req_mkt_data,
            CANCEL_MKT_DATA: self._cancel_mkt_data,
            REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            REQ_OPEN_ORDERS: lambda s, _f: s.send(OPEN_ORDER_END, 1),
            REQ_COMPLETED_ORDERS: lambda s, _f: s.send(COMPLETED_ORDERS_END),
            REQ_EXECUTIONS: lambda s, f: s.send(EXECUTION_DATA_END, 1, f[2]),
            REQ_MANAGED_ACCTS: lambda s, _f: s.send(MANAGED_ACCTS, 1, ",".join(self.scenario.accounts)),
            REQ_CURRENT_TIME: lambda s, _f: s.send(CURRENT_TIME, 1, int(time.time())),
            REQ_IDS: lambda s, _f: s.send(NEXT_VALID_ID, 1, self.scenario.next_order_id),
        }

    def _start_api(self, session: _Session, f: list[str]) -> None:
        # 71, 2, clientId, optionalCapabilities
        client_id = int(f[2])
        in_use = any(s.client_id == client_id and s.api_started for s in self._sessions if s is not session)
        session.client_id = client_id
        if in_use or client_id in self.reject_client_ids:
            session.send(ERR_MSG, 2, -1, 326, CLIENT_ID_IN_USE_TEXT, "")
            raise _Hangup
        session.api_started = True
        session.send(NEXT_VALID_ID, 1, self.scenario.next_order_id)
        session.send(MANAGED_ACCTS, 1, ",".join(self.scenario.accounts))
        if self.scenario.farm_status:
            for code, text in (
                (2104, "Market data farm connection is OK:usfarm"),
                (2106, "HMDS data farm connection is OK:ushmds"),
                (2158, "Sec-def data farm connection is OK:secdefnj"),
            ):
                session.send(ERR_MSG, 2, -1, code, text, "")

    # -- positions and account data

    def _send_position(self, session: _Session, h: FakeHolding) -> None:
        c = h.contract
        session.send(
            POSITION_DATA, 3, h.account, c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right,
            c.multiplier, c.primary_exchange, c.currency, c.wire_local_symbol, c.wire_trading_class,
            h.position, h.avg_cost,
        )  # fmt: skip

    def _send_portfolio(self, session: _Session, h: FakeHolding) -> None:
        c = h.contract
        session.send(
            PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, _portfolio_right(c),
            c.multiplier, c.primary_exchange, c.currency, c.wire_local_symbol, c.wire_trading_class,
            h.position, h.market_price, h.market_value, h.avg_cost, h.unrealized_pnl, h.realized_pnl,
            h.account,
        )  # fmt: skip

    def _req_positions(self, session: _Session, _f: list[str]) -> None:
        session.positions_subscribed = True
        for holding in self.scenario.holdings:
            self._send_position(session, holding)
        session.send(POSITION_END, 1)

    def _cancel_positions(self, session: _Session, _f: list[str]) -> None:
        session.positions_subscribed = False

    def _req_account_updates(self, session: _Session, f: list[str]) -> None:
        # 6, 2, subscribe, acctCode. One account at a time: a new subscription replaces the last.
        subscribe, account = f[2] == "1", f[3]
        if not subscribe:
            session.account_updates = None
            return
        session.account_updates = account
        for key, value, currency in self.scenario.account_values.get(account, []):
            session.send(ACCT_VALUE, 2, key, value, currency, account)
        for holding in self.scenario.holdings:
            if holding.account == account:
                self._send_portfolio(session, holding)
        session.send(ACCT_UPDATE_TIME, 1, self.scenario.account_time)
        session.send(ACCT_DOWNLOAD_END, 1, account)

    def _req_account_updates_multi(self, session: _Session, f: list[str]) -> None:
        # 76, 1, reqId, account, modelCode, ledgerAndNLV
        req_id, account, model_code = f[2], f[3], f[4]
        for key, value, currency in self.scenario.account_values.get(account, []):
            session.send(ACCOUNT_UPDATE_MULTI, 1, req_id, account, model_code, key, value, currency)
        session.send(ACCOUNT_UPDATE_MULTI_END, 1, req_id)

    def _req_account_summary(self, session: _Session, f: list[str]) -> None:
        # 62, 1, reqId, group, tags
        req_id = int(f[2])
        requested = set(f[4].split(","))
        ledger = any(t.startswith("$LEDGER") for t in requested)
        limit = self.scenario.max_account_summary_subscriptions
        if len(session.summary_requests) >= limit:
            session.send(ERR_MSG, 2, req_id, 322, TOO_MANY_SUMMARIES_TEXT, "")
            return
        session.summary_requests[req_id] = (requested, ledger)
        for account in self.scenario.accounts:
            for tag, value, currency in self.scenario.account_summary.get(account, []):
                if tag in requested or (ledger and tag in LEDGER_TAGS):
                    session.send(ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency)
        session.send(ACCOUNT_SUMMARY_END, 1, req_id)

    def _cancel_account_summary(self, session: _Session, f: list[str]) -> None:
        session.summary_requests.pop(int(f[2]), None)

    # -- contracts

    def _find_contracts(self, c: list[str]) -> list[FakeContract]:
        """Match the 12 request fields conId..tradingClass like TWS: by conId, else by the fields given."""
        con_id, symbol, sec_type, expiry, strike, right = c[0], c[1], c[2], c[3], c[4], c[5]
        currency, local_symbol = c[9], c[10]
        known = self.scenario.all_contracts()
        if con_id not in ("", "0"):
            return [k for k in known if str(k.con_id) == con_id]
        found = []
        for k in known:
            if symbol and k.symbol.upper() != symbol.upper():
                continue
            if sec_type and k.sec_type != sec_type:
                continue
            if currency and k.currency != currency:
                continue
            if local_symbol and k.wire_local_symbol != local_symbol:
                continue
            if expiry and not k.expiry.startswith(expiry):
                continue
            if right and right[0] != k.right[:1]:
                continue
            if strike not in ("", "0", "0.0") and float(strike) != float(k.strike):
                continue
            found.append(k)
        return found

    def _req_contract_details(self, session: _Session, f: list[str]) -> None:
        # 9, 8, reqId, <12 contract fields>, includeExpired, secIdType, secId, issuerId (sv >= 176)
        req_id, contract = f[2], f[3:15]
        matches = self._find_contracts(contract)
        if not matches:
            session.send(ERR_MSG, 2, req_id, 200, NO_SECURITY_TEXT, "")
            return
        requested_exchange = contract[7]
        for k in matches:
            sec_ids = [("ISIN", k.isin)] if k.isin else []
            session.send(
                CONTRACT_DATA, req_id, k.symbol, k.sec_type, k.expiry, k.strike, k.right,
                requested_exchange or k.exchange, k.currency, k.wire_local_symbol, k.wire_trading_class,
                k.wire_trading_class, k.con_id, k.min_tick, k.multiplier,
                "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,LMT,MKT,STP",  # orderTypes
                "SMART,AMEX,NYSE,CBOE,ISLAND,ARCA,IEX",  # validExchanges
                1, 0 if k.sec_type == "STK" else 265598, k.long_name, k.primary_exchange,
                k.expiry[:6], k.industry, k.category, "", k.time_zone_id,
                "20250115:0400-20250115:2000", "20250115:0930-20250115:1600", "", "",
                len(sec_ids), *[x for pair in sec_ids for x in pair],
                1, "", "", "26", "", "COMMON" if k.sec_type == "STK" else "",
                "0.0001", "0.0001", "100",
            )  # fmt: skip
        session.send(CONTRACT_DATA_END, 1, req_id)

    # -- market data

    def _req_market_data_type(self, session: _Session, f: list[str]) -> None:
        session.market_data_type = int(f[2])
        # TWS re-labels running subscriptions when the type changes.
        for req_id, con_id in session.streaming.items():
            quote = self.scenario.quotes.get(con_id)
            if quote is not None:
                session.send(MARKET_DATA_TYPE, 1, req_id, self._effective_type(session, quote))

    @staticmethod
    def _effective_type(session: _Session, quote: FakeQuote) -> int:
        """Types 3/4 mean "delayed unless subscribed": a subscribed line still gets live data."""
        if quote.live_subscription:
            return 1 if session.market_data_type in (1, 3) else 2
        return 3 if session.market_data_type in (1, 3) else 4

    def _req_mkt_data(self, session: _Session, f: list[str]) -> None:
        # 1, 11, reqId, <12 contract fields>, [BAG legs], deltaNeutral..., genericTicks, snapshot,
        # regulatorySnapshot, mktDataOptions
        req_id, contract = int(f[2]), f[3:15]
        rest = f[15:]
        if contract[2] == "BAG":
            legs = int(rest[0])
            rest = rest[1 + 4 * legs :]
        rest = rest[4:] if rest[0] == "1" else rest[1:]
        snapshot = rest[1] == "1"
        matches = self._find_contracts(contract)
        quote = self.scenario.quotes.get(matches[0].con_id) if len(matches) == 1 else None
        if quote is None:
            session.send(ERR_MSG, 2, req_id, 200, NO_SECURITY_TEXT, "")
            return
        if not quote.live_subscription and session.market_data_type in (1, 2):
            session.send(ERR_MSG, 2, req_id, 354, NO_SUBSCRIPTION_TEXT, "")
            return
        md_type = self._effective_type(session, quote)
        delayed = md_type in (3, 4)
        session.send(MARKET_DATA_TYPE, 1, req_id, md_type)
        session.send(TICK_REQ_PARAMS, req_id, matches[0].min_tick, "9c0001", 3)
        prices = DELAYED_PRICE_TICKS if delayed else LIVE_PRICE_TICKS
        sizes = DELAYED_SIZE_TICKS if delayed else LIVE_SIZE_TICKS
        size_for = {"bid": quote.bid_size, "ask": quote.ask_size, "last": quote.last_size}
        for name, tick_type in prices.items():
            price = getattr(quote, name)
            if price:
                session.send(TICK_PRICE, 6, req_id, tick_type, price, size_for.get(name, "0"), 0)
        for name, tick_type in sizes.items():
            session.send(TICK_SIZE, 6, req_id, tick_type, getattr(quote, name))
        if snapshot:
            session.send(TICK_SNAPSHOT_END, 1, req_id)
        else:
            session.streaming[req_id] = matches[0].con_id

    def _cancel_mkt_data(self, session: _Session, f: list[str]) -> None:
        session.streaming.pop(int(f[2]), None)


class _Hangup(Exception):
    """Close this client's socket (what TWS does on a bad handshake or a duplicate client id)."""


# --------------------------------------------------------------------------- convenience


def stock(con_id: int, symbol: str, **kwargs: Any) -> FakeContract:
    return FakeContract(con_id=con_id, symbol=symbol, **kwargs)


def option(
    con_id: int, underlying: str, expiry: str, strike: str, right: str, *, local_symbol: str, **kwargs: Any
) -> FakeContract:
    return FakeContract(
        con_id=con_id,
        symbol=underlying,
        sec_type="OPT",
        expiry=expiry,
        strike=strike,
        right=right,
        multiplier="100",
        local_symbol=local_symbol,
        trading_class=underlying,
        primary_exchange="",
        exchange="SMART",
        **kwargs,
    )
