"""Pure functions from Trader API payloads to canonical records (the mapping table is
docs/mappings/schwab-api.md).

- `normalize_account`: `GET /accounts/{hash}?fields=positions` -> positions and balances (§B.3).
- `normalize_transactions` (transactions.py): `GET /accounts/{hash}/transactions` -> trades,
  cash, transfers, option events and corporate actions (taxonomy.md §3.3).
- `build_batch`: both, for one account, as the Batch the sync writes.

Positions are Schwab's snapshot and are stored as reported: `quantity = longQuantity -
shortQuantity` (a short is negative), `cost_basis = quantity x average price x multiplier` (so a
short's basis is the negative premium received), `mark_price = marketValue / (quantity x
multiplier)`. Nothing here adjusts them for splits: Schwab already did (see corporate_actions.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from foliosync.brokers.base import BrokerDataError
from foliosync.brokers.schwab.parsing import dec, dec0, instrument_ref, local_date
from foliosync.brokers.schwab.transactions import TransactionRecords, normalize_transactions
from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import AccountInfo, BalanceRecord, Batch, PositionRecord, RawPayloadRef
from foliosync.ledger.taxonomy import Broker, SourceFormat

__all__ = ["build_batch", "normalize_account", "normalize_transactions"]

_PRICE_PLACES = Decimal("1e-10")


def _securities_account(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    account = payload.get("securitiesAccount")
    if not isinstance(account, Mapping) or not account.get("accountNumber"):
        raise BrokerDataError("Schwab's account answer has no securitiesAccount.accountNumber.")
    return account


def account_info(payload: Mapping[str, Any], hash_value: str | None = None) -> AccountInfo:
    account = _securities_account(payload)
    details: dict[str, Any] = {"account_type": account.get("type")}
    if hash_value:
        details["account_hash"] = hash_value
    return AccountInfo(
        external_account_id=str(account["accountNumber"]), base_currency="USD", details=details
    )


def normalize_account(
    payload: Mapping[str, Any], as_of: datetime
) -> tuple[str, list[PositionRecord], list[BalanceRecord], list[str]]:
    """(account number, positions, balances, review notes) from one account object."""
    account = _securities_account(payload)
    number = str(account["accountNumber"])
    as_of_date = local_date(as_of)
    merged: dict[str, PositionRecord] = {}
    notes: list[str] = []
    for raw in account.get("positions") or []:
        if not isinstance(raw, Mapping):
            continue
        position = _position(number, raw, as_of)
        if position is None:
            continue
        if position[1]:
            notes.append(f"Position {position[0].instrument.symbol}: instrument needs review.")
        record = position[0]
        key = record.instrument.key
        # The same instrument in the CASH and MARGIN sub-accounts: one holding.
        merged[key] = _add_positions(merged[key], record) if key in merged else record
    balances = [_balance(number, account, payload, as_of_date)]
    return number, [merged[k] for k in sorted(merged)], balances, notes


def _position(account: str, raw: Mapping[str, Any], as_of: datetime) -> tuple[PositionRecord, bool] | None:
    instrument = raw.get("instrument")
    if not isinstance(instrument, Mapping):
        raise BrokerDataError("A Schwab position has no instrument.")
    ref, review = instrument_ref(instrument)
    long_qty, short_qty = dec0(raw.get("longQuantity")), dec0(raw.get("shortQuantity"))
    quantity = long_qty - short_qty
    if quantity == 0:
        return None
    multiplier = ref.multiplier
    long_price = dec(raw.get("averageLongPrice")) or dec(raw.get("averagePrice"))
    short_price = dec(raw.get("averageShortPrice")) or dec(raw.get("averagePrice"))
    basis: Decimal | None = None
    if (long_qty == 0 or long_price is not None) and (short_qty == 0 or short_price is not None):
        basis = (long_qty * (long_price or 0) - short_qty * (short_price or 0)) * multiplier
    market_value = dec(raw.get("marketValue"))
    mark = None
    if market_value is not None:
        mark = (market_value / (quantity * multiplier)).quantize(_PRICE_PLACES).normalize()
    unrealized = None
    if raw.get("longOpenProfitLoss") is not None or raw.get("shortOpenProfitLoss") is not None:
        unrealized = dec0(raw.get("longOpenProfitLoss")) + dec0(raw.get("shortOpenProfitLoss"))
    record = PositionRecord(
        account=account,
        instrument=ref,
        as_of_date=local_date(as_of),
        as_of=as_of,
        quantity=quantity,
        currency="USD",
        cost_basis=basis,
        mark_price=mark,
        market_value=market_value,
        unrealized_pnl=unrealized,
    )
    return record, review


def _add_positions(a: PositionRecord, b: PositionRecord) -> PositionRecord:
    def plus(x: Decimal | None, y: Decimal | None) -> Decimal | None:
        return None if x is None or y is None else x + y

    return PositionRecord(
        account=a.account,
        instrument=a.instrument,
        as_of_date=a.as_of_date,
        as_of=a.as_of,
        quantity=a.quantity + b.quantity,
        currency=a.currency,
        cost_basis=plus(a.cost_basis, b.cost_basis),
        mark_price=a.mark_price,
        market_value=plus(a.market_value, b.market_value),
        unrealized_pnl=plus(a.unrealized_pnl, b.unrealized_pnl),
    )


def _balance(
    number: str, account: Mapping[str, Any], payload: Mapping[str, Any], as_of_date: Any
) -> BalanceRecord:
    current = account.get("currentBalances") or {}
    aggregated = payload.get("aggregatedBalance") or {}
    components = {
        f"current.{name}": canonical_decimal(value)
        for name, raw in sorted(current.items())
        if (value := _number_or_none(raw)) is not None
    }
    cash = dec(current.get("cashBalance"))
    if cash is None:
        cash = dec(current.get("totalCash"))  # CASH accounts report totalCash (§B.3)
    net_liq = dec(current.get("liquidationValue"))
    if net_liq is None:
        net_liq = dec(aggregated.get("liquidationValue"))
    return BalanceRecord(
        account=number,
        as_of_date=as_of_date,
        currency="USD",
        cash=cash,
        net_liquidation=net_liq,
        buying_power=dec(current.get("buyingPower")),
        maintenance_margin=dec(current.get("maintenanceRequirement")),
        components=components,
    )


def _number_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return dec(value)


def build_batch(
    account_payload: Mapping[str, Any],
    transactions: list[dict[str, Any]],
    *,
    as_of: datetime,
    hash_value: str | None = None,
) -> Batch:
    """One account's fetch as a Batch. The raw payloads are archived with it (§3.3: the
    informational MEMORANDUM/SMA_ADJUSTMENT/MARGIN_CALL rows live only there)."""
    number, positions, balances, notes = normalize_account(account_payload, as_of)
    holdings_now = {p.instrument.key: p.quantity for p in positions}
    records: TransactionRecords = normalize_transactions(transactions, number, holdings_now)
    batch = Batch(
        broker=Broker.SCHWAB,
        source=SourceFormat.API,
        accounts=[account_info(account_payload, hash_value)],
        trades=records.trades,
        cash=records.cash,
        positions=positions,
        balances=balances,
        transfers=records.transfers,
        option_events=records.option_events,
        corporate_actions=records.corporate_actions,
        sections={"positions", "balances", "transactions"},
        unknown_types=records.unknown_types,
        warnings=notes + records.warnings,
        covers_until=as_of,
    )
    batch.raw_payloads = [
        RawPayloadRef("schwab-account", _dump(account_payload), f"accounts/{number}", number),
        RawPayloadRef(
            "schwab-transactions",
            _dump(sorted(transactions, key=lambda row: str(row.get("activityId")))),
            f"accounts/{number}/transactions",
            number,
        ),
    ]
    return batch


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
