"""One FIFO lot engine for every broker that does not report lots (shared taxonomy.md §6).

Input: canonical TradeRecords, plus CorporateActionRecords (splits, paired symbol changes and
mergers, spin-offs), TransferRecords (securities in and out) and OptionEventRecords (to fold the
premium of an assigned or exercised option into its stock trade). Output: open and closed
LotRecords with origin COMPUTED and realized P&L per (account, instrument).

Money conventions. A lot's `cost_basis` is the money paid to open it, fees included: positive for
a long lot, negative for a short lot (the premium or proceeds received). A closing slice's
`proceeds` is the cash the closing trade brought for that slice (negative when buying to cover).
`realized_pnl = proceeds - cost_basis` for both sides. Pro-rata shares of a trade's cash or a lot's
basis are rounded to 8 decimals and the last share takes the remainder, so totals stay exact.

Order within a day (a file does not say): corporate actions, transfers in, option
expirations/assignments/exercises, opening trades, closing trades, transfers out; then execution
time, then natural key. The result depends only on the records, not on their order in the input,
so the same input always gives the same lots and keys (idempotent re-computation).

Keys: an open lot is `lot:<opening trade key>`; a closed slice is `lot:` + sha256 of the lot key
and the closing key. A split keeps keys and open dates (quantity x ratio, total basis unchanged).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from foliosync.ledger.records import (
    ZERO,
    CorporateActionRecord,
    InstrumentRef,
    LotRecord,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    CorporateActionKind,
    LotOrigin,
    LotStatus,
    RecordStatus,
    TradeKind,
    TransferDirection,
)

STEP = Decimal("0.00000001")
MAX_KEY = 160
COUNTED = frozenset({RecordStatus.POSTED, RecordStatus.REVERSED})  # taxonomy §0 "status"
OPTION_EVENT_KINDS = frozenset(
    {
        TradeKind.OPTION_EXPIRATION,
        TradeKind.OPTION_ASSIGNMENT,
        TradeKind.OPTION_EXERCISE,
        TradeKind.OPTION_CASH_SETTLEMENT,
    }
)
OPENING_KINDS = frozenset(
    {TradeKind.BUY, TradeKind.SELL_SHORT, TradeKind.BUY_TO_OPEN, TradeKind.SELL_TO_OPEN}
)
# A closing kind never opens a lot with what is left over: that is missing history, not a new position.
CLOSING_KINDS = frozenset(
    {TradeKind.SELL, TradeKind.BUY_TO_COVER, TradeKind.BUY_TO_CLOSE, TradeKind.SELL_TO_CLOSE}
)
SPLIT_LIKE = frozenset(
    {CorporateActionKind.SPLIT, CorporateActionKind.REVERSE_SPLIT, CorporateActionKind.STOCK_DIVIDEND}
)
PAIRED = frozenset(
    {
        CorporateActionKind.SPLIT,
        CorporateActionKind.REVERSE_SPLIT,
        CorporateActionKind.SYMBOL_CHANGE,
        CorporateActionKind.MERGER_STOCK,
    }
)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _round(value: Decimal) -> Decimal:
    return value.quantize(STEP, rounding=ROUND_HALF_EVEN)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_lot_key(opening_key: str) -> str:
    key = f"lot:{opening_key}"
    return key if len(key) <= MAX_KEY else f"lot:{_digest(opening_key)}"


def closed_lot_key(lot_key: str, closing_key: str) -> str:
    return f"lot:{_digest(f'{lot_key}>{closing_key}')}"


@dataclass
class _Lot:
    key: str
    account: str
    instrument: InstrumentRef
    currency: str
    quantity: Decimal  # signed
    basis: Decimal | None  # money paid to open; None when unknown (a transfer in)
    open_date: date
    opening_key: str | None
    needs_review: bool = False


@dataclass
class LotResult:
    lots: list[LotRecord] = field(default_factory=list)
    realized: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (account, instrument key)
    warnings: list[str] = field(default_factory=list)

    def open_lots(self) -> list[LotRecord]:
        return [lot for lot in self.lots if lot.lot_status is LotStatus.OPEN]

    def closed_lots(self) -> list[LotRecord]:
        return [lot for lot in self.lots if lot.lot_status is LotStatus.CLOSED]


@dataclass(frozen=True)
class _Event:
    day: date
    phase: int
    at: datetime
    key: str
    record: TradeRecord | CorporateActionRecord | TransferRecord


def _trade_phase(trade: TradeRecord) -> int:
    if trade.kind in OPTION_EVENT_KINDS:
        return 2
    if trade.kind in CLOSING_KINDS:
        return 4
    return 3


class LotEngine:
    def __init__(self, option_events: Iterable[OptionEventRecord] = ()) -> None:
        self.books: dict[tuple[str, str], deque[_Lot]] = defaultdict(deque)
        self.result = LotResult()
        # option trade key -> underlying trade key, from linked assignments and exercises (§4.2)
        self.underlying_of = {
            (e.account, e.option_trade_key): e.underlying_trade_key
            for e in option_events
            if e.option_trade_key and e.underlying_trade_key and e.status in COUNTED
        }
        self.fold: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # premium to add to a trade's cash
        self.done_groups: set[tuple[str, str]] = set()
        self.actions: list[CorporateActionRecord] = []

    # --- bookkeeping --------------------------------------------------------------------------

    def _realize(self, account: str, instrument: InstrumentRef, pnl: Decimal | None) -> None:
        if pnl is None:
            return
        slot = (account, instrument.key)
        self.result.realized[slot] = self.result.realized.get(slot, ZERO) + pnl

    def _close_slice(
        self,
        lot: _Lot,
        take: Decimal,
        proceeds: Decimal | None,
        closing_key: str,
        close_date: date,
        *,
        realize: bool = True,
        review: bool = False,
    ) -> Decimal | None:
        """Close `take` units (> 0) of `lot`; returns the basis that left with them."""
        whole = take == abs(lot.quantity)
        part_basis: Decimal | None = None
        if lot.basis is not None:
            part_basis = lot.basis if whole else _round(lot.basis * take / abs(lot.quantity))
            lot.basis -= part_basis
        sign = 1 if lot.quantity > 0 else -1
        lot.quantity -= sign * take
        pnl = None
        if realize and proceeds is not None and part_basis is not None:
            pnl = proceeds - part_basis
        self._realize(lot.account, lot.instrument, pnl)
        self.result.lots.append(
            LotRecord(
                account=lot.account,
                natural_key=closed_lot_key(lot.key, closing_key),
                instrument=lot.instrument,
                lot_status=LotStatus.CLOSED,
                origin=LotOrigin.COMPUTED,
                quantity=sign * take,
                currency=lot.currency,
                cost_basis=part_basis,
                open_date=lot.open_date,
                close_date=close_date,
                proceeds=proceeds,
                realized_pnl=pnl,
                closing_trade_key=closing_key,
                opening_trade_key=lot.opening_key,
                needs_review=lot.needs_review or review or part_basis is None,
                raw_type="FIFO",
            )
        )
        return part_basis

    def _unmatched(self, trade: TradeRecord, quantity: Decimal, proceeds: Decimal) -> None:
        """A close with nothing (left) to close: history is missing before this file or sync."""
        self.result.warnings.append(
            f"{trade.instrument.key}: {trade.kind.value} of {abs(quantity)} on {trade.trade_date} closes more "
            "than the lots known; the history may start too late (seed lots from the broker)."
        )
        self.result.lots.append(
            LotRecord(
                account=trade.account,
                natural_key=f"lot:{_digest('unmatched>' + trade.natural_key)}",
                instrument=trade.instrument,
                lot_status=LotStatus.CLOSED,
                origin=LotOrigin.COMPUTED,
                quantity=-quantity,
                currency=trade.currency,
                close_date=trade.trade_date,
                proceeds=proceeds,
                closing_trade_key=trade.natural_key,
                needs_review=True,
                raw_type="FIFO",
            )
        )

    def _open(self, lot: _Lot) -> None:
        self.books[(lot.account, lot.instrument.key)].append(lot)

    # --- trades -------------------------------------------------------------------------------

    def trade(self, trade: TradeRecord) -> None:
        if trade.kind in (TradeKind.FX_CONVERSION,) or trade.quantity == 0:
            return
        if trade.kind in OPTION_EVENT_KINDS:
            self.option_close(trade)
            return
        book = self.books[(trade.account, trade.instrument.key)]
        cash = trade.net_amount + self.fold.pop((trade.account, trade.natural_key), ZERO)
        total = abs(trade.quantity)
        remaining = total
        allocated = ZERO
        sign = 1 if trade.quantity > 0 else -1
        while remaining > 0 and book and (book[0].quantity > 0) != (sign > 0):
            lot = book[0]
            take = min(abs(lot.quantity), remaining)
            remaining -= take
            share = cash - allocated if remaining == 0 else _round(cash * take / total)
            allocated += share
            self._close_slice(lot, take, share, trade.natural_key, trade.trade_date)
            if lot.quantity == 0:
                book.popleft()
        if remaining == 0:
            return
        rest = cash - allocated
        if trade.kind in CLOSING_KINDS:
            self._unmatched(trade, sign * remaining, rest)
            return
        self._open(
            _Lot(
                key=open_lot_key(trade.natural_key),
                account=trade.account,
                instrument=trade.instrument,
                currency=trade.currency,
                quantity=sign * remaining,
                basis=-rest,
                open_date=trade.trade_date,
                opening_key=trade.natural_key,
                needs_review=trade.needs_review,
            )
        )

    def option_close(self, trade: TradeRecord) -> None:
        """Expiration, assignment, exercise, cash settlement: close whatever side is open (§6.2).

        The file may not say whether an expiring option was long or short (Robinhood), so the
        open lots decide. Expiration realizes the premium; a linked assignment or exercise
        realizes nothing and moves the premium into the stock trade's cash (c - basis).
        """
        book = self.books[(trade.account, trade.instrument.key)]
        underlying = self.underlying_of.get((trade.account, trade.natural_key))
        folds = trade.kind in (TradeKind.OPTION_ASSIGNMENT, TradeKind.OPTION_EXERCISE)
        unlinked = folds and underlying is None
        if unlinked:
            self.result.warnings.append(
                f"{trade.instrument.key}: {trade.kind.value} on {trade.trade_date} has no linked stock trade; "
                "its premium is realized on the option instead of folded into the stock (review)."
            )
        total = abs(trade.quantity)
        remaining = total
        allocated = ZERO
        while remaining > 0 and book:
            lot = book[0]
            take = min(abs(lot.quantity), remaining)
            remaining -= take
            share = (
                trade.net_amount - allocated if remaining == 0 else _round(trade.net_amount * take / total)
            )
            allocated += share
            if folds and underlying is not None:
                left = self._close_slice(lot, take, None, trade.natural_key, trade.trade_date, realize=False)
                closed = self.result.lots[-1]
                if left is not None:
                    # No P&L on the option: its basis is carried into the stock trade (c - basis).
                    closed.proceeds, closed.realized_pnl = left, ZERO
                    self.fold[(trade.account, underlying)] += share - left
                else:
                    self.fold[(trade.account, underlying)] += share
            else:
                self._close_slice(lot, take, share, trade.natural_key, trade.trade_date, review=unlinked)
            if lot.quantity == 0:
                book.popleft()
        if remaining > 0:
            self._unmatched(
                trade, (1 if trade.quantity > 0 else -1) * remaining, trade.net_amount - allocated
            )

    # --- corporate actions --------------------------------------------------------------------

    def _rescale(self, lots: list[_Lot], new_total: Decimal) -> None:
        """Scale lot quantities to a new total, pro rata; basis and open dates do not change."""
        old_total = sum((lot.quantity for lot in lots), ZERO)
        assigned = ZERO
        for index, lot in enumerate(lots):
            if index == len(lots) - 1:
                lot.quantity = new_total - assigned
            else:
                lot.quantity = _round(lot.quantity * new_total / old_total)
                assigned += lot.quantity

    def corporate_action(self, action: CorporateActionRecord) -> None:
        if action.instrument is None:
            return
        if action.action_id and action.kind in PAIRED:
            self.paired(action)
        elif action.kind in SPLIT_LIKE:
            self.split(action)
        elif action.kind is CorporateActionKind.SPIN_OFF and action.quantity:
            self._open(
                _Lot(
                    key=open_lot_key(action.natural_key),
                    account=action.account,
                    instrument=action.instrument,
                    currency=action.currency or "USD",
                    quantity=action.quantity,
                    basis=ZERO,  # basis pending the issuer's allocation (taxonomy §6.1)
                    open_date=action.effective_date,
                    opening_key=action.natural_key,
                    needs_review=True,
                )
            )
            self.result.warnings.append(
                f"{action.instrument.key}: spin-off shares opened with basis 0 until the allocation is known."
            )
        else:
            self.result.warnings.append(
                f"{action.instrument.key}: {action.kind.value} on {action.effective_date} is not applied to lots."
            )

    def split(self, action: CorporateActionRecord) -> None:
        assert action.instrument is not None
        lots = list(self.books[(action.account, action.instrument.key)])
        held = sum((lot.quantity for lot in lots), ZERO)
        if held == 0:
            self.result.warnings.append(
                f"{action.instrument.key}: {action.kind.value} on {action.effective_date} with no lots held."
            )
            return
        if action.ratio is not None and action.ratio > 0:
            new_total = held * action.ratio
        elif action.quantity is not None:
            new_total = held + action.quantity  # the row gives the shares added (taxonomy §4.3)
        else:
            self.result.warnings.append(f"{action.instrument.key}: split without ratio or quantity.")
            return
        self._rescale(lots, new_total)

    def paired(self, action: CorporateActionRecord) -> None:
        """Old leg (-qty, old symbol or CUSIP) and new leg (+qty): move and rescale the lots."""
        group_id = (action.account, action.action_id or "")
        if group_id in self.done_groups:
            return
        self.done_groups.add(group_id)
        legs = [a for a in self.actions if (a.account, a.action_id) == group_id and a.instrument is not None]
        old = [a for a in legs if (a.quantity or ZERO) < 0]
        new = [a for a in legs if (a.quantity or ZERO) > 0]
        if len(old) != 1 or len(new) != 1:
            self.result.warnings.append(
                f"corporate action {action.action_id}: expected one old and one new leg."
            )
            return
        old_leg, new_leg = old[0], new[0]
        assert old_leg.instrument is not None and new_leg.instrument is not None
        source = self.books[(action.account, old_leg.instrument.key)]
        if not source:
            source = self.books[(action.account, new_leg.instrument.key)]
        lots = list(source)
        if not lots:
            self.result.warnings.append(
                f"{new_leg.instrument.key}: {action.kind.value} on {action.effective_date} with no lots held."
            )
            return
        held = sum((lot.quantity for lot in lots), ZERO)
        ratio = (new_leg.quantity or ZERO) / abs(old_leg.quantity or ZERO)
        source.clear()
        self._rescale(lots, held * ratio)
        target = self.books[(action.account, new_leg.instrument.key)]
        for lot in lots:
            lot.instrument = new_leg.instrument
            target.append(lot)

    # --- transfers ----------------------------------------------------------------------------

    def transfer(self, transfer: TransferRecord) -> None:
        if transfer.is_cash or transfer.instrument is None or not transfer.quantity:
            return
        quantity = abs(transfer.quantity)
        if transfer.direction is TransferDirection.IN:
            # Basis unknown unless the delivering account's lots are carried over (taxonomy §6.1).
            self._open(
                _Lot(
                    key=open_lot_key(transfer.natural_key),
                    account=transfer.account,
                    instrument=transfer.instrument,
                    currency=transfer.currency,
                    quantity=quantity,
                    basis=None,
                    open_date=transfer.transfer_date,
                    opening_key=transfer.natural_key,
                    needs_review=True,
                )
            )
            return
        book = self.books[(transfer.account, transfer.instrument.key)]
        remaining = quantity
        while remaining > 0 and book and book[0].quantity > 0:
            lot = book[0]
            take = min(lot.quantity, remaining)
            remaining -= take
            self._close_slice(lot, take, None, transfer.natural_key, transfer.transfer_date, realize=False)
            if lot.quantity == 0:
                book.popleft()
        if remaining > 0:
            self.result.warnings.append(
                f"{transfer.instrument.key}: transfer out of {quantity} on {transfer.transfer_date} exceeds the lots known."
            )

    # --- driver -------------------------------------------------------------------------------

    def run(
        self,
        trades: Iterable[TradeRecord],
        corporate_actions: Iterable[CorporateActionRecord],
        transfers: Iterable[TransferRecord],
        as_of: date | None,
    ) -> LotResult:
        events: list[_Event] = []
        for trade in trades:
            if trade.status in COUNTED:
                at = trade.executed_at or _EARLIEST
                events.append(_Event(trade.trade_date, _trade_phase(trade), at, trade.natural_key, trade))
        self.actions = [a for a in corporate_actions if a.status in COUNTED]
        for action in self.actions:
            events.append(_Event(action.effective_date, 0, _EARLIEST, action.natural_key, action))
        for transfer in transfers:
            if transfer.status in COUNTED:
                phase = 1 if transfer.direction is TransferDirection.IN else 5
                events.append(
                    _Event(transfer.transfer_date, phase, _EARLIEST, transfer.natural_key, transfer)
                )
        events.sort(key=lambda e: (e.day, e.phase, e.at, e.key))
        for event in events:
            if isinstance(event.record, TradeRecord):
                self.trade(event.record)
            elif isinstance(event.record, CorporateActionRecord):
                self.corporate_action(event.record)
            else:
                self.transfer(event.record)
        last = as_of or (events[-1].day if events else None)
        for book in self.books.values():
            for lot in book:
                self.result.lots.append(
                    LotRecord(
                        account=lot.account,
                        natural_key=lot.key,
                        instrument=lot.instrument,
                        lot_status=LotStatus.OPEN,
                        origin=LotOrigin.COMPUTED,
                        quantity=lot.quantity,
                        currency=lot.currency,
                        cost_basis=lot.basis,
                        as_of_date=last,
                        open_date=lot.open_date,
                        opening_trade_key=lot.opening_key,
                        needs_review=lot.needs_review or lot.basis is None,
                        raw_type="FIFO",
                    )
                )
        for key, amount in list(self.fold.items()):
            self.result.warnings.append(
                f"premium {amount} for trade {key[1]} was never applied (trade missing)."
            )
        self.result.lots.sort(key=lambda lot: (lot.account, lot.instrument.key, lot.natural_key))
        return self.result


def compute_lots(
    trades: Iterable[TradeRecord],
    corporate_actions: Iterable[CorporateActionRecord] = (),
    transfers: Iterable[TransferRecord] = (),
    option_events: Iterable[OptionEventRecord] = (),
    *,
    as_of: date | None = None,
) -> LotResult:
    """Build FIFO lots per (account, instrument) from the canonical records of any broker."""
    return LotEngine(option_events).run(trades, corporate_actions, transfers, as_of)
