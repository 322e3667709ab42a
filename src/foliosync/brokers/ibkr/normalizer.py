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
from foliosync.brokers.ibkr.flex_prescan import StreamPlan
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
from foliosync.ledger.records import AccountInfo, Batch, InstrumentRef, TradeRecord

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
        # Streaming (drain_settled_trades): what handed-over trades contributed to whole-response steps.
        self._drained_fx: dict[tuple[str, str, date], str | None] = {}
        self._drained_ones: dict[str, set[str]] = {}
        self._drained_refs: dict[int, InstrumentRef] = {}
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

    def drain_settled_trades(self, plan: StreamPlan) -> list[TradeRecord]:
        """Hand over the trades read so far that nothing later in the file can change, so a very
        large statement can be written in chunks (flex_prescan explains what can change a trade).

        Held back (kept for `finish`): pending cancels/corrections, fills that some cancel row in
        the file names as its original, and trades without fxRateToBase while their account's base
        currency or the conversion rates may still change. Handed-over trades get `fxRateToBase`
        filled now, exactly as `finish` would; `finish` checks that it would have agreed.
        """
        ctx = self.ctx
        held: set[int] = {id(pending.record) for pending in ctx.pending_cancels}
        referenced = plan.referenced_ids
        if referenced:
            for index in (ctx.trades_by_txid, ctx.trades_by_trade_id):
                for (_account, raw_id), record in index.items():
                    if raw_id in referenced:
                        held.add(id(record))
        settled: dict[str, bool] = {}
        bases: dict[str, str] = {}
        drained: list[TradeRecord] = []
        kept: list[TradeRecord] = []
        for trade in ctx.batch.trades:
            if id(trade) in held:
                kept.append(trade)
                continue
            if trade.fx_rate_to_base is None:
                account = trade.account
                if account not in settled:
                    settled[account] = self._base_is_final(account, plan)
                    if settled[account]:
                        bases[account] = self._base_currency(account, self._facts(account))[0]
                if not settled[account]:
                    kept.append(trade)
                    continue
                found = self._rate_for(bases, account, trade.currency, trade.trade_date)
                self._drained_fx[(account, trade.currency, trade.trade_date)] = found
                if found is not None:
                    trade.fx_rate_to_base = Decimal(found)
            elif trade.fx_rate_to_base == 1:
                self._drained_ones.setdefault(trade.account, set()).add(trade.currency)
            if trade.instrument is not None:
                self._drained_refs.setdefault(id(trade.instrument), trade.instrument)
            drained.append(trade)
        if not drained:
            return drained
        ctx.batch.trades = kept
        keep = {id(record) for record in kept}
        ctx.trades_by_txid = {k: r for k, r in ctx.trades_by_txid.items() if id(r) in keep}
        ctx.trades_by_trade_id = {k: r for k, r in ctx.trades_by_trade_id.items() if id(r) in keep}
        return drained

    def _facts(self, account: str) -> _AccountFacts:
        return self.accounts.get(account) or _AccountFacts()

    def _base_is_final(self, account: str, plan: StreamPlan) -> bool:
        """Whether `_base_currency` can no longer change for this account (and the rates neither)."""
        if plan.late_account_facts:
            return False
        facts = self._facts(account)
        if facts.base_currency or len(facts.rate_targets) == 1:
            return True
        # Otherwise the base currency is inferred from `fxRateToBase == 1`, which later rows may change.
        return not plan.has_fx_rate_to_base

    def drained_instruments(self) -> list[InstrumentRef]:
        """After `finish`: instruments of handed-over trades that SecuritiesInfo enriched later."""
        enrich = self.ctx.instruments.enrich
        return [enriched for ref in self._drained_refs.values() if (enriched := enrich(ref)) is not ref]

    def _check_drained_fx(self) -> None:
        bases = {number: facts.base_currency or "" for number, facts in self.accounts.items()}
        for (account, currency, day), guessed in self._drained_fx.items():
            if self._rate_for(bases, account, currency, day) != guessed:
                raise ImportFileError(
                    "the statement could not be imported in streaming mode (a base currency or "
                    "conversion rate changed after trades were written)",
                    filename=self.ctx.filename,
                    hint="Import it through the web upload, or report this file to the foliosync developers.",
                )

    def _rate_for(self, bases: dict[str, str], account: str, currency: str, day: date) -> str | None:
        if bases.get(account) == currency:
            return "1"
        return self.ctx.fx_rates.get((day, currency))

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
        if self._drained_fx:
            self._check_drained_fx()
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
        } | self._drained_ones.get(number, set())
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
        bases = {number: facts.base_currency or "" for number, facts in self.accounts.items()}

        def rate(account: str, currency: str, day: date) -> str | None:
            return self._rate_for(bases, account, currency, day)

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
