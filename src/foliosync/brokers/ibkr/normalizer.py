"""Raw Flex rows -> one canonical `Batch` (pure: no I/O, no database).

`FlexNormalizer` takes the events of `flex_parser.iter_flex_events` one at a time and dispatches
each row to its section's normalizer (normalize_trades, normalize_cash, normalize_positions,
normalize_events). `finish()` then runs the steps that need the whole response: pairing cancels,
linking withholding to dividends and option events to their bookings, grouping corporate-action
legs, summing LOT rows into positions, enriching instruments from SecuritiesInfo, and filling
`fx_rate_to_base` from ConversionRates.

Missing sections (`Batch.missing_sections`) are reported only when the absence means data is
lost, never merely because a user left a section out of a query:
1. inside one response, a section that one FlexStatement has and another lacks (IBKR writes an
   empty container for a selected section, so the other account's data is missing);
2. for scheduled syncs, the sections the project's Flex query set-up requires
   (`SYNC_REQUIRED_SECTIONS`): without them positions, cash or corporate actions go stale.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

from foliosync.brokers.ibkr.flex_parser import (
    FlexEvent,
    FlexRow,
    ParseNote,
    StatementEnd,
    StatementStart,
    iter_flex_events,
)
from foliosync.brokers.ibkr.flex_values import (
    FlexValueError,
    attr_date,
    attr_datetime,
    attr_text,
    clean,
    end_of_day_utc,
)
from foliosync.brokers.ibkr.normalize_cash import link_cash, normalize_cash_row
from foliosync.brokers.ibkr.normalize_context import FlexContext, Statement
from foliosync.brokers.ibkr.normalize_events import (
    EventCollector,
    group_corporate_actions,
    link_option_events,
    normalize_corporate_action,
    normalize_option_eae,
    normalize_transfer,
)
from foliosync.brokers.ibkr.normalize_positions import (
    SnapshotCollector,
    normalize_cash_report,
    normalize_change_in_nav,
    normalize_equity_summary,
    normalize_interest_accrual,
    normalize_open_position,
)
from foliosync.brokers.ibkr.normalize_trades import normalize_trades_row, pair_cancellations
from foliosync.errors import ImportFileError
from foliosync.ledger.records import AccountInfo, Batch, TradeRecord

SYNC_REQUIRED_SECTIONS = frozenset(
    {"Trades", "OpenPositions", "CashTransactions", "CashReport", "CorporateActions", "Transfers"}
)
# Sections read on purpose for nothing: they repeat or pre-announce what other sections post
# (taxonomy §2.2, §4.4), or hold reports that are not ledger entries.
INFORMATIONAL_SECTIONS = frozenset(
    {
        "FxTransactions",  # realized FX P&L view of Trades: posting it double-counts
        "ChangeInDividendAccruals",  # accruals are not cash
        "OpenDividendAccruals",
        "TierInterestDetails",
        "PriorPeriodPositions",
        "ChangeInPositionValues",
        "MTMPerformanceSummaryInBase",
        "FIFOPerformanceSummaryInBase",
        "MTDYTDPerformanceSummary",
        "FxPositions",
        "UnbundledCommissionDetails",
        "TransactionTaxes",
        "SalesTaxes",
        "StmtFunds",  # repeats Trades and CashTransactions as a running ledger
        "TradeConfirms",  # Trade Confirmation rows repeat the executions in Trades
    }
)

Handler = Callable[[FlexRow], None]


@dataclass
class _AccountFacts:
    base_currency: str | None = None
    alias: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    rate_targets: Counter[str] = field(default_factory=Counter)


class FlexNormalizer:
    """Turns the events of one Flex response into a Batch. One instance per response."""

    def __init__(self, filename: str, *, expected_sections: Iterable[str] = ()) -> None:
        self.ctx = FlexContext(filename=filename)
        self.expected_sections = frozenset(expected_sections)
        self.snapshots = SnapshotCollector()
        self.events = EventCollector()
        self.accounts: dict[str, _AccountFacts] = {}
        self.statements: list[tuple[str, frozenset[str]]] = []
        self.unread_sections: set[str] = set()
        self.periods: list[Statement] = []
        ctx, snapshots, events = self.ctx, self.snapshots, self.events
        self.handlers: dict[str, Handler] = {
            "Trades": lambda row: normalize_trades_row(row, ctx),
            "CashTransactions": lambda row: normalize_cash_row(row, ctx),
            "OpenPositions": lambda row: normalize_open_position(row, ctx, snapshots),
            "EquitySummaryInBase": lambda row: normalize_equity_summary(row, ctx, snapshots),
            "CashReport": lambda row: normalize_cash_report(row, ctx, snapshots),
            "InterestAccruals": lambda row: normalize_interest_accrual(row, ctx, snapshots),
            "ChangeInNAV": lambda row: normalize_change_in_nav(row, ctx, snapshots),
            "OptionEAE": lambda row: normalize_option_eae(row, ctx, events),
            "CorporateActions": lambda row: normalize_corporate_action(row, ctx, events),
            "Transfers": lambda row: normalize_transfer(row, ctx),
            "SecuritiesInfo": lambda row: ctx.instruments.add_security_info(row.attrs),
            "ConversionRates": self._conversion_rate,
            "AccountInformation": self._account_information,
        }

    # --- events ---------------------------------------------------------------------------------

    def feed(self, event: FlexEvent) -> None:
        if isinstance(event, FlexRow):
            handler = self.handlers.get(event.section)
            if handler is None:
                if event.section not in INFORMATIONAL_SECTIONS:
                    self.unread_sections.add(event.section)
                return
            self._check_row_account(event)
            try:
                handler(event)
            except FlexValueError as exc:
                raise ImportFileError(
                    f"<{event.tag}>: {exc}", filename=self.ctx.filename, line=event.line, hint=exc.hint
                ) from None
        elif isinstance(event, StatementStart):
            self._start_statement(event)
        elif isinstance(event, StatementEnd):
            self.statements.append((event.account, event.sections))
            self.ctx.batch.sections |= event.sections
            if self.ctx.statement.row_account_mismatches:
                self.ctx.warn(
                    f"{self.ctx.statement.row_account_mismatches} row(s) in the statement of {event.account} "
                    "name another account; they were imported under the statement's account"
                )
        elif isinstance(event, ParseNote):
            self.ctx.warn(event.text)

    def _start_statement(self, event: StatementStart) -> None:
        a = event.attrs
        try:
            statement = Statement(
                account=event.account,
                from_date=attr_date(a, "fromDate"),
                to_date=attr_date(a, "toDate"),
                when_generated=attr_datetime(a, "whenGenerated"),
            )
        except FlexValueError as exc:
            raise ImportFileError(
                f"<FlexStatement>: {exc}", filename=self.ctx.filename, line=event.line, hint=exc.hint
            ) from None
        self.ctx.statement = statement
        self.periods.append(statement)
        self.accounts.setdefault(event.account, _AccountFacts())

    def _check_row_account(self, row: FlexRow) -> None:
        own = row.attrs.get("accountId")
        if own is not None and own != row.account and clean(own) is not None:
            self.ctx.statement.row_account_mismatches += 1

    def _account_information(self, row: FlexRow) -> None:
        a = row.attrs
        facts = self.accounts.setdefault(row.account, _AccountFacts())
        currency = attr_text(a, "currency", 8)
        if currency:
            facts.base_currency = currency.upper()
            facts.details["base_currency_source"] = "AccountInformation"
        facts.alias = attr_text(a, "acctAlias", 128) or facts.alias
        # Non-personal facts only: no names, addresses or e-mails leave the statement.
        for attr, name in (
            ("accountType", "account_type"),
            ("customerType", "customer_type"),
            ("accountCapabilities", "capabilities"),
            ("ibEntity", "ib_entity"),
        ):
            value = attr_text(a, attr, 64)
            if value:
                facts.details[name] = value
        for attr, name in (
            ("dateOpened", "date_opened"),
            ("dateFunded", "date_funded"),
            ("dateClosed", "date_closed"),
        ):
            day = attr_date(a, attr)
            if day:
                facts.details[name] = day.isoformat()

    def _conversion_rate(self, row: FlexRow) -> None:
        a = row.attrs
        day = attr_date(a, "reportDate")
        source = attr_text(a, "fromCurrency")
        target = attr_text(a, "toCurrency")
        rate = clean(a.get("rate"))
        if day and source and rate:
            self.ctx.fx_rates[(day, source.upper())] = rate
        if target:
            self.accounts.setdefault(row.account, _AccountFacts()).rate_targets[target.upper()] += 1

    # --- streaming ------------------------------------------------------------------------------

    def drain_trades(self) -> list[TradeRecord]:
        """Hand over the trades read so far (for chunked writing of very large statements).

        Cancels are paired among the trades in hand first; a cancel whose original was drained
        earlier stays POSTED and nets against it (see normalize_trades). Trades handed over here
        miss SecuritiesInfo enrichment that arrives later in the file.
        """
        pair_cancellations(self.ctx)
        trades = self.ctx.batch.trades
        self.ctx.batch.trades = []
        self.ctx.trades_by_txid.clear()
        self.ctx.trades_by_trade_id.clear()
        return trades

    # --- whole-response steps -------------------------------------------------------------------

    def finish(self) -> Batch:
        ctx = self.ctx
        batch = ctx.batch
        pair_cancellations(ctx)
        link_cash(ctx)
        link_option_events(ctx, self.events)
        group_corporate_actions(self.events)
        positions, balances = self.snapshots.finish()
        batch.positions.extend(positions)
        batch.balances.extend(balances)
        self._enrich()
        batch.accounts = [self._account_info(number, facts) for number, facts in self.accounts.items()]
        self._fill_fx_rates()
        self._period()
        self._missing_sections()
        if self.unread_sections:
            ctx.warn("rows of these sections are not imported: " + ", ".join(sorted(self.unread_sections)))
        return batch

    def _enrich(self) -> None:
        enrich = self.ctx.instruments.enrich
        batch = self.ctx.batch
        for family in (
            batch.trades,
            batch.cash,
            batch.lots,
            batch.positions,
            batch.transfers,
            batch.option_events,
            batch.corporate_actions,
        ):
            for record in family:
                if record.instrument is not None:
                    record.instrument = enrich(record.instrument)

    def _base_currency(self, number: str, facts: _AccountFacts) -> tuple[str, str]:
        if facts.base_currency:
            return facts.base_currency, "AccountInformation"
        if len(facts.rate_targets) == 1:  # ConversionRates convert into the base currency
            return next(iter(facts.rate_targets)), "ConversionRates"
        ones = {
            record.currency
            for family in (self.ctx.batch.trades, self.ctx.batch.cash)
            for record in family
            if record.account == number and record.fx_rate_to_base == 1
        }
        if len(ones) == 1:  # fxRateToBase is exactly 1 only for the base currency
            return ones.pop(), "fxRateToBase"
        return "USD", "unknown"

    def _account_info(self, number: str, facts: _AccountFacts) -> AccountInfo:
        base, source = self._base_currency(number, facts)
        facts.base_currency = base
        details = dict(facts.details)
        details["base_currency_source"] = source
        return AccountInfo(external_account_id=number, base_currency=base, alias=facts.alias, details=details)

    def _fill_fx_rates(self) -> None:
        rates = self.ctx.fx_rates
        bases = {number: facts.base_currency for number, facts in self.accounts.items()}

        def rate(account: str, currency: str, day: date) -> str | None:
            if bases.get(account) == currency:
                return "1"
            return rates.get((day, currency))

        batch = self.ctx.batch
        for trade in batch.trades:
            if trade.fx_rate_to_base is None and (
                found := rate(trade.account, trade.currency, trade.trade_date)
            ):
                trade.fx_rate_to_base = Decimal(found)
        for cash in batch.cash:
            if cash.fx_rate_to_base is None and (
                found := rate(cash.account, cash.currency, cash.posted_date)
            ):
                cash.fx_rate_to_base = Decimal(found)
        for position in batch.positions:
            if position.fx_rate_to_base is None and (
                found := rate(position.account, position.currency, position.as_of_date)
            ):
                position.fx_rate_to_base = Decimal(found)

    def _period(self) -> None:
        batch = self.ctx.batch
        starts = [s.from_date for s in self.periods if s.from_date]
        ends = [s.to_date for s in self.periods if s.to_date]
        batch.period_start = min(starts) if starts else None
        batch.period_end = max(ends) if ends else None
        if batch.period_end is not None:
            covers: datetime = end_of_day_utc(batch.period_end)
            generated = [s.when_generated for s in self.periods if s.when_generated]
            if generated and max(generated) < covers:
                covers = max(generated)
            batch.covers_until = covers

    def _missing_sections(self) -> None:
        everywhere = set().union(*(sections for _, sections in self.statements)) if self.statements else set()
        for account, sections in self.statements:
            for section in sorted((everywhere - sections) | (self.expected_sections - sections)):
                self.ctx.batch.missing_sections.add(f"{section} (account {account or 'unnamed'})")


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Reading a statement allocates millions of small acyclic objects (attribute dicts, Decimals,
    records). The cyclic collector's passes over them cost ~15% of a large import and never find
    garbage, so it waits until the statement is read. Nesting and threads are safe: only the
    caller that found it enabled turns it back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_flex(source: bytes | BinaryIO, filename: str, *, expected_sections: Iterable[str] = ()) -> Batch:
    """Read a whole Flex response into one Batch (ImportFileError for anything unreadable)."""
    normalizer = FlexNormalizer(filename, expected_sections=expected_sections)
    with cyclic_gc_paused():
        for event in iter_flex_events(source, filename):
            normalizer.feed(event)
        return normalizer.finish()
