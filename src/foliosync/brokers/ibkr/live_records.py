"""Live TWS figures as canonical ledger records (pure functions, no connection needed).

Positions become `PositionRecord`s and account values `BalanceRecord`s in a
`Batch(broker=IBKR, source=LIVE)`, which `foliosync.ledger.writer.write_batch` stores as the
account's "live" snapshot for the day, next to (never over) the statement's "flex_xml" one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from foliosync.brokers.ibkr.live_models import AccountValueRow, LivePosition
from foliosync.ledger.records import AccountInfo, BalanceRecord, Batch, PositionRecord
from foliosync.ledger.taxonomy import Broker, SourceFormat

# IBKR's business day, and a statement's reportDate, run on New York time.
IBKR_BUSINESS_ZONE = ZoneInfo("America/New_York")

BASE = "BASE"
# Account summary tags with a column of their own on the base-currency balance row.
BASE_FIELDS = {
    "NetLiquidation": "net_liquidation",
    "TotalCashValue": "cash",
    "BuyingPower": "buying_power",
    "MaintMarginReq": "maintenance_margin",
}
# Further base-currency figures kept in `components` under IBKR's tag name.
BASE_COMPONENT_TAGS = (
    "AvailableFunds",
    "ExcessLiquidity",
    "InitMarginReq",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "EquityWithLoanValue",
    "PreviousDayEquityWithLoanValue",
    "GrossPositionValue",
    "SettledCash",
    "AccruedCash",
    "RegTEquity",
    "RegTMargin",
    "SMA",
    "Cushion",
    "Leverage",
)
# `$LEDGER` tags (per currency, and "BASE") by asset class, as components keys like the
# statement's equity summary uses (models/balance.py).
LEDGER_COMPONENTS = {
    "StockMarketValue": "stock",
    "OptionMarketValue": "options",
    "FutureOptionValue": "futures_options",
    "FuturesPNL": "futures_pnl",
    "FundValue": "funds",
    "MutualFundValue": "mutual_funds",
    "MoneyMarketFundValue": "money_market_funds",
    "CorporateBondValue": "corporate_bonds",
    "TBondValue": "treasury_bonds",
    "TBillValue": "treasury_bills",
    "WarrantValue": "warrants",
    "IssuerOptionValue": "issuer_options",
    "UnrealizedPnL": "unrealized_pnl",
    "RealizedPnL": "realized_pnl",
    "NetDividend": "net_dividend",
    "AccruedCash": "accrued_cash",
    "TotalCashBalance": "total_cash",
    "ExchangeRate": "exchange_rate",
}
CURRENCY_CASH_TAG = "CashBalance"
CURRENCY_NLV_TAG = "NetLiquidationByCurrency"


def business_date(moment: datetime) -> date:
    return moment.astimezone(IBKR_BUSINESS_ZONE).date()


def position_record(position: LivePosition, as_of_date: date) -> PositionRecord:
    return PositionRecord(
        account=position.account,
        instrument=position.contract.instrument(),
        as_of_date=as_of_date,
        as_of=position.as_of,
        quantity=position.quantity,
        currency=position.contract.currency or "USD",
        cost_basis=position.cost_basis,
        mark_price=position.market_price,
        market_value=position.market_value,
        unrealized_pnl=position.unrealized_pnl,
    )


def base_currency(rows: Iterable[AccountValueRow]) -> str | None:
    """The account's base currency: the currency TWS reports NetLiquidation in."""
    for row in rows:
        if row.tag == "NetLiquidation" and row.currency and row.currency != BASE:
            return row.currency
    return None


def _is_currency_code(currency: str) -> bool:
    return len(currency) == 3 and currency.isalpha() and currency.isupper() and currency != BASE


def balance_records(account: str, rows: Sequence[AccountValueRow], as_of_date: date) -> list[BalanceRecord]:
    """One "BASE" row (net liquidation, total cash, buying power, maintenance margin, other margin
    figures in components) plus one row per currency the `$LEDGER` tags report cash in."""
    base = base_currency(rows)
    base_values: dict[str, Decimal] = {}
    base_components: dict[str, str] = {}
    ledger: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        amount = row.amount
        if amount is None or row.account != account:
            continue
        if row.tag in BASE_FIELDS and row.currency in (base, ""):
            base_values[BASE_FIELDS[row.tag]] = amount
        elif row.tag in BASE_COMPONENT_TAGS and row.currency in (base, ""):
            base_components[row.tag] = str(amount)
        if row.currency == BASE and (row.tag in LEDGER_COMPONENTS or row.tag == CURRENCY_CASH_TAG):
            base_components[LEDGER_COMPONENTS.get(row.tag, "cash_balance")] = str(amount)
        elif _is_currency_code(row.currency) and (
            row.tag in LEDGER_COMPONENTS or row.tag in (CURRENCY_CASH_TAG, CURRENCY_NLV_TAG)
        ):
            ledger[row.currency][row.tag] = amount
    records: list[BalanceRecord] = []
    if base_values or base_components:
        records.append(
            BalanceRecord(
                account=account,
                as_of_date=as_of_date,
                currency=BASE,
                components=base_components,
                **base_values,
            )
        )
    for currency in sorted(ledger):
        values = ledger[currency]
        if CURRENCY_CASH_TAG not in values and CURRENCY_NLV_TAG not in values:
            continue  # a base-currency non-ledger tag (AccruedCash in USD), not a currency ledger
        records.append(
            BalanceRecord(
                account=account,
                as_of_date=as_of_date,
                currency=currency,
                cash=values.get(CURRENCY_CASH_TAG),
                net_liquidation=values.get(CURRENCY_NLV_TAG),
                components={
                    LEDGER_COMPONENTS[tag]: str(amount)
                    for tag, amount in sorted(values.items())
                    if tag in LEDGER_COMPONENTS
                },
            )
        )
    return records


def build_batch(
    accounts: Sequence[str],
    positions: Iterable[LivePosition],
    account_rows: Iterable[AccountValueRow],
    *,
    as_of: datetime,
    warnings: Iterable[str] = (),
) -> Batch:
    """A live snapshot of `accounts`; `as_of` (tz-aware) dates the snapshot (IBKR business day)."""
    as_of_date = business_date(as_of)
    wanted = set(accounts)
    rows_by_account: dict[str, list[AccountValueRow]] = defaultdict(list)
    for row in account_rows:
        if row.account in wanted:
            rows_by_account[row.account].append(row)
    batch = Batch(broker=Broker.IBKR, source=SourceFormat.LIVE)
    for account in accounts:
        batch.accounts.append(
            AccountInfo(
                external_account_id=account,
                base_currency=base_currency(rows_by_account[account]) or "USD",
                details={"source": "tws"},
            )
        )
        batch.balances.extend(balance_records(account, rows_by_account[account], as_of_date))
    batch.positions = [position_record(p, as_of_date) for p in positions if p.account in wanted]
    batch.sections = {"positions", "balances"}
    batch.warnings.extend(warnings)
    batch.period_start = batch.period_end = as_of_date
    return batch
