"""Pure mapping of TastyTrade payloads to canonical records (shared taxonomy.md §3.2, §2.2).

Accounts, position and balance snapshots live here; transactions in `transactions.py` (re-exported).
Snapshots are the whole truth for their (account, as-of date): the writer replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from foliosync.brokers.tastytrade.models import Balance, CustomerAccount, Position
from foliosync.brokers.tastytrade.symbols import map_instrument
from foliosync.brokers.tastytrade.transactions import CURRENCY, normalize_transactions, signed
from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import AccountInfo, BalanceRecord, PositionRecord

__all__ = [
    "normalize_account",
    "normalize_balance",
    "normalize_positions",
    "normalize_transactions",
    "trading_date",
]

# Trade and snapshot dates are the exchange's local date (taxonomy.md §0).
EXCHANGE_TZ = ZoneInfo("America/New_York")


def trading_date(moment: datetime) -> date:
    return moment.astimezone(EXCHANGE_TZ).date()


def normalize_account(item: CustomerAccount) -> AccountInfo:
    account = item.account
    return AccountInfo(
        external_account_id=account.account_number,
        base_currency=CURRENCY,
        alias=account.nickname or account.account_type_name or account.account_number,
        details={
            "account_type": account.account_type_name,
            "margin_or_cash": account.margin_or_cash,
            "authority_level": item.authority_level,
            "is_closed": account.is_closed,
            "opened_at": account.opened_at.isoformat() if account.opened_at else None,
        },
    )


def normalize_positions(positions: Iterable[Position], as_of: datetime) -> list[PositionRecord]:
    """Holdings at `as_of`. Quantity is unsigned on the wire: `quantity-direction` Short makes it
    negative (§2.2); a Zero row is a closed position and not a holding."""
    records: list[PositionRecord] = []
    for position in positions:
        direction = position.quantity_direction
        if direction == "Zero" or position.quantity == 0:
            continue
        quantity = -abs(position.quantity) if direction == "Short" else abs(position.quantity)
        instrument = map_instrument(
            position.symbol, position.instrument_type, position.underlying_symbol, position.multiplier
        ).ref
        multiplier = position.multiplier
        # Cost and value are signed like the quantity: a short option is a negative cost (the
        # premium received) and a negative market value (what buying it back would cost).
        cost_basis = (
            position.average_open_price * quantity * multiplier
            if position.average_open_price is not None
            else None
        )
        mark = position.mark_price or position.mark or position.close_price
        market_value = mark * quantity * multiplier if mark is not None else None
        records.append(
            PositionRecord(
                account=position.account_number,
                instrument=instrument,
                as_of_date=trading_date(as_of),
                as_of=as_of,
                quantity=quantity,
                currency=CURRENCY,
                cost_basis=cost_basis,
                mark_price=mark,
                market_value=market_value,
                unrealized_pnl=(
                    market_value - cost_basis if market_value is not None and cost_basis is not None else None
                ),
            )
        )
    return records


def normalize_balance(balance: Balance, as_of: datetime) -> BalanceRecord:
    """Balances as reported: cash, net liquidation, equity buying power, maintenance requirement.

    The long/short values are unsigned magnitudes (net-liq = cash + long - short), so the
    per-asset-class components are long - short.
    """
    components = {
        "stock": balance.long_equity_value - balance.short_equity_value,
        "options": balance.long_derivative_value - balance.short_derivative_value,
        "futures": balance.long_futures_value - balance.short_futures_value,
        "futures_options": balance.long_futures_derivative_value - balance.short_futures_derivative_value,
        "crypto": balance.long_cryptocurrency_value - balance.short_cryptocurrency_value,
        "bonds": balance.long_bond_value,
        "pending_cash": signed(balance.pending_cash, balance.pending_cash_effect),
    }
    if balance.derivative_buying_power is not None:
        components["derivative_buying_power"] = balance.derivative_buying_power
    return BalanceRecord(
        account=balance.account_number,
        as_of_date=balance.snapshot_date or trading_date(as_of),
        currency=balance.currency,
        cash=balance.cash_balance,
        net_liquidation=balance.net_liquidating_value,
        buying_power=balance.equity_buying_power,
        maintenance_margin=balance.maintenance_requirement,
        components={name: _decimal_text(value) for name, value in components.items()},
    )


def _decimal_text(value: Decimal) -> str:
    return canonical_decimal(value)
