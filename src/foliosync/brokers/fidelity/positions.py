"""Fidelity positions export (`Portfolio_Positions_Mmm-dd-yyyy.csv`) -> position snapshots.

Shared brokers.md C.1. Columns are matched by name (newer exports add `Ex-Date`, `Pay Date`, yields).
The snapshot's time is the `Date downloaded ...` line of the footer (Eastern time); without it, the
date in Fidelity's file name; without either, the file is refused, because a snapshot with a
guessed date would replace the wrong day's holdings. The core money-market fund (`SPAXX**`) and
`Pending Activity` are cash: they become the account's USD balance, not positions. Rows of one
instrument held in several account types (Cash, Margin) are added up into one position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from foliosync.brokers.fidelity.symbols import is_core, parse_option_symbol, security
from foliosync.errors import ImportFileError
from foliosync.importers import UNSPECIFIED_ACCOUNT
from foliosync.ledger.csvtools import CsvRow, Header, Row, data_rows
from foliosync.ledger.records import ZERO, AccountInfo, BalanceRecord, Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import Broker, SourceFormat

REQUIRED = ("Symbol", "Quantity", "Current Value")
EASTERN = ZoneInfo("America/New_York")
_DOWNLOADED = re.compile(
    r"DATE DOWNLOADED\s+(?P<date>\d{1,2}/\d{1,2}/\d{4}|[A-Z]{3}-\d{1,2}-\d{4})"
    r"(?:\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AP])\.?M\.?)?",
)
_FILE_DATE = re.compile(r"(?P<date>[A-Z][a-z]{2}-\d{1,2}-\d{4})")
PENDING = "PENDING ACTIVITY"


def _date(text: str) -> date | None:
    for fmt in ("%m/%d/%Y", "%b-%d-%Y"):
        try:
            return datetime.strptime(text.title() if "-" in text else text, fmt).date()
        except ValueError:
            continue
    return None


def download_time(rows: Sequence[CsvRow]) -> datetime | None:
    """The `Date downloaded 01/24/2023 10:28 am` footer as UTC (Fidelity writes Eastern time)."""
    for row in reversed(rows):
        for cell in row.cells:
            match = _DOWNLOADED.search(cell.upper())
            if not match or (day := _date(match["date"])) is None:
                continue
            clock = time(12)
            if match["hour"]:
                hour = int(match["hour"]) % 12 + (12 if match["ampm"] == "P" else 0)
                clock = time(hour, int(match["minute"]))
            return datetime.combine(day, clock, EASTERN).astimezone(UTC)
    return None


def snapshot_time(rows: Sequence[CsvRow], filename: str) -> datetime:
    found = download_time(rows)
    if found is not None:
        return found
    match = _FILE_DATE.search(filename)
    day = _date(match["date"]) if match else None
    if day is not None:
        return datetime.combine(day, time(16), EASTERN).astimezone(UTC)
    raise ImportFileError(
        "cannot tell the date of these positions: no 'Date downloaded' line and no date in the file name.",
        filename=filename,
        line=rows[-1].line if rows else 1,
        hint="Upload the file as Fidelity names it (Portfolio_Positions_Mmm-dd-yyyy.csv).",
    )


@dataclass
class _Holding:
    instrument: InstrumentRef
    quantity: Decimal = ZERO
    cost_basis: Decimal | None = None
    market_value: Decimal | None = None
    unrealized: Decimal | None = None
    price: Decimal | None = None


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return total
    return value if total is None else total + value


def parse_positions(rows: Sequence[CsvRow], header: Header, start: int, filename: str) -> Batch:
    as_of = snapshot_time(rows, filename)
    as_of_date = as_of.astimezone(EASTERN).date()
    symbol_col = header.index["symbol"]

    def is_data(row: CsvRow) -> bool:
        return len(row.cells) > symbol_col and bool(row.cells[symbol_col].strip())

    batch = Batch(broker=Broker.FIDELITY, source=SourceFormat.CSV)
    holdings: dict[tuple[str, str], _Holding] = {}
    cash: dict[str, dict[str, Decimal]] = {}
    accounts: dict[str, AccountInfo] = {}
    for raw in data_rows(rows, start, is_data, filename):
        row = Row(header, raw, filename)
        row.check_width(REQUIRED)
        account = row.text("Account Number") or UNSPECIFIED_ACCOUNT
        if account != UNSPECIFIED_ACCOUNT and account not in accounts:
            accounts[account] = AccountInfo(
                external_account_id=account, alias=row.text("Account Name") or None
            )
        symbol = row.text("Symbol").upper()
        value = row.decimal("Current Value")
        if symbol == PENDING or is_core(symbol):
            part = "pending_activity" if symbol == PENDING else "core"
            bucket = cash.setdefault(account, {})
            bucket[part] = bucket.get(part, ZERO) + (value or ZERO)
            continue
        quantity = row.decimal("Quantity")
        if quantity is None:
            raise row.error(f"position {symbol!r} has no quantity.")
        if row.text("Type").upper() == "SHORTS" and quantity > 0:
            quantity = -quantity  # a short position is a negative holding
        description = row.text("Description") or None
        option = parse_option_symbol(symbol, description)
        instrument = option.instrument if option else security(symbol, description)
        holding = holdings.setdefault((account, instrument.key), _Holding(instrument))
        holding.quantity += quantity
        holding.cost_basis = _add(holding.cost_basis, row.decimal("Cost Basis Total"))
        holding.market_value = _add(holding.market_value, value)
        holding.unrealized = _add(holding.unrealized, row.decimal("Total Gain/Loss Dollar"))
        holding.price = row.decimal("Last Price")
    for (account, _), holding in holdings.items():
        batch.positions.append(
            PositionRecord(
                account=account,
                instrument=holding.instrument,
                as_of_date=as_of_date,
                as_of=as_of,
                quantity=holding.quantity,
                currency="USD",
                cost_basis=holding.cost_basis,
                mark_price=holding.price,
                market_value=holding.market_value,
                unrealized_pnl=holding.unrealized,
            )
        )
    for account, parts in cash.items():
        batch.balances.append(
            BalanceRecord(
                account=account,
                as_of_date=as_of_date,
                currency="USD",
                cash=parts.get("core", ZERO),
                components={name: format(amount, "f") for name, amount in sorted(parts.items())},
            )
        )
    batch.accounts = list(accounts.values())
    if holdings or cash:
        batch.sections.add("positions")
    else:
        batch.missing_sections.add("positions")
    batch.period_start = batch.period_end = as_of_date
    return batch
