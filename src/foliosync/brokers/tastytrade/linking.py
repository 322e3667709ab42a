"""Links between TastyTrade records of one batch (shared taxonomy.md §4).

Pure and idempotent: run on the freshly mapped batch, they only fill link fields and flags.
* Option event ↔ share leg (§4.2): an Assignment/Exercise row and the `Receive Deliver` share row
  of the same date and underlying whose quantity is contracts x multiplier. The share price must
  equal the strike, and the share direction must fit the option (a put assigned buys shares).
* Withholding ↔ dividend (§4.1 steps 2-3): same instrument, same day; else the only dividend of
  that instrument from 30 days before to 5 days after.
* Corporate-action legs (§4.3): the removal and addition legs of a reverse split, symbol change
  or stock merger share an `action_id` and a ratio (new / old), so the lot engine applies them as
  one event. Each leg keeps its own natural key (the transaction id), which keeps re-syncs
  idempotent even if the legs arrive in different windows.
* Reversals (§3.2 last row): a row with `reverses-id` marks its original REVERSED.
Anything that cannot be matched exactly once is flagged `needs_review`, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from foliosync.ledger.records import (
    Batch,
    CashRecord,
    CorporateActionRecord,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    CashKind,
    CorporateActionKind,
    OptionEventKind,
    RecordStatus,
)

RECEIVE_DELIVER = "Receive Deliver"
SHARE_LEG_SUBTYPES = frozenset({"Buy to Open", "Sell to Open", "Buy to Close", "Sell to Close"})
PAIRED_ACTIONS = frozenset(
    {CorporateActionKind.REVERSE_SPLIT, CorporateActionKind.SYMBOL_CHANGE, CorporateActionKind.MERGER_STOCK}
)
WITHHOLDING_WINDOW_BEFORE = timedelta(days=30)
WITHHOLDING_WINDOW_AFTER = timedelta(days=5)

Record = TradeRecord | CashRecord | CorporateActionRecord | OptionEventRecord | TransferRecord


def link_batch(batch: Batch, reversals: Mapping[str, str] | None = None) -> None:
    link_option_events(batch)
    link_withholding(batch)
    pair_corporate_action_legs(batch)
    if reversals:
        mark_reversed(batch, reversals)


def link_option_events(batch: Batch) -> None:
    share_legs = [
        t
        for t in batch.trades
        if t.raw_type == RECEIVE_DELIVER
        and t.raw_subtype in SHARE_LEG_SUBTYPES
        and t.instrument.asset_category is AssetCategory.STK
    ]
    linked: set[str] = set()
    for event in batch.option_events:
        if event.kind not in (OptionEventKind.ASSIGNMENT, OptionEventKind.EXERCISE):
            continue
        shares = abs(event.quantity) * event.instrument.multiplier
        candidates = [
            leg
            for leg in share_legs
            if leg.account == event.account
            and leg.trade_date == event.event_date
            and leg.instrument.symbol == event.underlying_symbol
            and abs(leg.quantity) == shares
            and leg.natural_key not in linked
        ]
        if len(candidates) != 1:
            event.needs_review = True
            batch.warnings.append(
                f"transaction {event.natural_key}: {len(candidates)} share legs match this "
                f"{event.kind.value.lower()}; link it by hand"
            )
            continue
        leg = candidates[0]
        event.underlying_trade_key = leg.natural_key
        linked.add(leg.natural_key)
        if not _share_leg_fits(event, leg):
            event.needs_review = leg.needs_review = True
            batch.warnings.append(
                f"transaction {event.natural_key}: share leg {leg.natural_key} has an unexpected price or "
                "direction (an adjusted option?)"
            )
    for leg in share_legs:
        if leg.natural_key not in linked:
            leg.needs_review = True
            batch.warnings.append(
                f"transaction {leg.natural_key}: share delivery without an assignment or exercise in this window"
            )


def _share_leg_fits(event: OptionEventRecord, leg: TradeRecord) -> bool:
    """Physical settlement at the strike, in the direction the option implies (taxonomy.md §6.2)."""
    option = event.instrument
    if option.strike is not None and leg.price != option.strike:
        return False
    if option.put_call not in ("C", "P"):
        return False
    buys_shares = (event.kind is OptionEventKind.ASSIGNMENT) == (option.put_call == "P")
    return (leg.quantity > 0) == buys_shares


def link_withholding(batch: Batch) -> None:
    incomes = [
        c
        for c in batch.cash
        if c.kind in (CashKind.DIVIDEND, CashKind.PAYMENT_IN_LIEU) and c.amount > 0 and c.instrument
    ]
    for tax in batch.cash:
        if tax.kind is not CashKind.WITHHOLDING_TAX or tax.related_key or tax.instrument is None:
            continue
        same = [d for d in incomes if d.account == tax.account and d.instrument == tax.instrument]
        same_day = [d for d in same if d.posted_date == tax.posted_date]
        nearby = [d for d in same if _within_withholding_window(tax.posted_date, d.posted_date)]
        for candidates in (same_day, nearby):
            if len(candidates) == 1:
                tax.related_key = candidates[0].natural_key
                break


def _within_withholding_window(tax_date: date, income_date: date) -> bool:
    return tax_date - WITHHOLDING_WINDOW_BEFORE <= income_date <= tax_date + WITHHOLDING_WINDOW_AFTER


def pair_corporate_action_legs(batch: Batch) -> None:
    groups: dict[tuple[str, date, CorporateActionKind], list[CorporateActionRecord]] = defaultdict(list)
    for action in batch.corporate_actions:
        if action.kind in PAIRED_ACTIONS or action.kind is CorporateActionKind.SPLIT:
            groups[(action.account, action.effective_date, action.kind)].append(action)
    for (_account, _day, kind), legs in groups.items():
        removals = [leg for leg in legs if (leg.quantity or 0) < 0]
        additions = [leg for leg in legs if (leg.quantity or 0) > 0]
        # Same instrument first (a reverse split keeps its symbol), then a lone pair of the day.
        for removal in list(removals):
            same = [a for a in additions if a.instrument is not None and a.instrument == removal.instrument]
            if len(same) == 1:
                _pair(removal, same[0])
                removals.remove(removal)
                additions.remove(same[0])
        if len(removals) == 1 and len(additions) == 1:
            _pair(removals[0], additions[0])
            removals, additions = [], []
        if kind in PAIRED_ACTIONS:
            for leg in removals + additions:
                leg.needs_review = True
                batch.warnings.append(
                    f"transaction {leg.natural_key}: {kind.value} leg without its counterpart in this window"
                )


def _pair(removal: CorporateActionRecord, addition: CorporateActionRecord) -> None:
    action_id = f"{removal.natural_key}+{addition.natural_key}"
    removal.action_id = addition.action_id = action_id
    if removal.quantity and addition.quantity:
        ratio = addition.quantity / -removal.quantity
        for leg in (removal, addition):
            leg.ratio = leg.ratio or ratio


def mark_reversed(batch: Batch, reversals: Mapping[str, str]) -> None:
    """`reversals` maps a reversing row's key to the key of the row it reverses."""
    by_key: dict[str, list[Record]] = defaultdict(list)
    families: tuple[Sequence[Record], ...] = (
        batch.trades,
        batch.cash,
        batch.corporate_actions,
        batch.option_events,
        batch.transfers,
    )
    for family in families:
        for record in family:
            by_key[record.natural_key].append(record)
    for reversing, original in reversals.items():
        if original not in by_key:
            batch.warnings.append(
                f"transaction {reversing} reverses {original}, which is outside this window; "
                "the original keeps its status until a full re-sync"
            )
            continue
        for record in by_key[original]:
            record.status = RecordStatus.REVERSED
