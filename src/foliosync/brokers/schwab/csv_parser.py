"""Schwab "Transactions" CSV export (and the Positions CSV, at the end) -> canonical records (shared brokers.md B.6, taxonomy §3.3).

Header `Date,Action,Symbol,Description,Quantity,Price,Fees & Comm,Amount`. `Date` may read
`07/15/2024 as of 07/12/2024`: the first date is the posting date (in the key), the second the
`effective_date`. The last row is `Transactions Total`. Exports concatenated from several downloads
mix quoting styles, which the csv module reads alike. `Quantity` is unsigned for Buy/Sell (the
action gives the direction) and signed on corporate-action legs and Journaled Shares. The file
names no account: records use UNSPECIFIED_ACCOUNT. docs/mappings/schwab-csv.md lists the table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from foliosync.errors import ImportFileError
from foliosync.importers import UNSPECIFIED_ACCOUNT
from foliosync.ledger.csvtools import (
    OPTION_EVENT_KINDS,
    CsvRow,
    Header,
    Row,
    collapse,
    data_rows,
    link_reinvestments,
    option_close,
    parse_decimal,
    trade_cash,
    try_date,
    us_security,
)
from foliosync.ledger.instruments import canonical_symbol, occ_symbol
from foliosync.ledger.keys import KeyFields, OccurrenceKeys
from foliosync.ledger.records import (
    ZERO,
    BalanceRecord,
    Batch,
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    PositionRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    CorporateActionKind,
    FlowScope,
    SourceFormat,
    TradeKind,
    TransferDirection,
)

REQUIRED = ("Date", "Action", "Symbol", "Description", "Quantity", "Price", "Fees & Comm", "Amount")
DATE_FORMATS = ("%m/%d/%Y",)
TOTAL_ROW = "TRANSACTIONS TOTAL"
_AS_OF = re.compile(
    r"^(?P<posted>\d{1,2}/\d{1,2}/\d{4})(?:\s+as\s+of\s+(?P<effective>\d{1,2}/\d{1,2}/\d{4}))?$", re.I
)
# taxonomy §5.3: `SPY 01/17/2025 450.00 P` (root, MM/DD/YYYY, strike, C/P).
_OPTION = re.compile(
    r"^(?P<root>[A-Z.]+\d?) (?P<m>\d{2})/(?P<d>\d{2})/(?P<y>\d{4}) (?P<strike>[\d.]+) (?P<cp>[CP])$"
)
OPTION_MULTIPLIER = Decimal(100)


class Family(StrEnum):
    TRADE = "trade"
    OPTION_EVENT = "option_event"
    CASH = "cash"
    SIGNED_CASH = "signed_cash"  # `cash_kind` when the amount is >= 0, else `negative_kind`
    TRANSFER = "transfer"
    CORPORATE_ACTION = "corporate_action"


@dataclass(frozen=True, slots=True)
class Action:
    family: Family
    trade_kind: TradeKind | None = None
    cash_kind: CashKind | None = None
    negative_kind: CashKind | None = None
    corporate_kind: CorporateActionKind | None = None
    subkind: str | None = None
    flow_scope: FlowScope = FlowScope.NONE
    reinvested: bool = False
    paired: bool = False  # two legs: new symbol +qty / old CUSIP -qty (taxonomy §4.3)
    needs_review: bool = False


T, E, C, S, X, A = (
    Family.TRADE,
    Family.OPTION_EVENT,
    Family.CASH,
    Family.SIGNED_CASH,
    Family.TRANSFER,
    Family.CORPORATE_ACTION,
)
_DIV, _CGD = CashKind.DIVIDEND, CashKind.CAPITAL_GAIN_DISTRIBUTION
_EXT, _INT = FlowScope.EXTERNAL, FlowScope.INTERNAL

# Keys are the Action text upper-cased with spaces collapsed.
ACTIONS: dict[str, Action] = {
    "BUY": Action(T, trade_kind=TradeKind.BUY),
    "SELL": Action(T, trade_kind=TradeKind.SELL),
    "SELL SHORT": Action(T, trade_kind=TradeKind.SELL_SHORT, needs_review=True),
    "BUY TO OPEN": Action(T, trade_kind=TradeKind.BUY_TO_OPEN),
    "SELL TO OPEN": Action(T, trade_kind=TradeKind.SELL_TO_OPEN),
    "BUY TO CLOSE": Action(T, trade_kind=TradeKind.BUY_TO_CLOSE),
    "SELL TO CLOSE": Action(T, trade_kind=TradeKind.SELL_TO_CLOSE),
    "REINVEST SHARES": Action(T, trade_kind=TradeKind.BUY, reinvested=True),
    "REINVEST DIVIDEND": Action(C, cash_kind=_DIV, reinvested=True),
    "QUAL DIV REINVEST": Action(C, cash_kind=_DIV, subkind="QUALIFIED", reinvested=True),
    "PR YR DIV REINVEST": Action(C, cash_kind=_DIV, subkind="PRIOR_YEAR", reinvested=True),
    "CASH DIVIDEND": Action(C, cash_kind=_DIV, subkind="ORDINARY"),
    "QUALIFIED DIVIDEND": Action(C, cash_kind=_DIV, subkind="QUALIFIED"),
    "NON-QUALIFIED DIV": Action(C, cash_kind=_DIV, subkind="NON_QUALIFIED"),
    "SPECIAL NON QUAL DIV": Action(C, cash_kind=_DIV, subkind="SPECIAL"),
    "SPECIAL QUAL DIV": Action(C, cash_kind=_DIV, subkind="SPECIAL"),
    "PR YR CASH DIV": Action(C, cash_kind=_DIV, subkind="PRIOR_YEAR"),
    "PR YR NON-QUAL DIV": Action(C, cash_kind=_DIV, subkind="PRIOR_YEAR"),
    "LONG TERM CAP GAIN REINVEST": Action(C, cash_kind=_CGD, subkind="LONG_TERM", reinvested=True),
    "SHORT TERM CAP GAIN REINVEST": Action(C, cash_kind=_CGD, subkind="SHORT_TERM", reinvested=True),
    "LONG TERM CAP GAIN": Action(C, cash_kind=_CGD, subkind="LONG_TERM"),
    "SHORT TERM CAP GAIN": Action(C, cash_kind=_CGD, subkind="SHORT_TERM"),
    "CREDIT INTEREST": Action(C, cash_kind=CashKind.INTEREST_RECEIVED, subkind="CREDIT_BALANCE"),
    "BANK INTEREST": Action(C, cash_kind=CashKind.INTEREST_RECEIVED, subkind="BANK_SWEEP"),
    "MARGIN INTEREST": Action(C, cash_kind=CashKind.INTEREST_PAID, subkind="MARGIN", needs_review=True),
    "ADVISOR FEE": Action(C, cash_kind=CashKind.FEE, subkind="ADVISOR_MANAGEMENT"),
    "ADR MGMT FEE": Action(C, cash_kind=CashKind.FEE, subkind="ADR"),
    "SERVICE FEE": Action(C, cash_kind=CashKind.FEE, subkind="OTHER", needs_review=True),
    "FOREIGN TAX PAID": Action(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="DIVIDEND"
    ),
    "NRA TAX ADJ": Action(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="NRA"
    ),
    "NRA WITHHOLDING": Action(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="NRA"
    ),
    "NRA WITHHOLD": Action(
        S, cash_kind=CashKind.WITHHOLDING_REFUND, negative_kind=CashKind.WITHHOLDING_TAX, subkind="NRA"
    ),
    "TAX WITHHOLDING": Action(C, cash_kind=CashKind.TAX_OTHER, subkind="OTHER", needs_review=True),
    "WIRE SENT": Action(C, cash_kind=CashKind.WITHDRAWAL, subkind="WIRE", flow_scope=_EXT),
    "WIRE RECEIVED": Action(C, cash_kind=CashKind.DEPOSIT, subkind="WIRE", flow_scope=_EXT),
    "WIRE FUNDS": Action(
        S, cash_kind=CashKind.DEPOSIT, negative_kind=CashKind.WITHDRAWAL, subkind="WIRE", flow_scope=_EXT
    ),
    "WIRE FUNDS RECEIVED": Action(C, cash_kind=CashKind.DEPOSIT, subkind="WIRE", flow_scope=_EXT),
    "MONEYLINK TRANSFER": Action(
        S, cash_kind=CashKind.DEPOSIT, negative_kind=CashKind.WITHDRAWAL, subkind="ACH", flow_scope=_EXT
    ),
    "MONEYLINK DEPOSIT": Action(C, cash_kind=CashKind.DEPOSIT, subkind="ACH", flow_scope=_EXT),
    "INTERNAL TRANSFER": Action(C, cash_kind=CashKind.INTERNAL_TRANSFER, subkind="JOURNAL", flow_scope=_INT),
    "JOURNAL": Action(C, cash_kind=CashKind.INTERNAL_TRANSFER, subkind="JOURNAL", flow_scope=_INT),
    "JOURNALED SHARES": Action(X, flow_scope=_INT),
    "STOCK SPLIT": Action(A, corporate_kind=CorporateActionKind.SPLIT),
    "REVERSE SPLIT": Action(A, corporate_kind=CorporateActionKind.REVERSE_SPLIT, paired=True),
    "STOCK DIV DIST": Action(A, corporate_kind=CorporateActionKind.STOCK_DIVIDEND),
    "SPIN-OFF": Action(A, corporate_kind=CorporateActionKind.SPIN_OFF),
    "STOCK MERGER": Action(A, corporate_kind=CorporateActionKind.MERGER_STOCK, paired=True),
    "NAME CHANGE": Action(A, corporate_kind=CorporateActionKind.SYMBOL_CHANGE, paired=True),
    "CONVERSION": Action(A, corporate_kind=CorporateActionKind.MERGER_STOCK, paired=True),
    "CASH IN LIEU": Action(C, cash_kind=CashKind.CASH_IN_LIEU),
    "EXPIRED": Action(E, trade_kind=TradeKind.OPTION_EXPIRATION),
    "ASSIGNED": Action(E, trade_kind=TradeKind.OPTION_ASSIGNMENT),
    "EXCHANGE OR EXERCISE": Action(E, trade_kind=TradeKind.OPTION_EXERCISE, needs_review=True),
}
BUYING = frozenset({TradeKind.BUY, TradeKind.BUY_TO_OPEN, TradeKind.BUY_TO_CLOSE, TradeKind.BUY_TO_COVER})
OPTION_TRADES = frozenset(
    {TradeKind.BUY_TO_OPEN, TradeKind.SELL_TO_OPEN, TradeKind.BUY_TO_CLOSE, TradeKind.SELL_TO_CLOSE}
)


def split_date(raw: str) -> tuple[date, date | None] | None:
    """`07/15/2024 as of 07/12/2024` -> (posted, effective); None when it is not a date."""
    match = _AS_OF.match(raw.strip())
    if not match:
        return None
    posted = try_date(match["posted"], DATE_FORMATS)
    if posted is None:
        return None
    effective = try_date(match["effective"], DATE_FORMATS) if match["effective"] else None
    return posted, effective


def parse_option(symbol: str, description: str | None) -> InstrumentRef | None:
    match = _OPTION.match(symbol.strip().upper())
    if not match:
        return None
    expiry = date(int(match["y"]), int(match["m"]), int(match["d"]))
    strike = Decimal(match["strike"]).normalize()
    root = match["root"]
    return InstrumentRef(
        asset_category=AssetCategory.OPT,
        symbol=occ_symbol(root, expiry, match["cp"], strike),
        currency="USD",
        description=description or None,
        underlying_symbol=canonical_symbol(re.sub(r"\d$", "", root)),
        strike=strike,
        expiry=expiry,
        put_call=match["cp"],
        multiplier=OPTION_MULTIPLIER,
    )


@dataclass
class _Line:
    row: Row
    posted: date
    effective: date | None
    action_text: str  # as written
    action: str  # upper-cased, spaces collapsed
    symbol: str
    description: str
    quantity: Decimal | None
    price: Decimal | None
    fees: Decimal
    amount: Decimal | None

    @property
    def instrument(self) -> InstrumentRef | None:
        if not self.symbol:
            return None
        return parse_option(self.symbol, self.description) or us_security(
            self.symbol, self.description or None
        )


def _read(row: Row) -> _Line:
    row.check_width(REQUIRED)
    dates = split_date(row.text("Date"))
    assert dates is not None  # data rows are chosen by their date
    action_text = row.text("Action")
    return _Line(
        row=row,
        posted=dates[0],
        effective=dates[1],
        action_text=action_text,
        action=collapse(action_text).upper(),
        symbol=row.text("Symbol").upper(),
        description=collapse(row.text("Description")),
        quantity=row.decimal("Quantity"),
        price=row.decimal("Price"),
        fees=-abs(row.decimal("Fees & Comm") or ZERO),
        amount=row.decimal("Amount"),
    )


class TransactionsParser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.keys = OccurrenceKeys()
        self.batch = Batch(broker=Broker.SCHWAB, source=SourceFormat.CSV)

    def key(self, line: _Line, family: str, kind: str, instrument: InstrumentRef | None) -> str:
        return self.keys.key(
            KeyFields(
                account=UNSPECIFIED_ACCOUNT,
                family=family,
                posting_date=line.posted,
                effective_date=line.effective,
                kind=kind,
                raw_action=line.action,
                instrument=instrument.key if instrument else "",
                quantity=line.quantity,
                price=line.price,
                amount=line.amount,
                fees=line.fees,
            )
        )

    def trade(self, line: _Line, action: Action, kind: TradeKind) -> None:
        instrument = line.instrument
        if instrument is None or not line.quantity:
            self.other(line, "trade without a symbol or quantity")
            return
        quantity = abs(line.quantity) if kind in BUYING else -abs(line.quantity)
        price = line.price if line.price is not None else ZERO
        cash = trade_cash(quantity, price, instrument.multiplier, line.amount, line.fees)
        if not cash.consistent:
            self.batch.warnings.append(
                f"{self.filename}, line {line.row.line}: amount {line.amount} does not match quantity x price; "
                "kept the amount and flagged the trade for review."
            )
        self.batch.trades.append(
            TradeRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "trade", kind.value, instrument),
                instrument=instrument,
                kind=kind,
                side="BUY" if quantity > 0 else "SELL",
                trade_date=line.posted,
                quantity=quantity,
                price=price,
                gross_amount=cash.gross,
                net_amount=cash.net,
                currency="USD",
                commission=line.fees,
                open_close=("O" if kind.value.endswith("OPEN") else "C") if kind in OPTION_TRADES else None,
                dividend_reinvestment=action.reinvested,
                needs_review=action.needs_review or not cash.consistent,
                raw_type=line.action_text[:64],
                description=line.description,
            )
        )

    def option_event(self, line: _Line, action: Action, kind: TradeKind) -> None:
        instrument = line.instrument
        if instrument is None or instrument.asset_category is not AssetCategory.OPT or not line.quantity:
            self.other(line, "option event without a contract or quantity")
            return
        quantity = line.quantity
        if kind is TradeKind.OPTION_ASSIGNMENT:
            quantity = abs(quantity)
        elif kind is TradeKind.OPTION_EXERCISE:
            quantity = -abs(quantity)
        trade, event = option_close(
            account=UNSPECIFIED_ACCOUNT,
            instrument=instrument,
            kind=kind,
            day=line.posted,
            quantity=quantity,
            amount=line.amount,
            trade_key=self.key(line, "trade", kind.value, instrument),
            event_key=self.key(line, "option_event", OPTION_EVENT_KINDS[kind].value, instrument),
            needs_review=action.needs_review,
            raw_type=line.action_text[:64],
            description=line.description,
        )
        self.batch.trades.append(trade)
        self.batch.option_events.append(event)

    def cash(self, line: _Line, action: Action, kind: CashKind) -> None:
        if line.amount is None:
            self.other(line, "cash row without an amount")
            return
        instrument = line.instrument
        self.batch.cash.append(
            CashRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "cash", kind.value, instrument),
                kind=kind,
                amount=line.amount,
                currency="USD",
                posted_date=line.posted,
                instrument=instrument,
                subkind=action.subkind,
                ex_date=line.effective,
                flow_scope=action.flow_scope,
                needs_review=action.needs_review,
                raw_type=line.action_text[:64],
                description=line.description,
            )
        )

    def transfer(self, line: _Line, action: Action) -> None:
        instrument = line.instrument
        if instrument is None or not line.quantity:
            self.other(line, "share transfer without a symbol or quantity")
            return
        incoming = line.quantity > 0
        self.batch.transfers.append(
            TransferRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "transfer", "IN" if incoming else "OUT", instrument),
                direction=TransferDirection.IN if incoming else TransferDirection.OUT,
                flow_scope=action.flow_scope,
                transfer_date=line.posted,
                currency="USD",
                instrument=instrument,
                transfer_type="JOURNAL",
                quantity=line.quantity,
                value=line.amount,
                needs_review=action.needs_review,
                raw_type=line.action_text[:64],
                description=line.description,
            )
        )

    def corporate_action(self, line: _Line, action: Action, kind: CorporateActionKind) -> None:
        instrument = line.instrument
        if instrument is None or not line.quantity:
            self.other(line, "corporate action without a symbol or quantity")
            return
        effect: dict[str, object] = {}
        action_id = None
        if action.paired:
            # Both legs share the action id; the old leg (old CUSIP) has the negative quantity.
            effect["leg"] = "new" if line.quantity > 0 else "old"
            action_id = (
                "schwab-csv:" + hashlib.sha256(f"{line.posted}|{line.action}".encode()).hexdigest()[:24]
            )
        else:
            effect["quantity_is"] = "shares_added"
        self.batch.corporate_actions.append(
            CorporateActionRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "corporate_action", kind.value, instrument),
                kind=kind,
                effective_date=line.effective or line.posted,
                instrument=instrument,
                action_id=action_id,
                quantity=line.quantity,
                amount=line.amount,
                currency="USD",
                effect=effect,
                needs_review=action.needs_review,
                raw_type=line.action_text[:64],
                description=line.description,
            )
        )

    def other(self, line: _Line, why: str) -> None:
        label = line.action or "(blank action)"
        self.batch.unknown_types[label] += 1
        self.batch.cash.append(
            CashRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "cash", CashKind.OTHER.value, line.instrument),
                kind=CashKind.OTHER,
                amount=line.amount or ZERO,
                currency="USD",
                posted_date=line.posted,
                instrument=line.instrument,
                subkind="UNKNOWN",
                needs_review=True,
                raw_type=line.action_text[:64],
                description=f"{line.description} [{why}]",
            )
        )

    def add(self, line: _Line) -> None:
        action = ACTIONS.get(line.action)
        if action is None:
            self.other(line, "unrecognised action")
        elif action.family is Family.TRADE and action.trade_kind is not None:
            self.trade(line, action, action.trade_kind)
        elif action.family is Family.OPTION_EVENT and action.trade_kind is not None:
            self.option_event(line, action, action.trade_kind)
        elif action.family is Family.CASH and action.cash_kind is not None:
            self.cash(line, action, action.cash_kind)
        elif action.family is Family.SIGNED_CASH and action.cash_kind and action.negative_kind:
            negative = line.amount is not None and line.amount < 0
            self.cash(line, action, action.negative_kind if negative else action.cash_kind)
        elif action.family is Family.TRANSFER:
            self.transfer(line, action)
        elif action.corporate_kind is not None:
            self.corporate_action(line, action, action.corporate_kind)


def parse_transactions(rows: Sequence[CsvRow], header: Header, start: int, filename: str) -> Batch:
    date_col = header.index["date"]
    amount_col = header.index["amount"]

    def is_data(row: CsvRow) -> bool:
        return len(row.cells) > date_col and split_date(row.cells[date_col]) is not None

    def is_total(row: CsvRow) -> bool:
        return row.first().upper() == TOTAL_ROW

    parser = TransactionsParser(filename)
    dates: list[date] = []
    summed = ZERO
    for raw in data_rows(rows, start, is_data, filename, is_footer=is_total):
        line = _read(Row(header, raw, filename))
        dates.append(line.posted)
        summed += line.amount or ZERO
        parser.add(line)
    link_reinvestments(parser.batch.cash, parser.batch.trades)
    batch = parser.batch
    total = next((r for r in rows[start:] if is_total(r)), None)
    if total is None and dates:
        batch.warnings.append(
            f"{filename}: no 'Transactions Total' row at the end; the file may be incomplete."
        )
    elif total is not None and len(total.cells) > amount_col:
        # Schwab's own total is informational: files concatenated from several downloads keep
        # only one of the totals, so a difference is a warning, not an error.
        stated = parse_decimal(total.cells[amount_col], filename=filename, line=total.line, column="Amount")
        if stated is not None and stated != summed:
            batch.warnings.append(
                f"{filename}: the rows add up to {summed}, the file's 'Transactions Total' says {stated}."
            )
    if dates:
        batch.sections.add("transactions")
        batch.period_start, batch.period_end = min(dates), max(dates)
    else:
        batch.missing_sections.add("transactions")
    return batch


# --- Positions export (brokers.md B.6) ------------------------------------------------------------

POSITIONS_REQUIRED = ("Symbol", "Description", "Cost Basis")
EASTERN = ZoneInfo("America/New_York")
_POSITIONS_TITLE = re.compile(
    r"as of\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[AP])M\s*ET,\s*(?P<date>\d{4}/\d{2}/\d{2})", re.I
)
CASH_ROW = "CASH & CASH INVESTMENTS"
TOTAL_ROWS = frozenset({"ACCOUNT TOTAL", CASH_ROW})


def positions_time(rows: Sequence[CsvRow], header: Header, filename: str) -> datetime:
    """`"Positions for account Individual ...123 as of 12:33 PM ET, 2025/05/04"` -> UTC."""
    for row in rows:
        if row.line >= header.line:
            break
        match = _POSITIONS_TITLE.search(" ".join(row.cells))
        if match:
            day = datetime.strptime(match["date"], "%Y/%m/%d").date()
            hour = int(match["hour"]) % 12 + (12 if match["ampm"].upper() == "P" else 0)
            return datetime.combine(day, time(hour, int(match["minute"])), EASTERN).astimezone(UTC)
    raise ImportFileError(
        "cannot tell the date of these positions: the first line should read "
        "'Positions for account ... as of HH:MM PM ET, YYYY/MM/DD'.",
        filename=filename,
        line=1,
        hint="Upload the positions file exactly as Schwab exported it.",
    )


def parse_positions(rows: Sequence[CsvRow], header: Header, start: int, filename: str) -> Batch:
    """Holdings snapshot; `Cash & Cash Investments` is the USD balance, `Account Total` its total."""
    as_of = positions_time(rows, header, filename)
    as_of_date = as_of.astimezone(EASTERN).date()
    symbol_col = header.index["symbol"]

    def is_data(row: CsvRow) -> bool:
        return len(row.cells) > symbol_col and bool(row.cells[symbol_col].strip())

    batch = Batch(broker=Broker.SCHWAB, source=SourceFormat.CSV)
    balance = BalanceRecord(account=UNSPECIFIED_ACCOUNT, as_of_date=as_of_date, currency="USD")
    quantity_names = ("Qty (Quantity)", "Quantity", "Qty")
    value_names = ("Mkt Val (Market Value)", "Market Value", "Mkt Val")
    for raw in data_rows(rows, start, is_data, filename):
        row = Row(header, raw, filename)
        symbol = row.text("Symbol").upper()
        value = row.decimal(*value_names)
        if symbol == CASH_ROW:
            balance.cash = value
            continue
        if symbol == "ACCOUNT TOTAL":
            balance.net_liquidation = value
            continue
        quantity = row.decimal(*quantity_names)
        if quantity is None:
            raise row.error(f"position {symbol!r} has no quantity.")
        description = row.text("Description") or None
        instrument = parse_option(symbol, description) or us_security(symbol, description)
        batch.positions.append(
            PositionRecord(
                account=UNSPECIFIED_ACCOUNT,
                instrument=instrument,
                as_of_date=as_of_date,
                as_of=as_of,
                quantity=quantity,
                currency="USD",
                cost_basis=row.decimal("Cost Basis"),
                mark_price=row.decimal("Price"),
                market_value=value,
                unrealized_pnl=row.decimal("Gain $ (Gain/Loss $)", "Gain/Loss $", "Gain $"),
            )
        )
    if balance.cash is not None or balance.net_liquidation is not None:
        batch.balances.append(balance)
    if batch.positions or batch.balances:
        batch.sections.add("positions")
    else:
        batch.missing_sections.add("positions")
    batch.period_start = batch.period_end = as_of_date
    return batch
