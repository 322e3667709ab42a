"""Canonical record types: what every broker normalizer returns and the ledger writer stores.

Records name their account by the broker's account number (`account`) and their instrument by an
`InstrumentRef`; the writer resolves both to foreign keys. Money and quantities are Decimal,
times tz-aware UTC, trade dates the exchange's local date. Signs follow docs/ledger.md: amounts
> 0 are money into the account, quantities > 0 add to the holding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from foliosync.ledger.instruments import instrument_key
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    CorporateActionKind,
    FlowScope,
    LotOrigin,
    LotStatus,
    OptionEventKind,
    RecordStatus,
    SourceFormat,
    TradeKind,
    TransferDirection,
)

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(slots=True, frozen=True)
class InstrumentRef:
    asset_category: AssetCategory
    symbol: str
    currency: str = "USD"
    description: str | None = None
    exchange: str | None = None
    conid: str | None = None
    isin: str | None = None
    cusip: str | None = None
    figi: str | None = None
    underlying_symbol: str | None = None
    underlying_conid: str | None = None
    strike: Decimal | None = None
    expiry: date | None = None
    put_call: str | None = None  # "C" / "P"
    multiplier: Decimal = ONE
    sector: str | None = None

    @property
    def key(self) -> str:
        return instrument_key(self)


@dataclass(slots=True, frozen=True)
class AccountInfo:
    """An account found in a payload: a Flex statement, a TastyTrade login, a CSV's account column."""

    external_account_id: str
    base_currency: str = "USD"
    alias: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TradeRecord:
    account: str
    natural_key: str
    instrument: InstrumentRef
    kind: TradeKind
    side: str  # BUY / SELL
    trade_date: date
    quantity: Decimal  # signed change in holding
    price: Decimal  # >= 0, per unit, before the multiplier
    gross_amount: Decimal  # -quantity * price * multiplier
    net_amount: Decimal  # gross + fees
    currency: str
    commission: Decimal = ZERO
    regulatory_fees: Decimal = ZERO
    other_fees: Decimal = ZERO
    fee_currency: str | None = None
    settle_date: date | None = None
    executed_at: datetime | None = None
    fx_rate_to_base: Decimal | None = None
    cost_basis: Decimal | None = None
    realized_pnl: Decimal | None = None
    open_close: str | None = None
    broker_trade_id: str | None = None
    broker_order_id: str | None = None
    broker_exec_id: str | None = None
    original_key: str | None = None
    dividend_reinvestment: bool = False
    forced_liquidation: bool = False
    notes: str | None = None
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class CashRecord:
    account: str
    natural_key: str
    kind: CashKind
    amount: Decimal  # signed: > 0 money in
    currency: str
    posted_date: date
    instrument: InstrumentRef | None = None
    subkind: str | None = None
    posted_at: datetime | None = None
    settle_date: date | None = None
    ex_date: date | None = None
    pay_date: date | None = None
    fx_rate_to_base: Decimal | None = None
    flow_scope: FlowScope = FlowScope.NONE
    action_id: str | None = None
    related_key: str | None = None
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class LotRecord:
    account: str
    natural_key: str
    instrument: InstrumentRef
    lot_status: LotStatus
    origin: LotOrigin
    quantity: Decimal  # signed; short lots negative
    currency: str
    cost_basis: Decimal | None = None
    as_of_date: date | None = None
    opened_at: datetime | None = None
    open_date: date | None = None
    closed_at: datetime | None = None
    close_date: date | None = None
    proceeds: Decimal | None = None
    realized_pnl: Decimal | None = None
    closing_trade_key: str | None = None
    opening_trade_key: str | None = None
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class PositionRecord:
    account: str
    instrument: InstrumentRef
    as_of_date: date
    as_of: datetime
    quantity: Decimal  # signed; short negative
    currency: str
    cost_basis: Decimal | None = None
    mark_price: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    fx_rate_to_base: Decimal | None = None


@dataclass(slots=True)
class BalanceRecord:
    account: str
    as_of_date: date
    currency: str  # an ISO code, or "BASE" for the base-currency summary
    cash: Decimal | None = None
    net_liquidation: Decimal | None = None
    buying_power: Decimal | None = None
    maintenance_margin: Decimal | None = None
    components: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class TransferRecord:
    account: str
    natural_key: str
    direction: TransferDirection
    flow_scope: FlowScope
    transfer_date: date
    currency: str
    instrument: InstrumentRef | None = None
    transfer_type: str | None = None
    is_cash: bool = False
    quantity: Decimal | None = None
    value: Decimal | None = None
    counterparty: str | None = None
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class OptionEventRecord:
    account: str
    natural_key: str
    instrument: InstrumentRef  # the option
    kind: OptionEventKind
    event_date: date
    quantity: Decimal
    underlying_symbol: str | None = None
    option_trade_key: str | None = None
    underlying_trade_key: str | None = None
    realized_pnl: Decimal | None = None
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class CorporateActionRecord:
    account: str
    natural_key: str
    kind: CorporateActionKind
    effective_date: date
    instrument: InstrumentRef | None = None
    action_id: str | None = None
    ratio: Decimal | None = None  # new / old
    quantity: Decimal | None = None
    amount: Decimal | None = None
    currency: str | None = None
    effect: dict[str, Any] = field(default_factory=dict)
    status: RecordStatus = RecordStatus.POSTED
    needs_review: bool = False
    raw_type: str | None = None
    raw_subtype: str | None = None
    description: str | None = None


@dataclass(slots=True)
class RawPayloadRef:
    """A payload to archive with the batch (the statement file, an API page...)."""

    kind: str
    content: bytes
    source_name: str | None = None
    account: str | None = None


RECORD_FAMILIES = (
    "trades",
    "cash",
    "lots",
    "positions",
    "balances",
    "transfers",
    "option_events",
    "corporate_actions",
)


@dataclass
class Batch:
    """Everything one fetch or import produced, ready for the ledger writer.

    `sections` names the sections the source delivered (an empty one makes the sync PARTIAL);
    `unknown_types` counts raw types that mapped to OTHER, for the import summary.
    """

    broker: Broker
    source: SourceFormat
    accounts: list[AccountInfo] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)
    cash: list[CashRecord] = field(default_factory=list)
    lots: list[LotRecord] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    balances: list[BalanceRecord] = field(default_factory=list)
    transfers: list[TransferRecord] = field(default_factory=list)
    option_events: list[OptionEventRecord] = field(default_factory=list)
    corporate_actions: list[CorporateActionRecord] = field(default_factory=list)
    raw_payloads: list[RawPayloadRef] = field(default_factory=list)
    sections: set[str] = field(default_factory=set)
    missing_sections: set[str] = field(default_factory=set)
    unknown_types: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    # The point in time the batch safely covers; the account's cursor moves here after commit.
    covers_until: datetime | None = None
    period_start: date | None = None
    period_end: date | None = None

    def extend(self, other: Batch) -> None:
        """Merge another batch of the same broker (pages, several files)."""
        self.accounts.extend(a for a in other.accounts if a not in self.accounts)
        for name in (
            "trades",
            "cash",
            "lots",
            "positions",
            "balances",
            "transfers",
            "option_events",
            "corporate_actions",
            "raw_payloads",
            "warnings",
        ):
            getattr(self, name).extend(getattr(other, name))
        self.sections |= other.sections
        self.missing_sections |= other.missing_sections
        self.unknown_types.update(other.unknown_types)
        if other.covers_until and (self.covers_until is None or other.covers_until > self.covers_until):
            self.covers_until = other.covers_until
        # Several files together cover from the earliest start to the latest end.
        if other.period_start and (self.period_start is None or other.period_start < self.period_start):
            self.period_start = other.period_start
        if other.period_end and (self.period_end is None or other.period_end > self.period_end):
            self.period_end = other.period_end

    def for_account(self, number: str) -> Batch:
        """The part of this batch that belongs to one account (raw payloads excluded)."""
        part = Batch(
            broker=self.broker,
            source=self.source,
            sections=set(self.sections),
            missing_sections=set(self.missing_sections),
            covers_until=self.covers_until,
            period_start=self.period_start,
            period_end=self.period_end,
        )
        part.accounts = [a for a in self.accounts if a.external_account_id == number]
        for name in RECORD_FAMILIES:
            setattr(part, name, [r for r in getattr(self, name) if r.account == number])
        return part

    def account_numbers(self) -> list[str]:
        seen = dict.fromkeys(a.external_account_id for a in self.accounts)
        for name in RECORD_FAMILIES:
            for record in getattr(self, name):
                seen.setdefault(record.account)
        return list(seen)

    def record_count(self) -> int:
        return sum(len(getattr(self, n)) for n in RECORD_FAMILIES)
