"""The live overlay: a long-running connection to TWS / IB Gateway through ib_async.

`LiveConnection` owns one background thread running an asyncio loop with one ib_async `IB`
session at a time. Callers (API handlers in the thread pool, the CLI, the sync runner) use its
blocking, thread-safe methods; none of them needs an event loop of its own.

* It connects read-only by default (`IBKR_TWS_READONLY`), with `StartupFetchNONE` so that only
  `startApi` and `reqPositions` go out at connect time (shared/docs/ibkr.md D.3).
* A gateway that is not running, a wrong port, a duplicate client id or a dropped socket never
  raises into callers: `status()` says what happened and what to do, and the service reconnects
  with exponential backoff. Error 1100 (TWS lost IBKR) marks the connection DEGRADED until 1101/1102.
* Positions stream for every managed account (msg 61). Portfolio marks (msg 7) stream for one
  account at a time (a TWS rule), so with several accounts the subscription rotates on refresh and
  each mark carries the time it was current. The account summary (msg 63) covers all accounts.
* Quotes are market data snapshots paced below IBKR's 50 messages/s; a line without a market data
  subscription (error 354) is asked again as delayed data (market data type 3) and labelled delayed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from foliosync.brokers.ibkr.live_models import (
    AccountValueRow,
    ContractInfo,
    ContractSpec,
    LivePosition,
    Quote,
    symbol_from_ibkr,
    symbol_to_ibkr,
)
from foliosync.brokers.ibkr.live_pacing import PacingPolicy, RequestPacer
from foliosync.brokers.ibkr.live_records import build_batch
from foliosync.brokers.ibkr.live_session import ApiSession, Book, SessionSettings, utcnow
from foliosync.brokers.ibkr.live_status import (
    CONNECTIVITY_LOST,
    CONNECTIVITY_LOST_MESSAGE,
    CONNECTIVITY_RESTORED,
    CONNECTIVITY_RESTORED_DATA_LOST,
    FARM_BROKEN,
    FARM_OK,
    Backoff,
    LiveState,
    LiveStatus,
    LiveUnavailable,
    PeerClosedDuringHandshake,
    describe_connect_failure,
)
from foliosync.config import Settings, get_settings
from foliosync.ledger.records import Batch

__all__ = [
    "AccountValueRow",
    "Backoff",
    "ContractInfo",
    "ContractSpec",
    "LiveConnection",
    "LivePosition",
    "LiveState",
    "LiveStatus",
    "LiveUnavailable",
    "PacingPolicy",
    "Quote",
    "ensure_live_connection",
    "snapshot_batch",
    "stop_live_connection",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_QUOTE_SYMBOLS = 100


class LiveConnection:
    """A reconnecting, read-only-by-default TWS / IB Gateway connection. Thread-safe."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: int,
        *,
        readonly: bool = True,
        connect_timeout: float = 4.0,
        request_timeout: float = 10.0,
        backoff: Backoff | None = None,
        pacing: PacingPolicy | None = None,
        refresh_interval: float | None = 180.0,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.client_id = int(client_id)
        self.readonly = readonly
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.backoff = backoff or Backoff()
        self.pacing = pacing or PacingPolicy()
        # TWS re-sends account updates about every 3 minutes; rotate marks of several accounts as often.
        self.refresh_interval = refresh_interval
        self._lock = threading.RLock()
        self._status_changed = threading.Condition(self._lock)
        self._status = LiveStatus(
            state=LiveState.STOPPED,
            message="The live TWS/IB Gateway connection is not started.",
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            readonly=readonly,
            since=utcnow(),
        )
        self._book = Book()
        self._session: ApiSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._market_data_pacer: RequestPacer | None = None
        self._farm_warnings: dict[str, str] = {}
        self._main_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> LiveConnection:
        settings = settings or get_settings()
        return cls(
            settings.ibkr_tws_host,
            settings.ibkr_tws_port,
            settings.ibkr_tws_client_id,
            readonly=settings.ibkr_tws_readonly,
            **options,
        )

    def __repr__(self) -> str:
        return f"<LiveConnection {self.host}:{self.port} client {self.client_id} {self._status.state}>"

    # ------------------------------------------------------------------ lifecycle (any thread)

    def start(self) -> LiveConnection:
        """Start connecting in the background (returns at once; see `status()` / `wait_for_state()`)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            self._loop = loop
            self._market_data_pacer = None  # its asyncio.Lock belongs to one loop

            def run() -> None:
                asyncio.set_event_loop(loop)
                self._stop = asyncio.Event()
                ready.set()
                try:
                    self._main_task = loop.create_task(self._run())
                    loop.run_until_complete(self._main_task)
                except asyncio.CancelledError:
                    pass
                finally:
                    # As asyncio.run does: let every leftover task see its cancellation before closing.
                    leftovers = asyncio.all_tasks(loop)
                    for task in leftovers:
                        task.cancel()
                    loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()

            self._thread = threading.Thread(target=run, name=f"ibkr-live-{self.port}", daemon=True)
            self._thread.start()
        ready.wait()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        if thread.is_alive():
            loop.call_soon_threadsafe(self._request_stop)
            thread.join(timeout)
        self._thread = None

    def __enter__(self) -> LiveConnection:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def status(self) -> LiveStatus:
        with self._lock:
            return self._status

    def wait_for_state(self, *states: LiveState, timeout: float) -> LiveStatus:
        """Block until the state is one of `states` (or `timeout` passes); return the status then."""
        wanted = set(states)
        with self._status_changed:
            self._status_changed.wait_for(lambda: self._status.state in wanted, timeout)
            return self._status

    def wait_connected(self, timeout: float) -> LiveStatus:
        return self.wait_for_state(LiveState.CONNECTED, LiveState.DEGRADED, timeout=timeout)

    # ------------------------------------------------------------------ data (any thread)

    def managed_accounts(self) -> list[str]:
        book = self._book
        with book.lock:
            return list(book.accounts)

    def data_as_of(self) -> datetime:
        """Now while data streams; else when it stopped (socket dropped, or error 1100)."""
        book = self._book
        with book.lock:
            return book.frozen_at or utcnow()

    def positions(self, accounts: Collection[str] | None = None) -> list[LivePosition]:
        """Positions of the managed accounts (or of `accounts`), the last known ones when offline."""
        book = self._book  # the current session's book, or the last one's figures when offline
        with book.lock:
            live_until = book.frozen_at or utcnow()
            result = []
            for holding in book.holdings.values():
                if accounts is not None and holding.account not in accounts:
                    continue
                as_of = live_until
                if holding.account != book.streaming_account or holding.marked_at is None:
                    refreshed = book.marks_refreshed_at.get(holding.account)
                    as_of = min(live_until, refreshed) if refreshed else live_until
                result.append(
                    LivePosition(
                        account=holding.account,
                        contract=holding.contract,
                        quantity=holding.quantity,
                        average_cost=holding.average_cost,
                        market_price=holding.market_price,
                        market_value=holding.market_value,
                        unrealized_pnl=holding.unrealized_pnl,
                        realized_pnl=holding.realized_pnl,
                        as_of=as_of,
                        marked=holding.marked_at is not None,
                    )
                )
        return sorted(result, key=lambda p: (p.account, p.contract.display_symbol, p.contract.con_id))

    def account_summary(self, accounts: Collection[str] | None = None) -> list[AccountValueRow]:
        """Account summary values (net liquidation, cash, buying power, margin, `$LEDGER` rows)."""
        book = self._book
        with book.lock:
            rows = [AccountValueRow(a, tag, value, ccy) for (a, tag, ccy), value in book.summary.items()]
        return [r for r in rows if accounts is None or r.account in accounts]

    def account_values(self, accounts: Collection[str] | None = None) -> list[AccountValueRow]:
        """Account values from the portfolio subscription (msg 6), per account and currency."""
        book = self._book
        with book.lock:
            rows = [AccountValueRow(a, tag, value, ccy) for (a, tag, ccy), value in book.values.items()]
        return [r for r in rows if accounts is None or r.account in accounts]

    def held_contracts(self, accounts: Collection[str] | None = None) -> list[ContractSpec]:
        unique = {p.contract.con_id: p.contract for p in self.positions(accounts)}
        return list(unique.values())

    # ------------------------------------------------------------------ requests (any thread, blocking)

    def refresh(self, timeout: float | None = None) -> None:
        """Re-read every account's portfolio marks now (the summary streams on its own)."""
        self._submit(lambda session: session.refresh_portfolios(), timeout)

    def contract_details(
        self, symbol: str, *, sec_type: str = "STK", currency: str = "USD", exchange: str = "SMART"
    ) -> list[ContractInfo]:
        from ib_async import Contract

        contract = Contract(
            symbol=symbol_to_ibkr(symbol), secType=sec_type, currency=currency, exchange=exchange
        )
        return self._submit(lambda session: session.contract_details(contract))

    def quotes(
        self, symbols: Sequence[str], *, currency: str = "USD", timeout: float | None = None
    ) -> list[Quote]:
        """Intraday snapshots in the order asked; delayed where there is no subscription."""
        cleaned = [symbol_from_ibkr(s) for s in symbols if s.strip()]
        if len(cleaned) > MAX_QUOTE_SYMBOLS:
            raise ValueError(f"at most {MAX_QUOTE_SYMBOLS} symbols per quote request")

        async def fetch(session: ApiSession) -> list[Quote]:
            resolved = await session.resolve(cleaned, currency)
            wanted = [(s, spec) for s, spec in resolved.items() if isinstance(spec, ContractSpec)]
            by_symbol = {q.symbol: q for q in await session.quotes(wanted)}
            return [
                by_symbol.get(s) or Quote.failed(s, str(resolved.get(s, "Unknown symbol."))) for s in cleaned
            ]

        return self._submit(fetch, timeout)

    def held_quotes(
        self, accounts: Collection[str] | None = None, *, timeout: float | None = None
    ) -> list[Quote]:
        """Intraday prices for the instruments held in `accounts` (options by their OCC symbol)."""
        wanted = [(spec.display_symbol, spec) for spec in self.held_contracts(accounts)]
        return self._submit(lambda session: session.quotes(wanted), timeout)

    def _submit(
        self, work: Callable[[ApiSession], Coroutine[Any, Any, T]], timeout: float | None = None
    ) -> T:
        loop, session = self._loop, self._session
        if loop is None or session is None or not self.status().connected:
            raise LiveUnavailable(
                self.status().message, hint="Check `foliosync live --once` or GET /api/v1/live/status."
            )
        if threading.current_thread() is self._thread:
            raise RuntimeError("LiveConnection's blocking methods cannot run on its own loop thread")
        future = asyncio.run_coroutine_threadsafe(work(session), loop)
        wait = timeout if timeout is not None else self.request_timeout * 3
        try:
            return future.result(wait)
        except TimeoutError:
            future.cancel()
            raise LiveUnavailable(
                f"TWS/IB Gateway at {self.host}:{self.port} did not answer within {wait:g} s.",
                hint="It may be busy or pacing requests; try again shortly.",
            ) from None
        except ConnectionError as exc:
            raise LiveUnavailable(
                f"The connection to TWS/IB Gateway at {self._where()} dropped during the request ({exc}).",
                hint="It reconnects by itself; try again shortly.",
            ) from None

    # ------------------------------------------------------------------ loop thread

    def _session_settings(self) -> SessionSettings:
        return SessionSettings(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            readonly=self.readonly,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            refresh_interval=self.refresh_interval,
            pacing=self.pacing,
        )

    def _pacer(self) -> RequestPacer:
        if self._market_data_pacer is None:
            self._market_data_pacer = RequestPacer(self.pacing.market_data_requests_per_second)
        return self._market_data_pacer

    def _set_status(self, **changes: Any) -> None:
        with self._status_changed:
            current = self._status
            if "state" in changes and changes["state"] != current.state:
                changes.setdefault("since", utcnow())
            if "state" in changes and changes["state"] is not LiveState.DISCONNECTED:
                changes.setdefault("next_retry_at", None)
            changes.setdefault("warnings", tuple(self._farm_warnings.values()))
            self._status = replace(current, **changes)
            self._status_changed.notify_all()

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connected_message(self, session: ApiSession, suffix: str = "") -> str:
        accounts = ", ".join(session.book.accounts)
        return (
            f"Connected to TWS/IB Gateway at {self._where()} "
            f"(server version {session.ib.client.serverVersion()}, "
            f"{'read-only' if self.readonly else 'read-write'}); accounts: {accounts}.{suffix}"
        )

    def _on_tws_notice(self, session: ApiSession, code: int, message: str) -> None:
        """TWS status codes that change what the status says (shared/docs/ibkr.md D.6)."""
        if code in FARM_BROKEN or code in FARM_OK:  # also during the handshake, when TWS sends them
            farm = message.rpartition(":")[2] or str(code)
            if code in FARM_BROKEN:
                self._farm_warnings[farm] = f"{message} (TWS error {code})"
            else:
                self._farm_warnings.pop(farm, None)
            self._set_status()
            return
        if session is not self._session:
            return
        if code == CONNECTIVITY_LOST:
            with session.book.lock:
                session.book.frozen_at = session.book.frozen_at or utcnow()
            self._set_status(
                state=LiveState.DEGRADED, message=CONNECTIVITY_LOST_MESSAGE, last_error=f"{code}: {message}"
            )
        elif code in (CONNECTIVITY_RESTORED, CONNECTIVITY_RESTORED_DATA_LOST):
            with session.book.lock:
                session.book.frozen_at = None
            suffix = " Connectivity to IBKR was restored."
            self._set_status(state=LiveState.CONNECTED, message=self._connected_message(session, suffix))
            if code == CONNECTIVITY_RESTORED_DATA_LOST:
                task = asyncio.ensure_future(session.resubscribe())
                session.background.add(task)
                task.add_done_callback(session.background.discard)

    def _on_market_data_type(self, data_type: int) -> None:
        self._set_status(market_data_type=data_type)

    def _request_stop(self) -> None:
        assert self._stop is not None
        self._stop.set()
        if self._status.state is LiveState.CONNECTING and self._main_task is not None:
            self._main_task.cancel()  # do not sit out a connect timeout on shutdown

    async def _pause(self, seconds: float) -> None:
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        """Connect, serve until the socket drops, back off, repeat; until `stop()`."""
        assert self._stop is not None
        stop = self._stop
        failures = 0
        session: ApiSession | None = None
        try:
            while not stop.is_set():
                session = await self._open_session(failures)
                if session is None:
                    failures += 1
                    await self._pause(self.backoff.delay(failures))
                    continue
                failures = 0
                await session.serve(stop)
                self._close_session(session)
                if stop.is_set():
                    break
                failures = 1
                delay = self.backoff.delay(failures)
                reason = f" ({session.api_error})" if session.api_error else ""
                message = f"The connection to TWS/IB Gateway at {self._where()} was lost{reason}."
                log.warning("IBKR live: %s", message)
                self._set_status(
                    state=LiveState.DISCONNECTED,
                    message=f"{message} Reconnecting in {delay:g} s.",
                    failed_attempts=failures,
                    next_retry_at=utcnow() + timedelta(seconds=delay),
                    last_error=message,
                )
                await self._pause(delay)
        finally:
            if session is not None:
                self._close_session(session)
            self._set_status(
                state=LiveState.STOPPED, message="The live TWS/IB Gateway connection is stopped."
            )

    async def _open_session(self, failures: int) -> ApiSession | None:
        """One connect attempt; on failure publish why (and when the next try is) and return None."""
        self._set_status(
            state=LiveState.CONNECTING,
            message=f"Connecting to TWS/IB Gateway at {self._where()} (client id {self.client_id}).",
            failed_attempts=failures,
        )
        session = ApiSession(
            self._session_settings(), self._pacer(), self._on_tws_notice, self._on_market_data_type
        )
        try:
            await session.connect()
            await session.sync()
        except asyncio.CancelledError:
            session.close()
            raise
        except (OSError, TimeoutError, PeerClosedDuringHandshake) as exc:
            message = describe_connect_failure(
                exc,
                host=self.host,
                port=self.port,
                client_id=self.client_id,
                timeout=self.connect_timeout,
                api_error=session.api_error if isinstance(exc, PeerClosedDuringHandshake) else None,
            )
        except Exception as exc:  # the service must outlive any library surprise (logged in full)
            log.exception("IBKR live: unexpected error while connecting")
            message = (
                f"Connecting to TWS/IB Gateway at {self._where()} failed unexpectedly "
                f"({type(exc).__name__}); see the log."
            )
        else:
            with self._lock:
                self._session = session
                self._book = session.book
            self._set_status(
                state=LiveState.CONNECTED,
                message=self._connected_message(session),
                managed_accounts=session.book.accounts,
                server_version=session.ib.client.serverVersion(),
                failed_attempts=0,
                last_error=None,
                market_data_type=1,  # every API session starts on live market data
            )
            return session
        session.close()
        delay = self.backoff.delay(failures + 1)
        log.warning("IBKR live: %s", message)
        self._set_status(
            state=LiveState.DISCONNECTED,
            message=f"{message} Retrying in {delay:g} s.",
            failed_attempts=failures + 1,
            next_retry_at=utcnow() + timedelta(seconds=delay),
            last_error=message,
        )
        return None

    def _close_session(self, session: ApiSession) -> None:
        with self._lock:
            if self._session is session:
                self._session = None
        with session.book.lock:
            session.book.frozen_at = session.book.frozen_at or utcnow()
        session.close()


# ---------------------------------------------------------------------- helpers for the app and the sync


def snapshot_batch(
    connection: LiveConnection, *, accounts: Collection[str] | None = None, refresh: bool = True
) -> Batch:
    """The live positions and balances of `accounts` (default: every managed account) as a
    `Batch(broker=IBKR, source=LIVE)` for `write_batch`. Offline, the last known figures are used
    with a warning; with nothing known at all it raises `LiveUnavailable`."""
    status = connection.status()
    warnings: list[str] = []
    if refresh and status.connected:
        try:
            connection.refresh()
        except LiveUnavailable as exc:
            warnings.append(f"Portfolio marks could not be refreshed: {exc.message}")
    known = connection.managed_accounts()
    wanted = [a for a in known if accounts is None or a in accounts]
    positions = connection.positions(wanted)
    rows = connection.account_summary(wanted)
    summarized = {r.account for r in rows}
    rows += [r for r in connection.account_values(wanted) if r.account not in summarized]
    if not wanted or (not status.connected and not positions and not rows):
        raise LiveUnavailable(status.message, hint="Start TWS or IB Gateway, then try again.")
    as_of = connection.data_as_of()
    if not status.connected:
        warnings.append(
            f"TWS/IB Gateway is {status.state}: these are the last figures received "
            f"({as_of:%Y-%m-%d %H:%M} UTC)."
        )
    if status.state is LiveState.DEGRADED:
        warnings.append(status.message)
    return build_batch(wanted, positions, rows, as_of=as_of, warnings=warnings)


_app_lock = threading.Lock()


def ensure_live_connection(app: Any, settings: Settings | None = None) -> LiveConnection:
    """The app's live connection (`app.state.live`), created from settings and started on first use."""
    with _app_lock:
        connection = getattr(app.state, "live", None)
        if connection is None:
            settings = settings or getattr(app.state, "settings", None) or get_settings()
            connection = LiveConnection.from_settings(settings).start()
            app.state.live = connection
            engine = getattr(app.state, "engine", None)
            if engine is not None:
                # While the gateway is up, keep a live snapshot in the ledger for the overlay.
                from foliosync.brokers.ibkr.live_store import SnapshotRefresher

                app.state.live_refresher = SnapshotRefresher(engine, connection).start()
    return connection


def stop_live_connection(app: Any) -> None:
    """For the app's shutdown: stop the connection if one was started."""
    refresher = getattr(app.state, "live_refresher", None)
    if refresher is not None:
        refresher.stop()
    connection = getattr(app.state, "live", None)
    if isinstance(connection, LiveConnection):
        connection.stop()
