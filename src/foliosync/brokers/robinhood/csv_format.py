"""The "robinhood" import format: the Account activity report CSV (shared brokers.md D.2).

All fields are quoted, `Description` may span lines (name, `CUSIP: ...`, a note), amounts use
`($1.00)` for negatives, OEXP/OASGN/split rows leave Price and Amount blank, and a blank row plus a
disclaimer row close the file. The file names no account: records use UNSPECIFIED_ACCOUNT.
Keys (§2.3) hash the parsed contract or CUSIP, never the free-text description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from foliosync.brokers.robinhood.codes import Code, Family, lookup
from foliosync.importers import UNSPECIFIED_ACCOUNT, FileFormat, register_format
from foliosync.ledger.csvtools import (
    OPTION_EVENT_KINDS,
    CsvRow,
    Row,
    collapse,
    data_rows,
    decode,
    find_header,
    option_close,
    read_rows,
    trade_cash,
    try_date,
    us_security,
)
from foliosync.ledger.instruments import canonical_symbol, occ_symbol
from foliosync.ledger.keys import KeyFields, OccurrenceKeys
from foliosync.ledger.records import (
    ZERO,
    Batch,
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    OptionEventKind,
    SourceFormat,
    TradeKind,
    TransferDirection,
)

FORMAT_NAME = "robinhood"
WHAT = "Robinhood account activity report (CSV)"
REQUIRED = ("Activity Date", "Instrument", "Description", "Trans Code", "Quantity", "Price", "Amount")
DATE_FORMATS = ("%m/%d/%Y",)
# taxonomy §5.4: `TSLA 1/16/2026 Put $435.00`, `Option Expiration for SPY 1/17/2025 Call $650.00`.
_CONTRACT = re.compile(
    r"(?P<root>[A-Z.]+) (?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}) (?P<cp>Call|Put) \$(?P<strike>[\d,]+\.\d{2})"
)
_CUSIP = re.compile(r"CUSIP:\s*(?P<cusip>[0-9A-Z]{9})")
_PAY_DATE = re.compile(r"P/D (?P<date>\d{4}-\d{2}-\d{2})")
_STOCK_LEG = re.compile(r"\bOption (Assigned|Exercised)\b", re.IGNORECASE)
OPTION_MULTIPLIER = Decimal(100)
BUYING = frozenset({TradeKind.BUY, TradeKind.BUY_TO_OPEN, TradeKind.BUY_TO_CLOSE})


def parse_contract(description: str, underlying: str) -> InstrumentRef | None:
    match = _CONTRACT.search(description)
    if not match:
        return None
    expiry = date(int(match["y"]), int(match["m"]), int(match["d"]))
    strike = Decimal(match["strike"].replace(",", "")).normalize()
    put_call = match["cp"][0]
    root = match["root"]
    return InstrumentRef(
        asset_category=AssetCategory.OPT,
        symbol=occ_symbol(root, expiry, put_call, strike),
        currency="USD",
        description=collapse(description),
        underlying_symbol=canonical_symbol(underlying or root),
        strike=strike,
        expiry=expiry,
        put_call=put_call,
        multiplier=OPTION_MULTIPLIER,
    )


@dataclass
class _Line:
    row: Row
    activity_date: date
    settle_date: date | None
    instrument_text: str
    description: str  # newlines collapsed
    code_text: str
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal | None
    contract: InstrumentRef | None
    cusip: str | None

    @property
    def security(self) -> InstrumentRef | None:
        if not self.instrument_text:
            return None
        name = self.description.split(" CUSIP:")[0] or None
        return us_security(self.instrument_text, name, cusip=self.cusip)

    def instrument(self, code: Code | None) -> InstrumentRef | None:
        if code is not None and code.option:
            return self.contract
        return self.contract if self.contract and not self.cusip else self.security


def _read(row: Row) -> _Line:
    row.check_width(REQUIRED)
    activity = row.date("Activity Date", formats=DATE_FORMATS)
    assert activity is not None
    description = collapse(row.text("Description"))
    instrument_text = row.text("Instrument").upper()
    cusip = _CUSIP.search(description)
    quantity_text = row.text("Quantity").upper()
    quantity = None
    if quantity_text:
        # Robinhood marks short option quantities with a trailing S ("1S"); the code says the side.
        quantity = row.decimal("Quantity") if not quantity_text.endswith("S") else Decimal(quantity_text[:-1])
    return _Line(
        row=row,
        activity_date=activity,
        settle_date=row.date("Settle Date", formats=DATE_FORMATS),
        instrument_text=instrument_text,
        description=description,
        code_text=row.text("Trans Code").upper(),
        quantity=quantity,
        price=row.decimal("Price"),
        amount=row.decimal("Amount"),
        contract=parse_contract(description, instrument_text),
        cusip=cusip["cusip"] if cusip else None,
    )


class ActivityParser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.keys = OccurrenceKeys()
        self.batch = Batch(broker=Broker.ROBINHOOD, source=SourceFormat.CSV)
        self.stock_legs: list[TradeRecord] = []

    def key(self, line: _Line, family: str, kind: str, instrument: InstrumentRef | None) -> str:
        return self.keys.key(
            KeyFields(
                account=UNSPECIFIED_ACCOUNT,
                family=family,
                posting_date=line.activity_date,
                kind=kind,
                raw_action=line.code_text,
                instrument=instrument.key if instrument else line.instrument_text,
                quantity=line.quantity,
                price=line.price,
                amount=line.amount,
                settle_date=line.settle_date,
            )
        )

    def trade(self, line: _Line, code: Code, kind: TradeKind) -> None:
        instrument = line.instrument(code)
        if instrument is None or not line.quantity:
            self.other(line, "trade without an instrument or quantity")
            return
        quantity = abs(line.quantity) if kind in BUYING else -abs(line.quantity)
        price = line.price if line.price is not None else ZERO
        cash = trade_cash(quantity, price, instrument.multiplier, line.amount, ZERO)
        record = TradeRecord(
            account=UNSPECIFIED_ACCOUNT,
            natural_key=self.key(line, "trade", kind.value, instrument),
            instrument=instrument,
            kind=kind,
            side="BUY" if quantity > 0 else "SELL",
            trade_date=line.activity_date,
            quantity=quantity,
            price=price,
            gross_amount=cash.gross,
            net_amount=cash.net,
            currency="USD",
            settle_date=line.settle_date,
            open_close=("O" if kind.value.endswith("OPEN") else "C") if code.option else None,
            needs_review=code.needs_review or not cash.consistent,
            raw_type=line.code_text,
            description=line.description,
        )
        if not cash.consistent:
            self.batch.warnings.append(
                f"{self.filename}, line {line.row.line}: amount {line.amount} does not match quantity x price; "
                "kept the amount and flagged the trade for review."
            )
        self.batch.trades.append(record)
        if _STOCK_LEG.search(line.description):
            self.stock_legs.append(record)

    def option_event(self, line: _Line, code: Code, kind: TradeKind, held: Decimal) -> None:
        contract = line.contract
        if contract is None or not line.quantity:
            self.other(line, "option event without a contract or quantity")
            return
        contracts = abs(line.quantity)
        review = code.needs_review
        if kind is TradeKind.OPTION_ASSIGNMENT:
            quantity = contracts  # only a writer is assigned: the short closes
        elif kind is TradeKind.OPTION_EXERCISE:
            quantity = -contracts
        elif held < 0:
            quantity = contracts  # a short expires
        else:
            # Long, or not opened in this file: Robinhood does not say (taxonomy §3.5).
            quantity = -contracts
            review = review or held == 0
        trade, event = option_close(
            account=UNSPECIFIED_ACCOUNT,
            instrument=contract,
            kind=kind,
            day=line.activity_date,
            quantity=quantity,
            amount=line.amount,
            settle_date=line.settle_date,
            trade_key=self.key(line, "trade", kind.value, contract),
            event_key=self.key(line, "option_event", OPTION_EVENT_KINDS[kind].value, contract),
            needs_review=review,
            raw_type=line.code_text,
            description=line.description,
        )
        self.batch.trades.append(trade)
        self.batch.option_events.append(event)

    def cash(self, line: _Line, code: Code, kind: CashKind) -> None:
        if line.amount is None:
            self.other(line, "cash row without an amount")
            return
        pay = _PAY_DATE.search(line.description)
        self.batch.cash.append(
            CashRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "cash", kind.value, line.instrument(code)),
                kind=kind,
                amount=line.amount,
                currency="USD",
                posted_date=line.activity_date,
                instrument=line.instrument(code),
                subkind=code.subkind,
                settle_date=line.settle_date,
                pay_date=date.fromisoformat(pay["date"]) if pay else None,
                flow_scope=code.flow_scope,
                needs_review=code.needs_review,
                raw_type=line.code_text,
                description=line.description,
            )
        )

    def transfer(self, line: _Line, code: Code) -> None:
        instrument = line.instrument(code)
        if instrument is None or not line.quantity:
            self.other(line, "securities transfer without an instrument or quantity")
            return
        self.batch.transfers.append(
            TransferRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "transfer", "IN", instrument),
                direction=TransferDirection.IN,
                flow_scope=code.flow_scope,
                transfer_date=line.activity_date,
                currency="USD",
                instrument=instrument,
                transfer_type=line.code_text,
                quantity=abs(line.quantity),
                value=line.amount,
                needs_review=code.needs_review,
                raw_type=line.code_text,
                description=line.description,
            )
        )

    def corporate_action(self, line: _Line, code: Code) -> None:
        instrument = line.instrument(code)
        if instrument is None or code.corporate_kind is None:
            self.other(line, "corporate action without an instrument")
            return
        kind = code.corporate_kind
        self.batch.corporate_actions.append(
            CorporateActionRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "corporate_action", kind.value, instrument),
                kind=kind,
                effective_date=line.activity_date,
                instrument=instrument,
                quantity=line.quantity,
                amount=line.amount,
                currency="USD",
                # SPL gives the shares added, never the ratio (taxonomy §3.5, §4.3).
                effect={"quantity_is": "shares_added"} if line.quantity else {},
                needs_review=code.needs_review,
                raw_type=line.code_text,
                description=line.description,
            )
        )

    def other(self, line: _Line, why: str) -> None:
        label = line.code_text or "(blank code)"
        self.batch.unknown_types[label] += 1
        self.batch.cash.append(
            CashRecord(
                account=UNSPECIFIED_ACCOUNT,
                natural_key=self.key(line, "cash", CashKind.OTHER.value, line.contract or line.security),
                kind=CashKind.OTHER,
                amount=line.amount or ZERO,
                currency="USD",
                posted_date=line.activity_date,
                instrument=line.contract or line.security,
                subkind="UNKNOWN",
                settle_date=line.settle_date,
                needs_review=True,
                raw_type=label[:64],
                description=f"{line.description} [{why}]",
            )
        )

    def add(self, line: _Line, held: Decimal) -> None:
        code = lookup(line.code_text)
        if code is None:
            self.other(line, "unknown Trans Code")
        elif code.family is Family.TRADE and code.trade_kind is not None:
            self.trade(line, code, code.trade_kind)
        elif code.family is Family.OPTION_EVENT and code.trade_kind is not None:
            self.option_event(line, code, code.trade_kind, held)
        elif code.family is Family.CASH and code.cash_kind is not None:
            self.cash(line, code, code.cash_kind)
        elif code.family is Family.SIGNED_CASH and code.cash_kind and code.negative_kind:
            negative = line.amount is not None and line.amount < 0
            self.cash(line, code, code.negative_kind if negative else code.cash_kind)
        elif code.family is Family.TRANSFER:
            self.transfer(line, code)
        else:
            self.corporate_action(line, code)

    def link_option_events(self) -> None:
        """OASGN/OEXCS <-> the Buy/Sell whose description says `Option Assigned` (§4.2)."""
        for event in self.batch.option_events:
            if event.kind is OptionEventKind.EXPIRATION:
                continue
            matches = [
                t
                for t in self.stock_legs
                if t.trade_date == event.event_date and t.instrument.symbol == event.underlying_symbol
            ]
            if len(matches) == 1:
                event.underlying_trade_key = matches[0].natural_key
            else:
                event.needs_review = True


def _contract_holdings(lines: list[_Line], contract_key: str, before: date) -> Decimal:
    """Net contracts of one option opened and closed in this file up to a date (long > 0)."""
    held = ZERO
    for line in lines:
        if line.contract is None or line.contract.key != contract_key or line.activity_date > before:
            continue
        if line.code_text in ("BTO", "BTC"):
            held += abs(line.quantity or ZERO)
        elif line.code_text in ("STO", "STC"):
            held -= abs(line.quantity or ZERO)
    return held


def parse(content: bytes, filename: str) -> Batch:
    rows = read_rows(decode(content, filename), filename)
    header, start = find_header(rows, REQUIRED, filename, what=WHAT, max_lead_rows=5)
    date_col = header.index["activity date"]

    def is_data(row: CsvRow) -> bool:
        return len(row.cells) > date_col and try_date(row.cells[date_col], DATE_FORMATS) is not None

    lines = [_read(Row(header, raw, filename)) for raw in data_rows(rows, start, is_data, filename)]
    parser = ActivityParser(filename)
    for line in lines:
        held = ZERO
        if line.code_text == "OEXP" and line.contract is not None:
            held = _contract_holdings(lines, line.contract.key, line.activity_date)
        parser.add(line, held)
    parser.link_option_events()
    batch = parser.batch
    if lines:
        batch.sections.add("activity")
        dates = [line.activity_date for line in lines]
        batch.period_start, batch.period_end = min(dates), max(dates)
    else:
        batch.missing_sections.add("activity")
    return batch


FORMAT = FileFormat(
    name=FORMAT_NAME,
    broker=Broker.ROBINHOOD,
    description="Robinhood account activity report (Account > Reports and statements > Reports), CSV.",
    parse=parse,
    names_accounts=False,
)
register_format(FORMAT)
