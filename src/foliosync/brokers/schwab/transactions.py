"""Schwab Trader API transactions -> canonical records (taxonomy.md §3.3; docs/mappings/schwab-api.md).

Keys (taxonomy.md §2.2): an activity is identified by (accountNumber, activityId); the account is
the record's `account`, and each record's natural key is the activityId plus the leg's role and
instrument, e.g. `90000000001:trade:OPT:SPY   250117P00450000` or `90000000002:cash`, so a
re-fetch (overlapping windows, a PENDING row that settles) upserts the same rows.

Activities are processed in time order so `Holdings` knows the position before each one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from foliosync.brokers.base import BrokerDataError
from foliosync.brokers.schwab.corporate_actions import (
    ActionCandidate,
    ShareLeg,
    build_corporate_actions,
    corporate_action_kind,
)
from foliosync.brokers.schwab.legs import ZERO, Fees, Holdings, Legs, SecurityLeg, split_legs
from foliosync.brokers.schwab.mapping import (
    INFORMATIONAL_TYPES,
    MONEY,
    OPTION_EVENTS,
    STATUS,
    TRANSFER_WORDING,
    classify_income,
    open_close,
    trade_kind,
)
from foliosync.brokers.schwab.parsing import dec, local_date, parse_date, parse_time
from foliosync.ledger.records import (
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    CashKind,
    FlowScope,
    OptionEventKind,
    RecordStatus,
    TradeKind,
    TransferDirection,
)

CENT = Decimal("0.01")


@dataclass
class TransactionRecords:
    trades: list[TradeRecord] = field(default_factory=list)
    cash: list[CashRecord] = field(default_factory=list)
    transfers: list[TransferRecord] = field(default_factory=list)
    option_events: list[OptionEventRecord] = field(default_factory=list)
    corporate_actions: list[CorporateActionRecord] = field(default_factory=list)
    unknown_types: Counter[str] = field(default_factory=Counter)
    informational: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Activity:
    """What every record made from one activity shares."""

    id: str
    type: str
    status: RecordStatus
    needs_review: bool
    day: date
    posted_at: datetime | None
    settle_date: date | None
    net_amount: Decimal | None
    description: str
    subtype: str | None
    order_id: str | None


def normalize_transactions(
    rows: Sequence[Mapping[str, Any]], account: str, holdings_now: Mapping[str, Decimal]
) -> TransactionRecords:
    out = TransactionRecords()
    prepared = sorted(((_activity(row), row) for row in rows), key=lambda pair: _order(pair[0]))
    legs_by_id = {a.id: split_legs(row) for a, row in prepared}
    counted = [
        leg
        for a, _ in prepared
        if a.status is not RecordStatus.CANCELLED and a.type not in INFORMATIONAL_TYPES | {"MONEY_MARKET"}
        for leg in legs_by_id[a.id].securities
    ]
    holdings = Holdings(holdings_now, counted)
    candidates: list[ActionCandidate] = []
    mapper = _Mapper(account, out, holdings, candidates)
    for activity, row in prepared:
        if str(row.get("accountNumber") or account) != account:
            out.warnings.append(
                f"Activity {activity.id} names another account; it was filed under {account}."
            )
        mapper.map(activity, legs_by_id[activity.id])
    out.corporate_actions = build_corporate_actions(account, candidates)
    return out


def _order(activity: Activity) -> tuple[date, str, int, str]:
    moment = activity.posted_at.isoformat() if activity.posted_at else ""
    return activity.day, moment, int(activity.id) if activity.id.isdigit() else 0, activity.id


def _activity(row: Mapping[str, Any]) -> Activity:
    raw_id = row.get("activityId")
    activity_id = str(raw_id) if raw_id is not None else _content_id(row)
    status_raw = str(row.get("status") or "").upper()
    correction = str(row.get("activityType") or "").upper() == "ACTIVITY_CORRECTION"
    posted_at = parse_time(row.get("time"))
    day = parse_date(row.get("tradeDate")) or (local_date(posted_at) if posted_at else None)
    if day is None:
        raise BrokerDataError(f"Schwab activity {activity_id} has neither tradeDate nor time.")
    order_id = row.get("orderId")
    return Activity(
        id=activity_id,
        type=str(row.get("type") or "").upper(),
        status=STATUS.get(status_raw, RecordStatus.PENDING),
        # UNKNOWN status, a correction we cannot link to its original, or no id: look at it.
        needs_review=status_raw not in STATUS or correction or raw_id is None,
        day=day,
        posted_at=posted_at,
        settle_date=parse_date(row.get("settlementDate")),
        net_amount=dec(row.get("netAmount")),
        description=str(row.get("description") or "").strip(),
        subtype=str(row.get("activityType") or "") or None,
        order_id=str(order_id) if order_id is not None else None,
    )


def _content_id(row: Mapping[str, Any]) -> str:
    """Rows without activityId (never seen, but nothing is dropped): a content hash stands in."""
    return "nokey-" + hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:32]


class _Mapper:
    def __init__(
        self,
        account: str,
        out: TransactionRecords,
        holdings: Holdings,
        candidates: list[ActionCandidate],
    ) -> None:
        self.account = account
        self.out = out
        self.holdings = holdings
        self.candidates = candidates

    def map(self, a: Activity, legs: Legs) -> None:
        handler = {
            "TRADE": self.trade,
            "RECEIVE_AND_DELIVER": self.receive_and_deliver,
            "DIVIDEND_OR_INTEREST": self.income,
            "ELECTRONIC_FUND": self.money,
            "JOURNAL": self.journal,
            "MONEY_MARKET": self.sweep,
            **dict.fromkeys(MONEY, self.money),
        }.get(a.type)
        if a.type in INFORMATIONAL_TYPES:
            # No cash and no position effect: no ledger row; the raw payload is archived.
            self.out.informational += 1
            return
        if handler is None:
            self.unknown(a, legs)
            return
        handler(a, legs)

    # -- helpers ---------------------------------------------------------------------------------

    def _counts(self, a: Activity) -> bool:
        return a.status is not RecordStatus.CANCELLED

    def _apply(self, a: Activity, leg: SecurityLeg) -> None:
        if self._counts(a):
            self.holdings.apply(leg)

    def cash_record(
        self,
        a: Activity,
        kind: CashKind,
        amount: Decimal,
        *,
        subkind: str | None = None,
        flow: FlowScope = FlowScope.NONE,
        instrument: InstrumentRef | None = None,
        review: bool = False,
        role: str = "cash",
    ) -> CashRecord:
        record = CashRecord(
            account=self.account,
            natural_key=f"{a.id}:{role}",
            kind=kind,
            amount=amount,
            currency="USD",
            posted_date=a.day,
            instrument=instrument,
            subkind=subkind,
            posted_at=a.posted_at,
            settle_date=a.settle_date,
            flow_scope=flow,
            action_id=a.id,
            status=a.status,
            needs_review=review or a.needs_review,
            raw_type=a.type,
            raw_subtype=a.subtype,
            description=a.description or None,
        )
        self.out.cash.append(record)
        return record

    def _net(self, a: Activity, legs: Legs) -> Decimal:
        if a.net_amount is not None:
            return a.net_amount
        return sum((leg.cost for leg in legs.securities), legs.cash + legs.fees.total)

    def trade_record(
        self,
        a: Activity,
        leg: SecurityLeg,
        kind: TradeKind,
        fees: Fees,
        *,
        role: str = "trade",
        review: bool = False,
    ) -> TradeRecord:
        multiplier = leg.instrument.multiplier
        price = abs(leg.price) if leg.price is not None else None
        if price is None:
            price = abs(leg.cost) / (abs(leg.quantity) * multiplier) if leg.quantity and multiplier else ZERO
        # `cost` is Schwab's signed cash for the leg (§B.4); without it, -quantity*price*multiplier.
        gross = leg.cost if leg.cost or not leg.quantity else -leg.quantity * price * multiplier
        record = TradeRecord(
            account=self.account,
            natural_key=f"{a.id}:{role}:{leg.instrument.key}",
            instrument=leg.instrument,
            kind=kind,
            side="BUY" if leg.quantity > 0 else "SELL",
            trade_date=a.day,
            quantity=leg.quantity,
            price=price,
            gross_amount=gross,
            net_amount=gross + fees.total,
            currency="USD",
            commission=fees.commission,
            regulatory_fees=fees.regulatory,
            other_fees=fees.other,
            fee_currency="USD" if fees.total else None,
            settle_date=a.settle_date,
            executed_at=a.posted_at,
            open_close=open_close(kind),
            broker_trade_id=a.id,
            broker_order_id=a.order_id,
            status=a.status,
            needs_review=review or a.needs_review or leg.needs_review,
            raw_type=a.type,
            raw_subtype=a.subtype,
            description=a.description or leg.instrument.description,
        )
        self.out.trades.append(record)
        return record

    # -- TRADE -----------------------------------------------------------------------------------

    def trade(self, a: Activity, legs: Legs) -> None:
        if not legs.securities:
            self.unknown(a, legs, label="TRADE without a security leg")
            return
        # Fees belong to the activity; with several security legs they go on the first by
        # instrument key (stable across fetches), never by array position.
        records = []
        for index, leg in enumerate(legs.securities):
            kind = trade_kind(leg, self.holdings.held(leg.instrument.key))
            records.append(self.trade_record(a, leg, kind, legs.fees if index == 0 else Fees()))
            self._apply(a, leg)
        self._check_net(a, legs, sum((r.net_amount for r in records), legs.cash), records)

    def _check_net(self, a: Activity, legs: Legs, computed: Decimal, records: list[TradeRecord]) -> None:
        if a.net_amount is not None and abs(computed - a.net_amount) > CENT:
            for record in records:
                record.needs_review = True
            self.out.warnings.append(
                f"Activity {a.id}: the legs add up to {computed}, Schwab's netAmount is {a.net_amount}."
            )

    # -- RECEIVE_AND_DELIVER ---------------------------------------------------------------------

    def receive_and_deliver(self, a: Activity, legs: Legs) -> None:
        text = a.description.upper()
        for pattern, event_kind, trade_kind_, review in OPTION_EVENTS:
            if pattern.search(text) and any(
                leg.instrument.asset_category is AssetCategory.OPT for leg in legs.securities
            ):
                self.option_event(a, legs, event_kind, trade_kind_, review)
                return
        action_kind = corporate_action_kind(a.description)
        if action_kind is not None and legs.securities:
            candidate = ActionCandidate(
                activity_id=int(a.id) if a.id.isdigit() else 0,
                kind=action_kind,
                effective_date=a.day,
                description=a.description,
                status=a.status,
                raw_subtype=a.subtype,
            )
            for leg in legs.securities:
                candidate.legs.append(
                    ShareLeg(leg.instrument, leg.quantity, self.holdings.held(leg.instrument.key))
                )
                self._apply(a, leg)
            self.candidates.append(candidate)
            return
        if TRANSFER_WORDING.search(text) and legs.securities:
            self.security_transfers(a, legs, FlowScope.EXTERNAL, "ACAT")
            return
        self.unknown(a, legs)

    def option_event(
        self, a: Activity, legs: Legs, event_kind: OptionEventKind, kind: TradeKind, review: bool
    ) -> None:
        options = [leg for leg in legs.securities if leg.instrument.asset_category is AssetCategory.OPT]
        stock = [leg for leg in legs.securities if leg.instrument.asset_category is not AssetCategory.OPT]
        stock_keys: list[str] = []
        for index, leg in enumerate(stock):
            stock_kind = trade_kind(leg, self.holdings.held(leg.instrument.key))
            record = self.trade_record(
                a, leg, stock_kind, legs.fees if index == 0 else Fees(), role="delivery", review=True
            )
            stock_keys.append(record.natural_key)
            self._apply(a, leg)
        role = kind.value.lower().removeprefix("option_")
        for index, leg in enumerate(options):
            fees = legs.fees if not stock and index == 0 else Fees()
            option_trade = self.trade_record(a, leg, kind, fees, role=role, review=review)
            self._apply(a, leg)
            self.out.option_events.append(
                OptionEventRecord(
                    account=self.account,
                    natural_key=f"{a.id}:option_event:{leg.instrument.key}",
                    instrument=leg.instrument,
                    kind=event_kind,
                    event_date=a.day,
                    quantity=leg.quantity,
                    underlying_symbol=leg.instrument.underlying_symbol,
                    option_trade_key=option_trade.natural_key,
                    underlying_trade_key=stock_keys[0] if len(stock_keys) == 1 else None,
                    status=a.status,
                    needs_review=review or a.needs_review or len(stock_keys) > 1,
                    raw_type=a.type,
                    raw_subtype=a.subtype,
                    description=a.description or None,
                )
            )

    def security_transfers(self, a: Activity, legs: Legs, flow: FlowScope, transfer_type: str) -> None:
        for leg in legs.securities:
            self.out.transfers.append(
                TransferRecord(
                    account=self.account,
                    natural_key=f"{a.id}:transfer:{leg.instrument.key}",
                    direction=TransferDirection.IN if leg.quantity > 0 else TransferDirection.OUT,
                    flow_scope=flow,
                    transfer_date=a.day,
                    currency="USD",
                    instrument=leg.instrument,
                    transfer_type=transfer_type,
                    quantity=leg.quantity,
                    value=abs(leg.cost) if leg.cost else None,
                    status=a.status,
                    needs_review=True,  # §3.3: transfer wording is "?"
                    raw_type=a.type,
                    raw_subtype=a.subtype,
                    description=a.description or None,
                )
            )
            self._apply(a, leg)

    # -- cash ------------------------------------------------------------------------------------

    def income(self, a: Activity, legs: Legs) -> None:
        amount = self._net(a, legs)
        instrument = legs.securities[0].instrument if legs.securities else None
        mapped = classify_income(a.description, amount)
        if mapped is not None:
            kind, subkind, review = mapped
            self.cash_record(a, kind, amount, subkind=subkind, instrument=instrument, review=review)
            return
        text = a.description.upper()
        self.out.unknown_types[f"DIVIDEND_OR_INTEREST:{text or '(no description)'}"] += 1
        self.cash_record(a, CashKind.OTHER, amount, subkind="UNKNOWN", instrument=instrument, review=True)

    def money(self, a: Activity, legs: Legs) -> None:
        amount = self._net(a, legs)
        text = a.description.upper()
        if a.type == "ELECTRONIC_FUND":
            kind, subkind = (CashKind.DEPOSIT if amount >= 0 else CashKind.WITHDRAWAL), "OTHER"
        else:
            kind, subkind = MONEY[a.type]
        review = False
        if a.type in ("CASH_RECEIPT", "CASH_DISBURSEMENT") and re.search(r"\bFEE\b", text):
            self.cash_record(a, CashKind.FEE, amount, subkind="OTHER")
            return
        if a.type in ("CASH_RECEIPT", "CASH_DISBURSEMENT") and re.search(r"\bTAX\b", text):
            self.cash_record(a, CashKind.TAX_OTHER, amount, subkind="OTHER")
            return
        # Keep the kind the type names and let the sign carry direction; a sign that disagrees
        # (a returned deposit) is flagged, not re-classified (taxonomy.md §1.1 notes).
        if (kind is CashKind.DEPOSIT) != (amount >= 0):
            review = True
        self.cash_record(a, kind, amount, subkind=subkind, flow=FlowScope.EXTERNAL, review=review)

    def journal(self, a: Activity, legs: Legs) -> None:
        if legs.securities:
            self.security_transfers(a, legs, FlowScope.INTERNAL, "JOURNAL")
        amount = self._net(a, legs) - sum((leg.cost for leg in legs.securities), ZERO)
        if amount == 0 and legs.securities:
            return
        text = a.description.upper()
        if re.search(r"\bFEE\b", text):
            self.cash_record(a, CashKind.FEE, amount, subkind="OTHER", review=True)
        elif re.search(r"\bADJ", text):
            self.cash_record(a, CashKind.OTHER, amount, subkind="BALANCE_ADJUSTMENT", review=True)
        else:
            self.cash_record(
                a, CashKind.INTERNAL_TRANSFER, amount, subkind="JOURNAL", flow=FlowScope.INTERNAL, review=True
            )

    def sweep(self, a: Activity, legs: Legs) -> None:
        """Money-market sweep: the sweep fund counts as cash (§3.3), so the fund leg is not a
        trade; the movement nets to zero and is no contribution (flow NONE: it never leaves the
        account)."""
        self.cash_record(a, CashKind.INTERNAL_TRANSFER, self._net(a, legs), subkind="SWEEP", review=True)

    def unknown(self, a: Activity, legs: Legs, *, label: str | None = None) -> None:
        """Unmapped: keep its cash and its share movements, flagged (nothing is dropped)."""
        self.out.unknown_types[
            label or f"{a.type or '(no type)'}:{a.description.upper() or '(no description)'}"
        ] += 1
        for leg in legs.securities:
            self.trade_record(a, leg, TradeKind.OTHER, Fees(), role="other", review=True)
            self._apply(a, leg)
        security_cash = sum((leg.cost for leg in legs.securities), ZERO)
        rest = self._net(a, legs) - security_cash
        if rest or not legs.securities:
            self.cash_record(a, CashKind.OTHER, rest, subkind="UNKNOWN", review=True)
