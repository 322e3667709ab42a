"""Fidelity activity / history export -> canonical records (shared brokers.md C.2, taxonomy §3.4).

Header versions are matched by name (`Security Description`/`Description`, `Security Type`/`Type`,
optional `Cash Balance ($)`, optional `Account`/`Account Number`). Run Date is the trade date.
Quantities are signed in the file (negative on sells); the sign is re-derived from the action so a
file that writes them unsigned reads the same. Commission and fees are positive in the file and
stored as negative trade components. Keys are §2.3 fallback keys over parsed fields only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from foliosync.brokers.fidelity.actions import Family, Rule, classify, normalize_action
from foliosync.brokers.fidelity.symbols import (
    FidelityOption,
    deliverable_shares,
    is_core,
    parse_option_action,
    parse_option_symbol,
    security,
)
from foliosync.importers import UNSPECIFIED_ACCOUNT
from foliosync.ledger.csvtools import (
    OPTION_EVENT_KINDS,
    CsvRow,
    Header,
    Row,
    data_rows,
    link_reinvestments,
    option_close,
    trade_cash,
    try_date,
)
from foliosync.ledger.keys import KeyFields, OccurrenceKeys
from foliosync.ledger.records import (
    ZERO,
    AccountInfo,
    Batch,
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    Broker,
    CashKind,
    CorporateActionKind,
    FlowScope,
    OptionEventKind,
    SourceFormat,
    TradeKind,
    TransferDirection,
)

REQUIRED = ("Run Date", "Action", "Amount ($)")
DATE_FORMATS = ("%m/%d/%Y",)
_ACCOUNT_NUMBER = re.compile(r"\b([A-Z]{0,2}\d{5,10}[A-Z]?)\b")
_RATIO = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:FOR|:)\s*(\d+(?:\.\d+)?)\b")

BUYING = frozenset({TradeKind.BUY, TradeKind.BUY_TO_OPEN, TradeKind.BUY_TO_CLOSE, TradeKind.BUY_TO_COVER})
OPTION_KINDS = frozenset(
    {TradeKind.BUY_TO_OPEN, TradeKind.SELL_TO_OPEN, TradeKind.BUY_TO_CLOSE, TradeKind.SELL_TO_CLOSE}
)
# Cash kinds whose sign is fixed: a row with the other sign is flagged (taxonomy §1.1 notes).
EXPECTED_SIGN = {
    CashKind.DIVIDEND: 1,
    CashKind.CAPITAL_GAIN_DISTRIBUTION: 1,
    CashKind.RETURN_OF_CAPITAL: 1,
    CashKind.INTEREST_RECEIVED: 1,
    CashKind.INTEREST_PAID: -1,
    CashKind.FEE: -1,
    CashKind.DEPOSIT: 1,
    CashKind.WITHDRAWAL: -1,
    CashKind.TAX_OTHER: -1,
    CashKind.CASH_IN_LIEU: 1,
}


@dataclass
class _Line:
    """One data row, read once."""

    row: Row
    account: str
    run_date: date
    settle_date: date | None
    action: str  # as written
    normalized: str  # taxonomy §3.4 normalization
    symbol: str
    description: str
    quantity: Decimal | None
    price: Decimal | None
    commission: Decimal
    fees: Decimal
    accrued: Decimal | None
    amount: Decimal | None


def account_of(row: Row) -> tuple[str, str | None]:
    """(account number, alias) for multi-account files; UNSPECIFIED_ACCOUNT otherwise."""
    number = row.text("Account Number")
    name = row.text("Account")
    if not number and name:
        found = _ACCOUNT_NUMBER.findall(name.upper())
        number = found[-1] if found else name
    if not number:
        return UNSPECIFIED_ACCOUNT, None
    alias = name.replace(number, "").strip(" -") if name else None
    return number, alias or None


def _read(row: Row) -> _Line:
    row.check_width(("Run Date", "Action", "Amount ($)"))
    run_date = row.date("Run Date", formats=DATE_FORMATS)
    assert run_date is not None  # data rows are chosen by their run date
    account, _ = account_of(row)
    description = row.text("Security Description", "Description")
    if description.upper() == "NO DESCRIPTION":
        description = ""
    commission = row.decimal("Commission ($)") or ZERO
    fees = row.decimal("Fees ($)") or ZERO
    action = row.text("Action")
    return _Line(
        row=row,
        account=account,
        run_date=run_date,
        settle_date=row.date("Settlement Date", formats=DATE_FORMATS),
        action=action,
        normalized=normalize_action(action),
        symbol=row.text("Symbol").upper(),
        description=description,
        quantity=row.decimal("Quantity"),
        price=row.decimal("Price ($)"),
        commission=-abs(commission),
        fees=-abs(fees),
        accrued=row.decimal("Accrued Interest ($)"),
        amount=row.decimal("Amount ($)"),
    )


def _text(line: _Line) -> str:
    return f"{line.action} | {line.description}" if line.description else line.action


class ActivityParser:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.keys = OccurrenceKeys()
        self.batch = Batch(broker=Broker.FIDELITY, source=SourceFormat.CSV)
        self.underlying_trades: list[TradeRecord] = []

    def key(self, line: _Line, family: str, kind: str, instrument: InstrumentRef | None) -> str:
        return self.keys.key(
            KeyFields(
                account=line.account,
                family=family,
                posting_date=line.run_date,
                kind=kind,
                raw_action=line.normalized,
                instrument=instrument.key if instrument else line.symbol,
                quantity=line.quantity,
                price=line.price,
                amount=line.amount,
                fees=line.commission + line.fees,
                settle_date=line.settle_date,
            )
        )

    def option(self, line: _Line) -> FidelityOption | None:
        return parse_option_symbol(line.symbol, line.description) if line.symbol else None

    # --- families -----------------------------------------------------------------------------

    def trade(self, line: _Line, rule: Rule, kind: TradeKind) -> None:
        option = self.option(line) or (parse_option_action(line.normalized) if kind in OPTION_KINDS else None)
        if option is None and line.symbol and is_core(line.symbol):
            # The core money-market fund is cash: buying into it is a sweep, not a position.
            self.cash(line, rule, CashKind.INTERNAL_TRANSFER, "SWEEP", FlowScope.NONE)
            return
        if option is None and not line.symbol:
            self.other(line, "trade row without a symbol")
            return
        if line.quantity is None or line.quantity == 0:
            self.other(line, "trade row without a quantity")
            return
        instrument = option.instrument if option else security(line.symbol, line.description)
        review = rule.needs_review or (option is not None and not option.standard)
        shares = deliverable_shares(line.normalized)
        if option is not None and shares is not None and shares != 100:
            review = True
        quantity = abs(line.quantity) if kind in BUYING else -abs(line.quantity)
        fees = line.commission + line.fees
        price = line.price
        if price is None:
            price = (
                ZERO
                if line.amount is None
                else abs((line.amount - fees) / (quantity * instrument.multiplier))
            )
        cash = trade_cash(quantity, price, instrument.multiplier, line.amount, fees)
        if line.accrued:
            review = True  # accrued interest sits inside Amount; bonds are not split out yet
        record = TradeRecord(
            account=line.account,
            natural_key=self.key(line, "trade", kind.value, instrument),
            instrument=instrument,
            kind=kind,
            side="BUY" if quantity > 0 else "SELL",
            trade_date=line.run_date,
            quantity=quantity,
            price=abs(price),
            gross_amount=cash.gross,
            net_amount=cash.net,
            currency="USD",
            commission=line.commission,
            other_fees=line.fees,
            settle_date=line.settle_date,
            open_close=("O" if kind in (TradeKind.BUY_TO_OPEN, TradeKind.SELL_TO_OPEN) else "C")
            if kind in OPTION_KINDS
            else None,
            dividend_reinvestment=rule.number == 12,
            needs_review=review or not cash.consistent,
            raw_type=rule.label,
            description=_text(line),
        )
        if not cash.consistent:
            self.batch.warnings.append(
                f"{self.filename}, line {line.row.line}: amount {line.amount} does not match "
                f"quantity x price; kept the amount and flagged the trade for review."
            )
        self.batch.trades.append(record)
        if rule.underlying_of_event:
            self.underlying_trades.append(record)

    def option_event(self, line: _Line, rule: Rule, kind: TradeKind) -> None:
        option = self.option(line) or parse_option_action(line.normalized)
        if option is None or line.quantity is None or line.quantity == 0:
            self.other(line, "option event without a contract or quantity")
            return
        instrument = option.instrument
        quantity = line.quantity
        # A writer's assignment closes a short (+N); a holder's exercise closes a long (-N).
        wrong_sign = (kind is TradeKind.OPTION_ASSIGNMENT and quantity < 0) or (
            kind is TradeKind.OPTION_EXERCISE and quantity > 0
        )
        review = rule.needs_review or not option.standard or wrong_sign
        trade, event = option_close(
            account=line.account,
            instrument=instrument,
            kind=kind,
            day=line.run_date,
            quantity=quantity,
            amount=line.amount,
            settle_date=line.settle_date,
            trade_key=self.key(line, "trade", kind.value, instrument),
            event_key=self.key(line, "option_event", OPTION_EVENT_KINDS[kind].value, instrument),
            needs_review=review,
            raw_type=rule.label,
            description=_text(line),
        )
        self.batch.trades.append(trade)
        self.batch.option_events.append(event)

    def cash(
        self,
        line: _Line,
        rule: Rule,
        kind: CashKind,
        subkind: str | None,
        flow_scope: FlowScope,
        *,
        review: bool = False,
    ) -> None:
        if line.amount is None:
            self.other(line, "cash row without an amount")
            return
        instrument = None
        if line.symbol and not is_core(line.symbol):
            option = self.option(line)
            instrument = option.instrument if option else security(line.symbol, line.description)
        expected = EXPECTED_SIGN.get(kind)
        wrong_sign = expected is not None and line.amount != 0 and (line.amount > 0) != (expected > 0)
        if kind is CashKind.FEE and "ADR" in line.normalized:
            subkind = "ADR"
        self.batch.cash.append(
            CashRecord(
                account=line.account,
                natural_key=self.key(line, "cash", kind.value, instrument),
                kind=kind,
                amount=line.amount,
                currency="USD",
                posted_date=line.run_date,
                instrument=instrument,
                subkind=subkind,
                settle_date=line.settle_date,
                flow_scope=flow_scope,
                needs_review=review or rule.needs_review or wrong_sign,
                raw_type=rule.label,
                description=_text(line),
            )
        )

    def transfer(self, line: _Line, rule: Rule) -> None:
        incoming = "RECEIVE" in rule.label
        if not line.symbol or line.quantity is None:
            # A cash-only ACAT row is money crossing the portfolio boundary (taxonomy §3.4 row 24).
            amount = line.amount or ZERO
            kind = CashKind.DEPOSIT if amount >= 0 else CashKind.WITHDRAWAL
            self.cash(line, rule, kind, "OTHER", FlowScope.EXTERNAL)
            return
        option = self.option(line)
        instrument = option.instrument if option else security(line.symbol, line.description)
        quantity = abs(line.quantity) if incoming else -abs(line.quantity)
        self.batch.transfers.append(
            TransferRecord(
                account=line.account,
                natural_key=self.key(line, "transfer", "IN" if incoming else "OUT", instrument),
                direction=TransferDirection.IN if incoming else TransferDirection.OUT,
                flow_scope=FlowScope.EXTERNAL,
                transfer_date=line.run_date,
                currency="USD",
                instrument=instrument,
                transfer_type="ACATS",
                quantity=quantity,
                value=line.amount,
                needs_review=rule.needs_review,
                raw_type=rule.label,
                description=_text(line),
            )
        )

    def corporate_action(self, line: _Line, rule: Rule, kind: CorporateActionKind) -> None:
        if kind is not CorporateActionKind.MERGER_CASH and not line.quantity:
            self.other(line, "corporate action without a share quantity")
            return
        if not line.symbol:
            self.other(line, "corporate action without a symbol")
            return
        instrument = security(line.symbol, line.description)
        ratio = None
        match = _RATIO.search(line.normalized)
        if match and kind in (CorporateActionKind.SPLIT, CorporateActionKind.REVERSE_SPLIT):
            ratio = Decimal(match[1]) / Decimal(match[2])
        self.batch.corporate_actions.append(
            CorporateActionRecord(
                account=line.account,
                natural_key=self.key(line, "corporate_action", kind.value, instrument),
                kind=kind,
                effective_date=line.run_date,
                instrument=instrument,
                ratio=ratio,
                quantity=line.quantity,
                amount=line.amount,
                currency="USD",
                effect={"quantity_is": "shares_added"} if ratio is None and line.quantity else {},
                needs_review=rule.needs_review,
                raw_type=rule.label,
                description=_text(line),
            )
        )

    def other(self, line: _Line, why: str) -> None:
        label = " ".join(line.normalized.split()[:3]) or "(blank action)"
        self.batch.unknown_types[label] += 1
        self.batch.cash.append(
            CashRecord(
                account=line.account,
                natural_key=self.key(line, "cash", CashKind.OTHER.value, None),
                kind=CashKind.OTHER,
                amount=line.amount or ZERO,
                currency="USD",
                posted_date=line.run_date,
                instrument=security(line.symbol) if line.symbol and not is_core(line.symbol) else None,
                subkind="UNKNOWN",
                settle_date=line.settle_date,
                needs_review=True,
                raw_type=label[:64],
                description=f"{_text(line)} [{why}]",
            )
        )

    # --- driver -------------------------------------------------------------------------------

    def add(self, line: _Line) -> None:
        rule = classify(line.action)
        if rule is None:
            self.other(line, "unrecognised action")
        elif rule.family is Family.TRADE and rule.trade_kind is not None:
            self.trade(line, rule, rule.trade_kind)
        elif rule.family is Family.OPTION_EVENT and rule.trade_kind is not None:
            self.option_event(line, rule, rule.trade_kind)
        elif rule.family is Family.CASH and rule.cash_kind is not None:
            self.cash(line, rule, rule.cash_kind, rule.subkind, rule.flow_scope)
        elif rule.family is Family.SIGNED_CASH and rule.cash_kind and rule.negative_kind:
            negative = line.amount is not None and line.amount < 0
            kind = rule.negative_kind if negative else rule.cash_kind
            self.cash(line, rule, kind, rule.subkind, rule.flow_scope)
        elif rule.family is Family.TRANSFER:
            self.transfer(line, rule)
        elif rule.family is Family.CORPORATE_ACTION and rule.corporate_kind is not None:
            self.corporate_action(line, rule, rule.corporate_kind)
        else:  # pragma: no cover - every rule names its kind
            self.other(line, "rule without a kind")

    def link_option_events(self) -> None:
        """Assignment/exercise <-> the stock leg: same account, Run Date and underlying (§4.2)."""
        for event in self.batch.option_events:
            if event.kind is OptionEventKind.EXPIRATION:
                continue
            matches = [
                t
                for t in self.underlying_trades
                if t.account == event.account
                and t.trade_date == event.event_date
                and t.instrument.symbol == event.underlying_symbol
            ]
            if len(matches) == 1:
                event.underlying_trade_key = matches[0].natural_key
            else:
                event.needs_review = True


def parse_activity(rows: Sequence[CsvRow], header: Header, start: int, filename: str) -> Batch:
    parser = ActivityParser(filename)
    date_col = header.index["run date"]

    def is_data(row: CsvRow) -> bool:
        return len(row.cells) > date_col and try_date(row.cells[date_col], DATE_FORMATS) is not None

    accounts: dict[str, AccountInfo] = {}
    dates: list[date] = []
    for raw in data_rows(rows, start, is_data, filename):
        row = Row(header, raw, filename)
        line = _read(row)
        if line.account != UNSPECIFIED_ACCOUNT and line.account not in accounts:
            number, alias = account_of(row)
            accounts[number] = AccountInfo(external_account_id=number, alias=alias)
        dates.append(line.run_date)
        parser.add(line)
    parser.link_option_events()
    link_reinvestments(parser.batch.cash, parser.batch.trades)
    batch = parser.batch
    batch.accounts = list(accounts.values())
    if dates:
        batch.sections.add("activity")
        batch.period_start, batch.period_end = min(dates), max(dates)
    else:
        batch.missing_sections.add("activity")
    return batch
