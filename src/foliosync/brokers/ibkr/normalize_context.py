"""State shared by the Flex section normalizers while one response is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from foliosync.brokers.ibkr.normalize_instruments import InstrumentBook
from foliosync.ledger.keys import KeyFields, OccurrenceKeys
from foliosync.ledger.records import Batch, InstrumentRef, TradeRecord
from foliosync.ledger.taxonomy import Broker, SourceFormat

# Natural keys are stored in a String(160) column; fallback keys are "h:" + sha256 + "#n".
MAX_KEY = 160


@dataclass
class Statement:
    """The FlexStatement being read: whose it is and the period it covers."""

    account: str
    from_date: date | None = None
    to_date: date | None = None
    when_generated: datetime | None = None
    row_account_mismatches: int = 0


@dataclass
class PendingCancel:
    """A cancel or correction row, waiting to be paired with the fill it voids (taxonomy §4.6)."""

    record: TradeRecord
    orig_transaction_id: str | None
    orig_trade_id: str | None
    correction: bool


@dataclass
class BookTradeRef:
    """Enough of a BookTrade row (option exercise/assignment/expiry booking) to link OptionEAE."""

    key: str
    account: str
    trade_id: str | None
    conid: str | None
    trade_date: date
    quantity: str
    is_option: bool


@dataclass
class FlexContext:
    filename: str
    batch: Batch = field(default_factory=lambda: Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML))
    instruments: InstrumentBook = field(default_factory=InstrumentBook)
    keys: OccurrenceKeys = field(default_factory=OccurrenceKeys)
    statement: Statement = field(default_factory=lambda: Statement(account=""))
    # Trades still in memory, by (account, transactionID) and (account, tradeID), for cancel pairing.
    trades_by_txid: dict[tuple[str, str], TradeRecord] = field(default_factory=dict)
    trades_by_trade_id: dict[tuple[str, str], TradeRecord] = field(default_factory=dict)
    # Keys only (kept when trades are flushed in chunks): tradeID -> natural key, for links.
    trade_key_by_trade_id: dict[tuple[str, str], str] = field(default_factory=dict)
    # When a streaming plan knows which tradeIDs other rows name (flex_prescan), only those are
    # kept above: 100k trades' keys would otherwise be ~26 MB held to the end for a few links.
    linked_trade_ids: frozenset[str] | None = None
    pending_cancels: list[PendingCancel] = field(default_factory=list)
    book_trades: list[BookTradeRef] = field(default_factory=list)
    # (reportDate, fromCurrency) -> rate into the base currency (ConversionRates).
    fx_rates: dict[tuple[date, str], str] = field(default_factory=dict)
    ignored_rows: dict[str, int] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.statement.account

    def unknown(self, label: str) -> None:
        """An unmapped raw type: counted for the import summary (the record goes in as OTHER)."""
        self.batch.unknown_types[label] += 1

    def warn(self, text: str) -> None:
        if text not in self.batch.warnings:
            self.batch.warnings.append(text)

    def ignore(self, label: str) -> None:
        self.ignored_rows[label] = self.ignored_rows.get(label, 0) + 1

    def fallback_key(
        self,
        family: str,
        posting_date: date,
        kind: str,
        raw_action: str,
        instrument: InstrumentRef | None,
        **values: object,
    ) -> str:
        """The content-hash key of taxonomy §2.3 for a row without a broker id."""
        fields = KeyFields(
            account=self.account,
            family=family,
            posting_date=posting_date,
            kind=kind,
            raw_action=raw_action,
            instrument=instrument.key if instrument is not None else "",
            **values,  # type: ignore[arg-type]
        )
        return "h:" + self.keys.key(fields)
