"""Schwab order entry: preview, place and cancel equity and option orders (single leg).

Off unless both hold: the operator turned on `FEATURE_SCHWAB_TRADING`, and the user linked the
account with `trading: true` (stored as `details["trading"]` by the link callback). Otherwise
every call raises PermissionDenied (403) saying which of the two is missing.

Orders are Schwab's JSON order objects (the shape schwab-py's order builders produce):
`{session, duration, orderType, price?, stopPrice?, orderStrategyType: SINGLE,
orderLegCollection: [{instruction, quantity, instrument: {symbol, assetType}}]}`. Options use the
21-character OCC symbol (taxonomy.md §5.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from foliosync.brokers.schwab.client import SchwabTraderClient
from foliosync.brokers.schwab.oauth import HTTP_TIMEOUT, SchwabOAuthClient, SchwabOAuthConfig
from foliosync.brokers.schwab.tokens import SchwabTokenManager
from foliosync.config import Settings
from foliosync.db.types import canonical_decimal
from foliosync.errors import PermissionDenied, ValidationFailed
from foliosync.ledger.instruments import canonical_symbol, occ_symbol, parse_occ_symbol
from foliosync.models import BrokerAccount
from foliosync.vault import vault_from_settings

EQUITY_INSTRUCTIONS = frozenset({"BUY", "SELL", "SELL_SHORT", "BUY_TO_COVER"})
OPTION_INSTRUCTIONS = frozenset({"BUY_TO_OPEN", "SELL_TO_OPEN", "BUY_TO_CLOSE", "SELL_TO_CLOSE"})


class OrderRequest(BaseModel):
    """One equity or option order, as the API accepts it."""

    asset_type: Literal["EQUITY", "OPTION"] = "EQUITY"
    symbol: str = Field(min_length=1, max_length=32)
    instruction: Literal[
        "BUY",
        "SELL",
        "SELL_SHORT",
        "BUY_TO_COVER",
        "BUY_TO_OPEN",
        "SELL_TO_OPEN",
        "BUY_TO_CLOSE",
        "SELL_TO_CLOSE",
    ]
    quantity: Decimal = Field(gt=0)
    order_type: Literal["MARKET", "LIMIT", "STOP", "STOP_LIMIT"] = "LIMIT"
    price: Decimal | None = Field(default=None, gt=0)
    stop_price: Decimal | None = Field(default=None, gt=0)
    duration: Literal["DAY", "GOOD_TILL_CANCEL", "FILL_OR_KILL"] = "DAY"
    session: Literal["NORMAL", "AM", "PM", "SEAMLESS"] = "NORMAL"


def ensure_trading_allowed(settings: Settings, account: BrokerAccount) -> str:
    """The account's Schwab hash when trading is allowed; PermissionDenied saying why not."""
    if not settings.feature_schwab_trading:
        raise PermissionDenied(
            "Trading through Schwab is turned off on this server.",
            hint="An administrator can turn it on with FEATURE_SCHWAB_TRADING=true; foliosync only reads accounts until then.",
        )
    if account.broker != "schwab":
        raise PermissionDenied(
            f"Orders can only be sent to Schwab accounts; this is a {account.broker} account."
        )
    details = account.details or {}
    if details.get("trading") is not True:
        raise PermissionDenied(
            "This Schwab account was linked read-only, so foliosync may not send orders for it.",
            hint=f'Re-link it with trading allowed: POST /api/v1/aggregator/schwab/link {{"account_id": {account.id}, "trading": true}}.',
        )
    hash_value = details.get("account_hash")
    if not isinstance(hash_value, str) or not hash_value:
        raise PermissionDenied("This Schwab account has not finished linking.", hint="Link it first.")
    return hash_value


def schwab_order(order: OrderRequest) -> dict[str, Any]:
    """Validate an order and build Schwab's JSON for it; ValidationFailed (422) says what is wrong."""
    if order.quantity != order.quantity.to_integral_value():
        raise ValidationFailed("Schwab's API takes whole shares and contracts only.")
    allowed = EQUITY_INSTRUCTIONS if order.asset_type == "EQUITY" else OPTION_INSTRUCTIONS
    if order.instruction not in allowed:
        raise ValidationFailed(
            f"{order.instruction} is not an {order.asset_type.lower()} instruction.",
            hint=f"Use one of {', '.join(sorted(allowed))}.",
        )
    if order.asset_type == "OPTION":
        parsed = parse_occ_symbol(order.symbol)
        if parsed is None:
            raise ValidationFailed(
                f"{order.symbol!r} is not an OCC option symbol.", hint="Example: 'SPY   250117P00450000'."
            )
        symbol = occ_symbol(*parsed)
    else:
        symbol = canonical_symbol(order.symbol)
    needs_price = order.order_type in ("LIMIT", "STOP_LIMIT")
    needs_stop = order.order_type in ("STOP", "STOP_LIMIT")
    if needs_price != (order.price is not None):
        raise ValidationFailed(
            f"A {order.order_type} order {'needs' if needs_price else 'takes no'} price.",
        )
    if needs_stop != (order.stop_price is not None):
        raise ValidationFailed(
            f"A {order.order_type} order {'needs' if needs_stop else 'takes no'} stop_price.",
        )
    body: dict[str, Any] = {
        "session": order.session,
        "duration": order.duration,
        "orderType": order.order_type,
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": order.instruction,
                "quantity": int(order.quantity),
                "instrument": {"symbol": symbol, "assetType": order.asset_type},
            }
        ],
    }
    if order.price is not None:
        body["price"] = canonical_decimal(order.price)
    if order.stop_price is not None:
        body["stopPrice"] = canonical_decimal(order.stop_price)
    return body


class SchwabTrading:
    def __init__(self, settings: Settings, client: SchwabTraderClient) -> None:
        self._settings = settings
        self._client = client

    def preview(self, account: BrokerAccount, order: OrderRequest) -> dict[str, Any]:
        hash_value = ensure_trading_allowed(self._settings, account)
        return self._client.preview_order(hash_value, schwab_order(order))

    def place(self, account: BrokerAccount, order: OrderRequest) -> str:
        hash_value = ensure_trading_allowed(self._settings, account)
        return self._client.place_order(hash_value, schwab_order(order))

    def cancel(self, account: BrokerAccount, order_id: str) -> None:
        hash_value = ensure_trading_allowed(self._settings, account)
        if not order_id.isdigit():
            raise ValidationFailed("A Schwab order id is a number.")
        self._client.cancel_order(hash_value, order_id)


@contextmanager
def trading_for(
    settings: Settings,
    engine: Engine,
    account: BrokerAccount,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[SchwabTrading]:
    """A SchwabTrading on the account's stored tokens, refreshed under the credential lock.
    The permission check runs first, so a refused call never decrypts a token."""
    ensure_trading_allowed(settings, account)
    oauth = SchwabOAuthClient(SchwabOAuthConfig.from_settings(settings), http)
    manager = SchwabTokenManager(engine, vault_from_settings(settings), oauth)
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    if http is not None:
        yield SchwabTrading(
            settings, SchwabTraderClient(http, settings.schwab_api_url, manager.source(account.id), **extra)
        )
        return
    with httpx.Client(timeout=HTTP_TIMEOUT) as own:
        yield SchwabTrading(
            settings, SchwabTraderClient(own, settings.schwab_api_url, manager.source(account.id), **extra)
        )
