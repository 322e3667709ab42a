"""Optional, read-only Robinhood sync through the unofficial `robin-stocks` package (brokers.md D.1).

Off unless the operator sets FEATURE_ROBINHOOD_API=true and installs the extra
(`pip install 'foliosync[robinhood]'`). robin-stocks keeps ONE login per process in module
globals (`SESSION`, `LOGGED_IN`), so two users syncing in one worker would see each other's
session. Every sync therefore runs in a fresh child process ('spawn' start method, nothing
inherited): it logs in, fetches, logs out and sends back plain dicts, then exits. No token is
pickled to disk (`store_session=False`), and no credential appears in an error message.
"""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from foliosync.brokers.base import BrokerAuthError, BrokerDataError, BrokerError, BrokerUnavailable
from foliosync.config import Settings
from foliosync.ledger.records import AccountInfo, Batch, CashRecord, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, CashKind, RecordStatus, SourceFormat

MODULE = "robin_stocks.robinhood"
ENABLE_HINT = (
    "Robinhood's API is unofficial and off by default. To use it, install the extra "
    "(pip install 'foliosync[robinhood]') and set FEATURE_ROBINHOOD_API=true; "
    "otherwise import the Account activity CSV instead."
)
DEFAULT_TIMEOUT = 180.0
DIVIDEND_STATES = {
    "paid": RecordStatus.POSTED,
    "reinvested": RecordStatus.POSTED,
    "voided": RecordStatus.CANCELLED,
}


class RobinhoodApiDisabled(BrokerError):
    code = "robinhood_api_disabled"
    status_code = 501


def ensure_available(settings: Settings) -> None:
    """Refuse clearly when the feature flag is off or robin-stocks is not installed."""
    if not settings.feature_robinhood_api:
        raise RobinhoodApiDisabled("The Robinhood API sync is turned off.", hint=ENABLE_HINT)
    if importlib.util.find_spec("robin_stocks") is None:
        raise RobinhoodApiDisabled("The robin-stocks package is not installed.", hint=ENABLE_HINT)


def _fetch_in_child(conn: Connection, credentials: dict[str, str]) -> None:
    """Runs in the child process: log in, read, log out, send plain dicts (or an error kind)."""
    try:
        rh: Any = importlib.import_module(MODULE)
        rh.login(
            credentials["username"],
            credentials["password"],
            mfa_code=credentials.get("mfa") or None,
            store_session=False,
        )
        try:
            profile = rh.profiles.load_account_profile() or {}
            positions = []
            for item in rh.account.get_open_stock_positions() or []:
                symbol = rh.stocks.get_symbol_by_url(item.get("instrument", ""))
                positions.append({**item, "symbol": symbol})
            dividends = []
            for item in rh.account.get_dividends() or []:
                symbol = rh.stocks.get_symbol_by_url(item.get("instrument", ""))
                dividends.append({**item, "symbol": symbol})
            conn.send({"ok": True, "profile": profile, "positions": positions, "dividends": dividends})
        finally:
            rh.logout()
    except Exception as exc:  # noqa: BLE001 - reported to the parent by kind only, never with secrets
        auth = "login" in type(exc).__name__.lower() or "auth" in str(exc).lower()
        conn.send({"ok": False, "kind": "auth" if auth else "unavailable", "type": type(exc).__name__})
    finally:
        conn.close()


def fetch_isolated(credentials: Mapping[str, str], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """One login, one read, in its own process; returns the child's plain dicts."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    wanted = {k: str(credentials[k]) for k in ("username", "password", "mfa") if credentials.get(k)}
    process = context.Process(target=_fetch_in_child, args=(child, wanted), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise BrokerUnavailable("Robinhood did not answer in time.", hint="Try again later.")
        reply: dict[str, Any] = parent.recv()
    except EOFError:
        raise BrokerUnavailable("The Robinhood sync process ended without an answer.") from None
    finally:
        parent.close()
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
    if not reply.get("ok"):
        if reply.get("kind") == "auth":
            raise BrokerAuthError(
                "Robinhood refused the login.",
                hint="Check the username, password and MFA code, then reconnect.",
            )
        raise BrokerUnavailable(f"Robinhood sync failed ({reply.get('type', 'unknown error')}).")
    return reply


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise BrokerDataError(f"Robinhood sent {value!r} where a number was expected.") from None


def to_batch(reply: Mapping[str, Any], *, now: datetime | None = None) -> Batch:
    """The child's dicts as a canonical Batch: the account, its stock positions, its dividends."""
    now = now or datetime.now(UTC)
    number = str(reply.get("profile", {}).get("account_number") or "")
    if not number:
        raise BrokerDataError("Robinhood's account profile has no account number.")
    batch = Batch(broker=Broker.ROBINHOOD, source=SourceFormat.API, sections={"positions", "dividends"})
    batch.accounts.append(AccountInfo(external_account_id=number))
    for item in reply.get("positions", []):
        quantity = _decimal(item.get("quantity"))
        average = _decimal(item.get("average_buy_price"))
        if not item.get("symbol") or quantity is None:
            continue
        batch.positions.append(
            PositionRecord(
                account=number,
                instrument=InstrumentRef(AssetCategory.STK, str(item["symbol"]).upper()),
                as_of_date=now.date(),
                as_of=now,
                quantity=quantity,
                currency="USD",
                cost_basis=None if average is None else average * quantity,
            )
        )
    for item in reply.get("dividends", []):
        amount = _decimal(item.get("amount"))
        if amount is None or not item.get("id"):
            continue
        paid = item.get("payable_date") or str(item.get("paid_at") or "")[:10]
        state = str(item.get("state", ""))
        batch.cash.append(
            CashRecord(
                account=number,
                natural_key=str(item["id"]),
                kind=CashKind.DIVIDEND,
                amount=amount,
                currency="USD",
                posted_date=date.fromisoformat(paid),
                instrument=InstrumentRef(AssetCategory.STK, str(item["symbol"]).upper())
                if item.get("symbol")
                else None,
                status=DIVIDEND_STATES.get(state, RecordStatus.PENDING),
                raw_type="dividend",
                raw_subtype=state or None,
            )
        )
    return batch
