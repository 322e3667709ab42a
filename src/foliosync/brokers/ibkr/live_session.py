"""One ib_async session with TWS / IB Gateway and the book of figures it fills.

`LiveConnection` (live.py) owns the lifecycle: it opens an `ApiSession` per connect attempt, serves
it until the socket drops, and keeps the session's `Book` as the last known figures afterwards.
The session registers ib_async event handlers (positions msg 61, portfolio msg 7, account values
msg 6, account summary msg 63, errors msg 4) that write into the book under its lock, and runs the
requests: account updates per account, contract lookups, paced market data snapshots.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from foliosync.brokers.ibkr.live_models import (
    ContractInfo,
    ContractSpec,
    Quote,
    decimal_from_float,
    symbol_from_ibkr,
    symbol_to_ibkr,
)
from foliosync.brokers.ibkr.live_pacing import PacingPolicy, RequestPacer
from foliosync.brokers.ibkr.live_status import (
    CLIENT_ID_IN_USE,
    NO_SECURITY_DEFINITION,
    NO_SUBSCRIPTION,
    PeerClosedDuringHandshake,
)

log = logging.getLogger(__name__)

DELAYED_MARKET_DATA = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SessionSettings:
    host: str
    port: int
    client_id: int
    readonly: bool
    connect_timeout: float
    request_timeout: float
    refresh_interval: float | None
    pacing: PacingPolicy


@dataclass
class HoldingState:
    """Mutable per-(account, conId) state, written by the loop thread under the book's lock."""

    account: str
    contract: ContractSpec
    quantity: Decimal
    average_cost: Decimal | None
    market_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    marked_at: datetime | None = None


def merge_specs(base: ContractSpec, richer: ContractSpec) -> ContractSpec:
    """`richer`, with gaps filled from `base`: msg 61 names the exchange, msg 7 the primary exchange."""
    gaps = {
        name: getattr(base, name)
        for name in ("exchange", "primary_exchange", "local_symbol", "trading_class", "expiry")
        if not getattr(richer, name) and getattr(base, name)
    }
    return replace(richer, **gaps) if gaps else richer


class Book:
    """Everything one API session learned. Kept after the session ends, as the last known figures."""

    def __init__(self) -> None:
        # Written by the loop thread, read by callers' threads: every access holds this lock.
        self.lock = threading.RLock()
        self.accounts: tuple[str, ...] = ()
        self.holdings: dict[tuple[str, int], HoldingState] = {}
        self.summary: dict[tuple[str, str, str], str] = {}
        self.values: dict[tuple[str, str, str], str] = {}
        self.marks_refreshed_at: dict[str, datetime] = {}
        self.streaming_account: str | None = None
        self.frozen_at: datetime | None = None  # when data stopped flowing (drop or error 1100)


class ApiSession:
    """One ib_async `IB` connection and the event handlers that fill its `Book`."""

    def __init__(
        self,
        settings: SessionSettings,
        pacer: RequestPacer,
        on_notice: Callable[[ApiSession, int, str], None],
        on_market_data_type: Callable[[int], None],
    ) -> None:
        from ib_async import IB

        self.settings = settings
        self.pacer = pacer
        self.on_notice = on_notice
        self.on_market_data_type = on_market_data_type
        self.market_data_type = 1  # every API session starts on live market data
        self.ib = IB()
        self.ib.client.MaxRequests = settings.pacing.max_messages_per_second
        self.book = Book()
        self.disconnected = asyncio.Event()
        self.handshake_failed = asyncio.Event()
        self.api_error: str | None = None
        self.request_errors: dict[int, tuple[int, str]] = {}  # conId -> (code, message)
        self.background: set[asyncio.Task[None]] = set()
        # ib_async keys every reqAccountUpdates on one future ("accountValues"): one at a time.
        self.account_updates_lock = asyncio.Lock()
        self.ib.positionEvent += self._on_position
        self.ib.updatePortfolioEvent += self._on_portfolio
        self.ib.accountSummaryEvent += self._on_summary
        self.ib.accountValueEvent += self._on_account_value
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.client.apiError += self._on_api_error

    # -- event handlers (loop thread)

    def _on_position(self, position: Any) -> None:
        spec = ContractSpec.from_ib(position.contract)
        key = (position.account, spec.con_id)
        quantity = decimal_from_float(position.position)
        with self.book.lock:
            if quantity is None or quantity == 0:
                self.book.holdings.pop(key, None)
                return
            holding = self.book.holdings.get(key)
            if holding is None:
                self.book.holdings[key] = HoldingState(
                    position.account, spec, quantity, decimal_from_float(position.avgCost)
                )
            else:
                holding.contract = merge_specs(spec, holding.contract)
                holding.quantity = quantity
                holding.average_cost = decimal_from_float(position.avgCost)

    def _on_portfolio(self, item: Any) -> None:
        spec = ContractSpec.from_ib(item.contract)
        key = (item.account, spec.con_id)
        quantity = decimal_from_float(item.position)
        with self.book.lock:
            if quantity is None or quantity == 0:
                self.book.holdings.pop(key, None)
                return
            holding = self.book.holdings.get(key)
            if holding is None:
                holding = HoldingState(item.account, spec, quantity, decimal_from_float(item.averageCost))
                self.book.holdings[key] = holding
            else:
                holding.contract = merge_specs(holding.contract, spec)
            holding.quantity = quantity
            holding.average_cost = decimal_from_float(item.averageCost)
            holding.market_price = decimal_from_float(item.marketPrice)
            holding.market_value = decimal_from_float(item.marketValue)
            holding.unrealized_pnl = decimal_from_float(item.unrealizedPNL)
            holding.realized_pnl = decimal_from_float(item.realizedPNL)
            holding.marked_at = utcnow()

    def _on_summary(self, value: Any) -> None:
        with self.book.lock:
            self.book.summary[(value.account, value.tag, value.currency)] = value.value

    def _on_account_value(self, value: Any) -> None:
        if value.modelCode:
            return
        with self.book.lock:
            self.book.values[(value.account, value.tag, value.currency)] = value.value

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if contract is not None and contract.conId:
            self.request_errors[int(contract.conId)] = (code, message)
        if code == CLIENT_ID_IN_USE:
            self.api_error = message
        self.on_notice(self, code, message)

    def _on_disconnected(self) -> None:
        self.disconnected.set()

    def _on_api_error(self, message: str) -> None:
        # Keep the first message: cancelling the connect attempt adds "API connection failed: CancelledError".
        self.api_error = self.api_error or message
        self.handshake_failed.set()

    # -- lifecycle

    async def connect(self) -> None:
        from ib_async import StartupFetchNONE

        config = self.settings
        connecting = asyncio.ensure_future(
            self.ib.connectAsync(
                config.host,
                config.port,
                config.client_id,
                timeout=config.connect_timeout,
                readonly=config.readonly,
                fetchFields=StartupFetchNONE,
            )
        )
        failed = asyncio.ensure_future(self.handshake_failed.wait())
        try:
            await asyncio.wait({connecting, failed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            raise
        finally:
            failed.cancel()
        if connecting.done():
            connecting.result()
        else:
            # ib_async would sit out its whole timeout waiting for an API that will not start.
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            raise PeerClosedDuringHandshake(self.api_error or "peer closed the connection")
        self.api_error = None
        self.book.accounts = tuple(self.ib.managedAccounts())

    async def sync(self) -> None:
        """Fill the book: every account's portfolio marks, then the account summary."""
        await self.refresh_portfolios()
        await self._wait(self.ib.accountSummaryAsync())

    async def refresh_portfolios(self) -> None:
        """Subscribe to each account's updates in turn (TWS streams one account at a time): every
        account gets fresh marks, and the last one keeps streaming."""
        async with self.account_updates_lock:
            accounts = self.book.accounts
            if len(accounts) == 1 and self.book.streaming_account == accounts[0]:
                return  # its subscription streams every change already
            for account in accounts:
                await self._wait(self.ib.reqAccountUpdatesAsync(account))
                with self.book.lock:
                    self.book.marks_refreshed_at[account] = utcnow()
                    self.book.streaming_account = account

    async def resubscribe(self) -> None:
        """After 1101 (connectivity restored, data lost) TWS forgets the subscriptions: ask again."""
        try:
            await self._wait(self.ib.reqPositionsAsync())
            with self.book.lock:
                self.book.streaming_account = None
            await self.refresh_portfolios()
            await self._wait(self.ib.reqAccountSummaryAsync())
        except (OSError, TimeoutError) as exc:
            log.warning("Re-subscribing after TWS error 1101 failed: %s", exc)

    async def _wait(self, awaitable: Any) -> Any:
        return await asyncio.wait_for(awaitable, self.settings.request_timeout)

    async def serve(self, stop: asyncio.Event) -> None:
        """Wait until the socket drops or the service stops; rotate portfolio marks meanwhile."""
        interval = self.settings.refresh_interval
        while not (self.disconnected.is_set() or stop.is_set()):
            waiters = [asyncio.ensure_future(self.disconnected.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if interval and not (self.disconnected.is_set() or stop.is_set()) and len(self.book.accounts) > 1:
                try:
                    await self.refresh_portfolios()
                except (OSError, TimeoutError) as exc:
                    log.warning("Refreshing IBKR portfolio marks failed: %s", exc)

    def close(self) -> None:
        self.ib.disconnect()
        # ib_async leaves the socket open when it rejects the server during the handshake.
        self.ib.client.conn.disconnect()  # type: ignore[no-untyped-call]

    # -- requests (loop thread)

    async def contract_details(self, contract: Any) -> list[ContractInfo]:
        await self.pacer.acquire()
        details = await self._wait(self.ib.reqContractDetailsAsync(contract))
        return [ContractInfo.from_ib(d) for d in details]

    async def resolve(self, symbols: Sequence[str], currency: str) -> dict[str, ContractSpec | str]:
        """Symbol -> contract (held stocks by their conId, others looked up), or an error text."""
        from ib_async import Stock

        with self.book.lock:
            held = {
                symbol_from_ibkr(h.contract.symbol): h.contract
                for h in self.book.holdings.values()
                if h.contract.sec_type == "STK" and h.contract.currency == currency
            }
        resolved: dict[str, ContractSpec | str] = {}

        async def lookup(symbol: str) -> None:
            if symbol in held:
                resolved[symbol] = held[symbol]
                return
            try:
                found = await self.contract_details(Stock(symbol_to_ibkr(symbol), "SMART", currency))
            except TimeoutError:
                resolved[symbol] = f"Looking up {symbol} timed out."
                return
            if not found:
                resolved[symbol] = (
                    f"IBKR has no {currency} stock or ETF {symbol} (error {NO_SECURITY_DEFINITION})."
                )
            else:
                resolved[symbol] = found[0].contract

        await asyncio.gather(*(lookup(s) for s in dict.fromkeys(symbols)))
        return resolved

    async def quotes(self, wanted: Sequence[tuple[str, ContractSpec]]) -> list[Quote]:
        started = utcnow()
        contracts = {spec.con_id: spec.to_ib() for _symbol, spec in wanted}
        for con_id in contracts:
            self.request_errors.pop(con_id, None)
        tickers = await self._snapshots(list(contracts.values()))
        unsubscribed = [
            c for c in contracts.values() if self.request_errors.get(c.conId, (0, ""))[0] in NO_SUBSCRIPTION
        ]
        if unsubscribed:
            # Type 3 = delayed where there is no subscription, live where there is (D.6).
            if self.market_data_type != DELAYED_MARKET_DATA:
                self.ib.reqMarketDataType(DELAYED_MARKET_DATA)
                self.market_data_type = DELAYED_MARKET_DATA
                self.on_market_data_type(DELAYED_MARKET_DATA)
            for contract in unsubscribed:
                self.request_errors.pop(contract.conId, None)
            tickers.update(await self._snapshots(unsubscribed))
        quotes = []
        for symbol, spec in wanted:
            ticker = tickers.get(spec.con_id)
            error = self.request_errors.get(spec.con_id)
            # A Ticker is reused across requests (ib_async caches it per contract): only data that
            # arrived during this request counts.
            fresh = ticker is not None and ticker.time is not None and ticker.time >= started
            if ticker is None or (error and error[0] not in NO_SUBSCRIPTION and not fresh):
                text = f"IBKR error {error[0]}: {error[1]}" if error else "No market data received in time."
                quotes.append(Quote.failed(symbol, text, spec))
            else:
                quotes.append(Quote.from_ticker(symbol, spec, ticker))
        return quotes

    async def _snapshots(self, contracts: list[Any]) -> dict[int, Any]:
        """Snapshot tickers by conId: at most N lines open, each request through the pacer."""
        lines = asyncio.Semaphore(self.settings.pacing.max_concurrent_market_data)
        pacer = self.pacer

        async def one(contract: Any) -> tuple[int, Any]:
            async with lines:
                await pacer.acquire()
                try:
                    tickers = await self._wait(self.ib.reqTickersAsync(contract))
                except TimeoutError:
                    return contract.conId, None
                return contract.conId, tickers[0] if tickers else None

        results = await asyncio.gather(*(one(c) for c in contracts))
        return {con_id: ticker for con_id, ticker in results if ticker is not None}
