"""Reconciliation: compare what the ledger implies with what the broker itself reports.

Runs after a batch is written, for one account, for every broker. A difference makes the sync
PARTIAL and is shown with its size (`difference` = ledger - reported, decimal strings); it is
never reported as success. When the ledger cannot say what the holding or the cash should be,
the result is `checked=False` with a note explaining why, rather than a guess.

What is compared (shared taxonomy.md §6.4 step 1, and the cash balance):
* Positions: for each instrument, the signed quantities of the ledger's trades (POSTED and
  REVERSED rows count, taxonomy §0), securities transfers and corporate-action legs, up to the
  batch's latest position snapshot date, against that snapshot. Cash-like FX pairs (asset
  category CASH) are currency balances and are left to the cash check.
* Cash per currency: cash transactions plus trade net amounts (a commission charged in another
  currency counts in that currency), against the balance the broker reports for that day.
  Cash-only transfers are not counted: their money arrives as a deposit/withdrawal cash record.

Only the ledger rows of the batch's own source are used (a Flex import is checked against Flex
rows, not against live TWS fills of the same account, which would double count).

The ledger is complete enough to compare when one of these holds, tried in this order:
1. the broker reports the starting balance of the period (cash only): BalanceRecord components
   `starting_cash` and `period_start` (ISO date) mean "cash at the start of that day"; an
   optional `unrecorded_flows` is money the broker moved that no ledger row records (futures
   variation margin), added to the ledger side and named in a note;
2. an earlier snapshot from the same source lies inside or just before the batch's period: the
   ledger's movements since that snapshot must bridge it to the new one;
3. the batch's period starts at or before the account's first activity (AccountInfo.details
   `date_opened` / `date_funded`, ISO dates): the whole history is in the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import AccountInfo, BalanceRecord, Batch, PositionRecord
from foliosync.ledger.taxonomy import RecordStatus, TransferDirection
from foliosync.models import Balance, CashTransaction, CorporateAction, Instrument, Position, Trade, Transfer

COUNTED = (RecordStatus.POSTED.value, RecordStatus.REVERSED.value)
CASH_TOLERANCE = Decimal("0.01")  # brokers round their cash report to the cent
BASE = "BASE"
ZERO = Decimal(0)


@dataclass
class Difference:
    kind: str  # "position" or "cash"
    subject: str  # instrument key or currency
    ledger: str  # decimal strings, so the summary serialises exactly
    reported: str
    difference: str  # ledger - reported


@dataclass
class ReconciliationResult:
    checked: bool = False
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "differences": [d.__dict__ for d in self.differences],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Window:
    """Ledger movements strictly after `after` (None: from the beginning) up to `until`."""

    after: date | None
    until: date
    baseline: dict[str, Decimal]
    how: str


def _first_activity(info: AccountInfo | None) -> date | None:
    if info is None:
        return None
    days = []
    for name in ("date_opened", "date_funded"):
        value = info.details.get(name)
        if isinstance(value, str) and value:
            try:
                days.append(date.fromisoformat(value))
            except ValueError:
                continue
    return min(days) if days else None


def _covers_history(batch: Batch, info: AccountInfo | None) -> bool:
    first = _first_activity(info)
    return first is not None and batch.period_start is not None and batch.period_start <= first


def _keys_by_id(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    wanted = sorted(set(ids))
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        rows = session.execute(
            select(Instrument.id, Instrument.key, Instrument.asset_category).where(Instrument.id.in_(chunk))
        )
        for ident, key, category in rows:
            found[ident] = (key, category)
    return found


# --- positions ------------------------------------------------------------------------------------


def _position_changes(session: Session, account_id: int, source: str, window: _Window) -> dict[int, Decimal]:
    """Signed quantity moved per instrument id by trades, transfers and corporate actions."""
    totals: dict[int, Decimal] = defaultdict(Decimal)

    def bounded(stmt: Any, column: Any) -> Any:
        stmt = stmt.where(column <= window.until)
        return stmt if window.after is None else stmt.where(column > window.after)

    trades = select(Trade.instrument_id, Trade.quantity).where(
        Trade.account_id == account_id, Trade.source == source, Trade.status.in_(COUNTED)
    )
    for instrument_id, quantity in session.execute(bounded(trades, Trade.trade_date)):
        totals[instrument_id] += quantity
    transfers = select(Transfer.instrument_id, Transfer.quantity, Transfer.direction).where(
        Transfer.account_id == account_id,
        Transfer.source == source,
        Transfer.status.in_(COUNTED),
        Transfer.is_cash.is_(False),
        Transfer.instrument_id.is_not(None),
        Transfer.quantity.is_not(None),
    )
    for instrument_id, quantity, direction in session.execute(bounded(transfers, Transfer.transfer_date)):
        totals[instrument_id] += abs(quantity) if direction == TransferDirection.IN.value else -abs(quantity)
    actions = select(CorporateAction.instrument_id, CorporateAction.quantity).where(
        CorporateAction.account_id == account_id,
        CorporateAction.source == source,
        CorporateAction.status.in_(COUNTED),
        CorporateAction.instrument_id.is_not(None),
        CorporateAction.quantity.is_not(None),
    )
    for instrument_id, quantity in session.execute(bounded(actions, CorporateAction.effective_date)):
        totals[instrument_id] += quantity
    return totals


def _position_window(
    session: Session, account_id: int, source: str, batch: Batch, info: AccountInfo | None, as_of: date
) -> _Window | str:
    start = batch.period_start
    earliest_usable = start - timedelta(days=1) if start is not None else None
    previous = session.scalar(
        select(func.max(Position.as_of_date)).where(
            Position.account_id == account_id, Position.source == source, Position.as_of_date < as_of
        )
    )
    if previous is not None and earliest_usable is not None and previous >= earliest_usable:
        rows = session.execute(
            select(Instrument.key, Instrument.asset_category, Position.quantity)
            .join(Instrument, Instrument.id == Position.instrument_id)
            .where(
                Position.account_id == account_id, Position.source == source, Position.as_of_date == previous
            )
        )
        baseline = {key: quantity for key, category, quantity in rows if category != "CASH"}
        return _Window(previous, as_of, baseline, f"from the position snapshot of {previous.isoformat()}")
    if _covers_history(batch, info):
        return _Window(None, as_of, {}, "over the account's whole history")
    first = _first_activity(info)
    return (
        f"positions not compared: the ledger's history may not reach back to the account's first activity "
        f"(data from {start.isoformat() if start else 'an unknown date'}, account opened "
        f"{first.isoformat() if first else 'on an unknown date'}) and no earlier position snapshot "
        "from this source lies within the period"
    )


def _check_positions(
    session: Session,
    account_id: int,
    batch: Batch,
    positions: list[PositionRecord],
    info: AccountInfo | None,
    result: ReconciliationResult,
) -> None:
    if not positions:
        result.notes.append("positions not compared: the source reported no positions")
        return
    as_of = max(p.as_of_date for p in positions)
    reported: dict[str, Decimal] = defaultdict(Decimal)
    categories: dict[str, str] = {}
    for position in positions:
        if position.as_of_date == as_of:
            reported[position.instrument.key] += position.quantity
            categories[position.instrument.key] = position.instrument.asset_category.value
    window = _position_window(session, account_id, batch.source.value, batch, info, as_of)
    if isinstance(window, str):
        result.notes.append(window)
        return
    changes = _position_changes(session, account_id, batch.source.value, window)
    names = _keys_by_id(session, changes)
    ledger: dict[str, Decimal] = defaultdict(Decimal, window.baseline)
    for instrument_id, quantity in changes.items():
        key, category = names[instrument_id]
        ledger[key] += quantity
        categories.setdefault(key, category)
    result.checked = True
    compared = 0
    for key in sorted(set(ledger) | set(reported)):
        if categories.get(key) == "CASH":
            continue
        mine, theirs = ledger.get(key, ZERO), reported.get(key, ZERO)
        compared += 1
        if mine != theirs:
            result.differences.append(
                Difference(
                    "position",
                    key,
                    canonical_decimal(mine),
                    canonical_decimal(theirs),
                    canonical_decimal(mine - theirs),
                )
            )
    result.notes.append(f"positions on {as_of.isoformat()}: {compared} instruments compared {window.how}")


# --- cash -----------------------------------------------------------------------------------------


def _cash_flows(
    session: Session, account_id: int, source: str, after: date | None, first: date | None, until: date
) -> dict[str, Decimal]:
    """Money moved per currency by cash records and trades in the window."""
    totals: dict[str, Decimal] = defaultdict(Decimal)

    def bounded(stmt: Any, column: Any) -> Any:
        stmt = stmt.where(column <= until)
        if after is not None:
            stmt = stmt.where(column > after)
        if first is not None:
            stmt = stmt.where(column >= first)
        return stmt

    cash = select(CashTransaction.currency, CashTransaction.amount).where(
        CashTransaction.account_id == account_id,
        CashTransaction.source == source,
        CashTransaction.status.in_(COUNTED),
    )
    for currency, amount in session.execute(bounded(cash, CashTransaction.posted_date)):
        totals[currency] += amount
    trades = select(Trade.currency, Trade.net_amount, Trade.fee_currency, Trade.commission).where(
        Trade.account_id == account_id, Trade.source == source, Trade.status.in_(COUNTED)
    )
    for currency, net, fee_currency, commission in session.execute(bounded(trades, Trade.trade_date)):
        totals[currency] += net
        if fee_currency and fee_currency != currency:
            totals[fee_currency] += commission
    return totals


def _latest_per_currency(balances: list[BalanceRecord]) -> dict[str, BalanceRecord]:
    latest: dict[str, BalanceRecord] = {}
    for balance in balances:
        if balance.cash is None:
            continue
        current = latest.get(balance.currency)
        if current is None or balance.as_of_date > current.as_of_date:
            latest[balance.currency] = balance
    return latest


def _check_cash(
    session: Session,
    account_id: int,
    batch: Batch,
    balances: list[BalanceRecord],
    info: AccountInfo | None,
    result: ReconciliationResult,
) -> None:
    latest = _latest_per_currency(balances)
    if not latest:
        result.notes.append("cash not compared: the source reported no cash balance")
        return
    source = batch.source.value
    known_base = info is not None and info.details.get("base_currency_source") != "unknown"
    if BASE in latest:
        if len(latest) > 1 or not known_base or info is None:
            # Per-currency rows say more; a base-currency total mixes currencies at unknown rates.
            del latest[BASE]
        else:
            latest = {info.base_currency: latest[BASE]}
    for currency, balance in sorted(latest.items()):
        reported = balance.cash
        assert reported is not None
        as_of = balance.as_of_date
        extra = ZERO
        components = balance.components
        if "starting_cash" in components and "period_start" in components:
            first = date.fromisoformat(str(components["period_start"]))
            baseline, after, how = (
                Decimal(str(components["starting_cash"])),
                None,
                (f"from the reported starting cash of {first.isoformat()}"),
            )
            extra = Decimal(str(components.get("unrecorded_flows", "0")))
        else:
            first = None
            window = _cash_window(session, account_id, source, batch, info, balance, currency)
            if isinstance(window, str):
                result.notes.append(window)
                continue
            baseline, after, how = window
        flows = _cash_flows(session, account_id, source, after, first, as_of)
        if balance.currency == BASE and any(v for c, v in flows.items() if c != currency):
            result.notes.append(
                "cash not compared: only a base-currency total was reported and the ledger holds other currencies"
            )
            continue
        ledger = baseline + flows.get(currency, ZERO) + extra
        result.checked = True
        note = f"cash {currency} on {as_of.isoformat()} compared {how}"
        if extra:
            note += f", including {canonical_decimal(extra)} the broker moved without a ledger row (e.g. futures variation margin)"
        result.notes.append(note)
        if abs(ledger - reported) > CASH_TOLERANCE:
            result.differences.append(
                Difference(
                    "cash",
                    currency,
                    canonical_decimal(ledger),
                    canonical_decimal(reported),
                    canonical_decimal(ledger - reported),
                )
            )


def _cash_window(
    session: Session,
    account_id: int,
    source: str,
    batch: Batch,
    info: AccountInfo | None,
    balance: BalanceRecord,
    currency: str,
) -> tuple[Decimal, date | None, str] | str:
    start = batch.period_start
    previous = session.execute(
        select(Balance.as_of_date, Balance.cash)
        .where(
            Balance.account_id == account_id,
            Balance.source == source,
            Balance.currency == balance.currency,
            Balance.as_of_date < balance.as_of_date,
            Balance.cash.is_not(None),
        )
        .order_by(Balance.as_of_date.desc())
        .limit(1)
    ).first()
    if previous is not None and start is not None and previous[0] >= start - timedelta(days=1):
        day, cash = previous
        return cash or ZERO, day, f"from the balance of {day.isoformat()}"
    if _covers_history(batch, info):
        return ZERO, None, "over the account's whole history"
    return (
        f"cash {currency} not compared: no starting balance was reported and the ledger's history may not "
        "reach back to the account's first activity"
    )


def reconcile_account(
    session: Session, account_id: int, external_account_id: str, batch: Batch, account_ids: Mapping[str, int]
) -> ReconciliationResult:
    """Compare the ledger of one account with the positions and cash the batch reports for it."""
    del account_ids  # records name their account by number; this account's id is given
    result = ReconciliationResult()
    info = next((a for a in batch.accounts if a.external_account_id == external_account_id), None)
    session.flush()
    positions = [p for p in batch.positions if p.account == external_account_id]
    balances = [b for b in batch.balances if b.account == external_account_id]
    _check_positions(session, account_id, batch, positions, info, result)
    _check_cash(session, account_id, batch, balances, info, result)
    return result
