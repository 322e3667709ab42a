"""Value types of the live overlay, and their conversion from what ib_async hands over.

ib_async decodes positions, portfolio marks and tick prices as Python floats (decoder.py). The
wire text has at most ~10 significant digits, and `repr()` of a float gives back the shortest text
that round-trips, so `Decimal(repr(x))` recovers the value TWS sent exactly. Account values and
account summary values arrive as strings and are kept as the exact text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from foliosync.ledger.instruments import canonical_symbol
from foliosync.ledger.records import InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory

ONE = Decimal(1)
# ib_async's "unset" double (sys.float_info.max) and IBKR's -1 "no quote" price.
_UNSET_LIMIT = 1e300
NO_QUOTE = -1.0
OPTION_TYPES = frozenset({"OPT", "FOP", "WAR"})
# Request stocks, options and funds through SMART routing; futures need their own exchange.
SMART_ROUTED = frozenset({"STK", "OPT", "WAR", "FUND", "ETF", "IOPT"})
_CLASS_SHARE = re.compile(r"^([A-Z]{1,5}) ([A-Z])$")


def decimal_from_float(value: float | None) -> Decimal | None:
    """The exact decimal text of a float decoded from the wire; None for nan/inf/unset."""
    if value is None or math.isnan(value) or math.isinf(value) or abs(value) >= _UNSET_LIMIT:
        return None
    result = Decimal(repr(float(value)))
    if result == 0:
        return Decimal(0)
    if result == result.to_integral_value():
        return result.quantize(ONE)
    return result


def decimal_from_text(value: str | None) -> Decimal | None:
    if value is None or not value.strip():
        return None
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def symbol_from_ibkr(symbol: str) -> str:
    """IBKR spells class shares with a space ("BRK B"); foliosync with a dot (BRK.B)."""
    match = _CLASS_SHARE.match(symbol.strip().upper())
    return canonical_symbol(f"{match[1]}.{match[2]}" if match else symbol)


def symbol_to_ibkr(symbol: str) -> str:
    cleaned = canonical_symbol(symbol)
    match = re.fullmatch(r"([A-Z]{1,5})\.([A-Z])", cleaned)
    return f"{match[1]} {match[2]}" if match else cleaned


def _right(raw: str | None) -> str | None:
    letter = (raw or "").strip().upper()[:1]
    return letter if letter in ("C", "P") else None  # portfolio rows say right="0" for stocks


def _expiry(raw: str | None) -> date | None:
    text = (raw or "").strip()[:8]
    if len(text) != 8 or not text.isdigit():
        return None
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


@dataclass(frozen=True)
class ContractSpec:
    """An IBKR contract as the overlay keeps it (conId is IBKR's unique contract id)."""

    con_id: int
    symbol: str
    sec_type: str
    currency: str
    exchange: str = ""
    primary_exchange: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    expiry: str = ""  # lastTradeDateOrContractMonth as IBKR sends it
    strike: Decimal | None = None
    right: str | None = None  # "C" / "P"
    multiplier: Decimal = ONE

    @classmethod
    def from_ib(cls, contract: Any) -> ContractSpec:
        sec_type = str(contract.secType or "")
        strike = decimal_from_float(contract.strike) if sec_type in OPTION_TYPES else None
        return cls(
            con_id=int(contract.conId or 0),
            symbol=str(contract.symbol or ""),
            sec_type=sec_type,
            currency=str(contract.currency or ""),
            exchange=str(contract.exchange or ""),
            primary_exchange=str(contract.primaryExchange or ""),
            local_symbol=str(contract.localSymbol or ""),
            trading_class=str(contract.tradingClass or ""),
            expiry=str(contract.lastTradeDateOrContractMonth or ""),
            strike=strike,
            right=_right(contract.right),
            multiplier=decimal_from_text(contract.multiplier) or ONE,
        )

    @property
    def display_symbol(self) -> str:
        if self.sec_type in OPTION_TYPES and self.local_symbol:
            return self.local_symbol
        return symbol_from_ibkr(self.symbol)

    def instrument(self) -> InstrumentRef:
        """The canonical instrument, keyed like the Flex importer's (OCC symbol for options)."""
        category = AssetCategory.parse(self.sec_type)
        listing = self.primary_exchange or (self.exchange if self.exchange != "SMART" else "")
        common: dict[str, Any] = {
            "currency": self.currency or "USD",
            "exchange": listing or None,
            "conid": str(self.con_id) if self.con_id else None,
            "multiplier": self.multiplier,
        }
        if self.sec_type in OPTION_TYPES or category is AssetCategory.FUT:
            return InstrumentRef(
                asset_category=category,
                symbol=self.local_symbol or self.symbol,
                underlying_symbol=symbol_from_ibkr(self.symbol),
                strike=self.strike,
                expiry=_expiry(self.expiry),
                put_call=self.right,
                **common,
            )
        return InstrumentRef(asset_category=category, symbol=symbol_from_ibkr(self.symbol), **common)

    def to_ib(self) -> Any:
        """An ib_async Contract for requests; by conId, routed through SMART where IBKR allows."""
        from ib_async import Contract

        exchange = "SMART" if self.sec_type in SMART_ROUTED else (self.exchange or self.primary_exchange)
        return Contract(
            conId=self.con_id,
            symbol=self.symbol,
            secType=self.sec_type,
            lastTradeDateOrContractMonth=self.expiry,
            strike=float(self.strike) if self.strike is not None else 0.0,
            right=self.right or "",
            multiplier="" if self.multiplier == ONE else str(self.multiplier),
            exchange=exchange,
            currency=self.currency,
            localSymbol=self.local_symbol,
            tradingClass=self.trading_class,
        )


@dataclass(frozen=True)
class LivePosition:
    """A holding as TWS reports it: quantity and average cost from the positions stream (msg 61),
    mark, value and P&L from the account's portfolio updates (msg 7)."""

    account: str
    contract: ContractSpec
    quantity: Decimal
    average_cost: Decimal | None  # per unit, multiplier included (IBKR's convention)
    market_price: Decimal | None  # per unit, before the multiplier
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal | None
    as_of: datetime  # when these figures were last known to be current
    marked: bool  # False until a portfolio update priced the position

    @property
    def cost_basis(self) -> Decimal | None:
        return None if self.average_cost is None else self.quantity * self.average_cost


@dataclass(frozen=True)
class AccountValueRow:
    """One account value (`tag`, `value`, `currency`) as TWS sent it."""

    account: str
    tag: str
    value: str
    currency: str

    @property
    def amount(self) -> Decimal | None:
        return decimal_from_text(self.value)


@dataclass(frozen=True)
class Quote:
    symbol: str
    con_id: int | None
    currency: str | None
    price: Decimal | None  # last inside the bid/ask, else the midpoint, else the close
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    close: Decimal | None
    time: datetime | None
    delayed: bool
    market_data_type: int | None  # 1 live, 2 frozen, 3 delayed, 4 delayed frozen
    error: str | None = None

    @classmethod
    def failed(cls, symbol: str, error: str, spec: ContractSpec | None = None) -> Quote:
        return cls(
            symbol=symbol,
            con_id=spec.con_id if spec else None,
            currency=spec.currency if spec else None,
            price=None,
            bid=None,
            ask=None,
            last=None,
            close=None,
            time=None,
            delayed=False,
            market_data_type=None,
            error=error,
        )

    @classmethod
    def from_ticker(cls, symbol: str, spec: ContractSpec, ticker: Any) -> Quote:
        def price(value: float) -> Decimal | None:
            return None if value == NO_QUOTE else decimal_from_float(value)

        mark = price(ticker.marketPrice())
        close = price(ticker.close)
        data_type = int(ticker.marketDataType)
        return cls(
            symbol=symbol,
            con_id=spec.con_id,
            currency=spec.currency,
            price=mark if mark is not None else close,
            bid=price(ticker.bid),
            ask=price(ticker.ask),
            last=price(ticker.last),
            close=close,
            time=ticker.time,
            delayed=data_type in (3, 4),
            market_data_type=data_type,
            error=None if (mark is not None or close is not None) else "No price received.",
        )


@dataclass(frozen=True)
class ContractInfo:
    """Contract details (msg 10) reduced to what foliosync shows or stores."""

    contract: ContractSpec
    long_name: str
    min_tick: Decimal | None
    valid_exchanges: tuple[str, ...]
    time_zone_id: str
    industry: str
    category: str
    stock_type: str
    isin: str | None

    @classmethod
    def from_ib(cls, details: Any) -> ContractInfo:
        isin = next((tv.value for tv in details.secIdList or [] if tv.tag == "ISIN"), None)
        return cls(
            contract=ContractSpec.from_ib(details.contract),
            long_name=str(details.longName or ""),
            min_tick=decimal_from_float(details.minTick),
            valid_exchanges=tuple(x for x in str(details.validExchanges or "").split(",") if x),
            time_zone_id=str(details.timeZoneId or ""),
            industry=str(details.industry or ""),
            category=str(details.category or ""),
            stock_type=str(details.stockType or ""),
            isin=isin,
        )
