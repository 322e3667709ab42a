"""Flex OptionEAE, CorporateActions and Transfers -> event records, and their links.

* OptionEAE (taxonomy §3.1, §4.2): one OptionEventRecord per Assignment / Exercise / Expiration /
  Cash Settlement row. Quantities and cash come only from the BookTrade rows in Trades (they have
  transactionIDs); the event links to them (`option_trade_key`, `underlying_trade_key`) by the
  shared tradeID, else by (conid, date). Its `Buy`/`Sell` rows (the delivered underlying) repeat
  the BookTrade rows and are not imported.
* CorporateActions (taxonomy §3.1 table, §4.3): one record per row (each row is one conid's leg),
  grouped by actionID. Split ratios come from the text (`SPLIT 4 FOR 1`, `2:1`), else from the
  legs' quantities. A TC merger is MERGER_STOCK when a leg receives a security, else MERGER_CASH.
* Transfers (taxonomy §3.1): securities in/out with a signed quantity. A cash-only transfer is
  kept for the record but its money counts through the Deposits/Withdrawals cash transaction IBKR
  books for it (taxonomy §3.1 "Transfer.type", so it is never counted twice).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from foliosync.brokers.ibkr.flex_parser import FlexRow
from foliosync.brokers.ibkr.flex_values import attr_decimal, attr_text, clean, first_date
from foliosync.brokers.ibkr.normalize_context import FlexContext
from foliosync.brokers.ibkr.normalize_instruments import raw_category
from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import CorporateActionRecord, OptionEventRecord, TransferRecord
from foliosync.ledger.taxonomy import CorporateActionKind, FlowScope, OptionEventKind, TransferDirection

OPTION_EVENT_KINDS = {
    "Assignment": OptionEventKind.ASSIGNMENT,
    "Exercise": OptionEventKind.EXERCISE,
    "Expiration": OptionEventKind.EXPIRATION,
    "Cash Settlement": OptionEventKind.CASH_SETTLEMENT,
}
UNDERLYING_LEGS = frozenset({"Buy", "Sell"})

K = CorporateActionKind
# code -> (kind, needs_review). taxonomy §3.1 CorporateAction.type; "?" rows are reviewed.
CORPORATE_ACTION_KINDS: dict[str, tuple[CorporateActionKind, bool]] = {
    "FS": (K.SPLIT, False),
    "FI": (K.SPLIT, True),
    "RS": (K.REVERSE_SPLIT, False),
    "SD": (K.STOCK_DIVIDEND, False),
    "SO": (K.SPIN_OFF, False),
    "TC": (K.MERGER_STOCK, True),
    "TO": (K.OTHER, True),
    "TI": (K.OTHER, True),
    "IC": (K.SYMBOL_CHANGE, False),
    "DW": (K.DELISTED_WORTHLESS, False),
    "BM": (K.MATURITY, False),
    "TM": (K.MATURITY, False),
    "RI": (K.OTHER, True),
    "SR": (K.OTHER, True),
    "DI": (K.OTHER, True),
    "ED": (K.OTHER, True),
    "CD": (K.OTHER, False),
    "CH": (K.OTHER, True),
    "HD": (K.OTHER, True),
    "HI": (K.OTHER, True),
    "BC": (K.MERGER_STOCK, True),
    "CI": (K.MERGER_STOCK, True),
    "CO": (K.OTHER, True),
    "CS": (K.OTHER, True),
    "CC": (K.OTHER, True),
    "CA": (K.OTHER, True),
    "CP": (K.OTHER, True),
    "OR": (K.OTHER, True),
    "PI": (K.OTHER, True),
    "GV": (K.OTHER, True),
    "CT": (K.OTHER, True),
    "PV": (K.OTHER, False),
    "FA": (K.OTHER, True),
}
# Codes whose rows move cash only (it arrives as a CashTransaction) or nothing at all.
NO_POSITION_CHANGE = frozenset({"CD", "CH", "HD", "HI", "PV", "FA"})
_SPLIT_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s+FOR\s+(\d+(?:\.\d+)?)", re.IGNORECASE)
_COLON_RATIO = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)(?![\d.])")

TRANSFER_SCOPES: dict[str, tuple[FlowScope, bool]] = {
    "INTERNAL": (FlowScope.INTERNAL, False),
    "ACATS": (FlowScope.EXTERNAL, False),
    "ACAT": (FlowScope.EXTERNAL, False),
    "ATON": (FlowScope.EXTERNAL, False),
    "FOP": (FlowScope.EXTERNAL, False),
    "OTC": (FlowScope.EXTERNAL, True),
    "INTERCOMPANY": (FlowScope.EXTERNAL, True),
}


@dataclass
class _PendingEvent:
    record: OptionEventRecord
    trade_id: str | None
    conid: str | None
    underlying_conid: str | None


@dataclass
class EventCollector:
    option_events: list[_PendingEvent] = field(default_factory=list)
    actions: list[tuple[CorporateActionRecord, str]] = field(default_factory=list)  # (record, group)


def parse_ratio(text: str) -> Decimal | None:
    """new / old from `SPLIT 4 FOR 1` (4), `SPLIT 1 FOR 25` (0.04), `2:1 Split` (2)."""
    match = _SPLIT_TEXT.search(text) or _COLON_RATIO.search(text)
    if match is None:
        return None
    try:
        new, old = Decimal(match[1]), Decimal(match[2])
    except InvalidOperation:
        return None
    if not new or not old:
        return None
    return new / old


def normalize_option_eae(row: FlexRow, ctx: FlexContext, events: EventCollector) -> None:
    a = row.attrs
    raw_type = attr_text(a, "transactionType") or attr_text(a, "type") or ""
    if raw_type in UNDERLYING_LEGS:
        ctx.ignore("OptionEAE/underlying")  # the BookTrade stock row carries this leg
        return
    kind = OPTION_EVENT_KINDS.get(raw_type)
    instrument = ctx.instruments.from_row(a)
    event_date = first_date(a, "date", "dateTime", "reportDate")
    if kind is None or instrument is None or event_date is None:
        ctx.unknown(f"OptionEAE.transactionType={raw_type or '(empty)'}")
        ctx.warn("OptionEAE rows of an unknown type or without a date or contract were not imported")
        return
    quantity = attr_decimal(a, "quantity") or Decimal(0)
    trade_id = attr_text(a, "tradeID")
    if trade_id is not None:
        key = f"eae:{instrument.conid or instrument.key}:{event_date.isoformat()}:{raw_type}:{trade_id}"
    else:
        key = ctx.fallback_key(
            "option_event", event_date, kind.value, raw_type, instrument, quantity=quantity
        )
    record = OptionEventRecord(
        account=ctx.account,
        natural_key=key[:160],
        instrument=instrument,
        kind=kind,
        event_date=event_date,
        quantity=quantity,
        underlying_symbol=attr_text(a, "underlyingSymbol", 64),
        realized_pnl=attr_decimal(a, "realizedPnl"),
        raw_type=raw_type[:64],
        description=attr_text(a, "description"),
    )
    ctx.batch.option_events.append(record)
    events.option_events.append(
        _PendingEvent(record, trade_id, instrument.conid, clean(a.get("underlyingConid")))
    )


def link_option_events(ctx: FlexContext, events: EventCollector) -> None:
    """Point each event at the BookTrade rows that moved the option and the underlying."""
    for pending in events.option_events:
        record = pending.record
        same_day = [
            b for b in ctx.book_trades if b.account == record.account and b.trade_date == record.event_date
        ]
        option = None
        if pending.trade_id is not None:
            option = next((b for b in same_day if b.is_option and b.trade_id == pending.trade_id), None)
        if option is None:
            option = next((b for b in same_day if b.is_option and b.conid == pending.conid), None)
        if option is not None:
            record.option_trade_key = option.key
        elif pending.trade_id is not None:
            record.option_trade_key = ctx.trade_key_by_trade_id.get((record.account, pending.trade_id))
        if record.kind in (OptionEventKind.EXERCISE, OptionEventKind.ASSIGNMENT) and pending.underlying_conid:
            legs = [b for b in same_day if not b.is_option and b.conid == pending.underlying_conid]
            if len(legs) == 1:
                record.underlying_trade_key = legs[0].key
            else:
                record.needs_review = True  # none or several deliveries: link by hand (§4.2)
    events.option_events.clear()


def _infer_code(description: str) -> str | None:
    """Very old files have no `type` column: read the kind from the action's wording."""
    text = description.upper()
    for needle, code in (
        ("SPLIT", "FS"),
        ("MERGED", "TC"),
        ("TENDER", "TO"),
        ("SPINOFF", "SO"),
        ("SPIN-OFF", "SO"),
        ("DELIST", "DW"),
    ):
        if needle in text:
            return code
    return None


def normalize_corporate_action(row: FlexRow, ctx: FlexContext, events: EventCollector) -> None:
    a = row.attrs
    description = attr_text(a, "actionDescription") or attr_text(a, "description") or ""
    code = (attr_text(a, "type") or "").upper()
    inferred = False
    if not code:
        code = _infer_code(description) or ""
        inferred = bool(code)
    mapping = CORPORATE_ACTION_KINDS.get(code)
    if mapping is None:
        ctx.unknown(f"CorporateAction.type={code or '(missing)'}")
        mapping = (K.OTHER, True)
    kind, review = mapping
    effective = first_date(a, "dateTime", "date", "reportDate") or ctx.statement.to_date
    if effective is None:
        ctx.ignore("CorporateActions/incomplete")
        return
    instrument = ctx.instruments.from_row(a)
    quantity = None if code in NO_POSITION_CHANGE else attr_decimal(a, "quantity")
    ratio = parse_ratio(description)
    if kind is K.SPLIT and ratio is not None and ratio < 1:
        kind = K.REVERSE_SPLIT  # an old file's inferred "SPLIT 1 FOR 25"
    proceeds = attr_decimal(a, "proceeds")
    amount = proceeds if proceeds is not None else attr_decimal(a, "amount")
    action_id = attr_text(a, "actionID", 64)
    key = attr_text(a, "transactionID") or ctx.fallback_key(
        "corporate_action",
        effective,
        code or "?",
        description.split(" (")[0],
        instrument,
        quantity=quantity,
        amount=amount,
    )
    effect = {
        name: canonical_decimal(value)
        for name in ("value", "costBasis", "fifoPnlRealized", "mtmPnl")
        if (value := attr_decimal(a, name))
    }
    record = CorporateActionRecord(
        account=ctx.account,
        natural_key=key[:160],
        kind=kind,
        effective_date=effective,
        instrument=instrument,
        action_id=action_id,
        ratio=ratio,
        quantity=quantity,
        amount=amount,
        currency=(attr_text(a, "currency") or "").upper()[:8] or None,
        effect=effect,
        needs_review=review or inferred,
        raw_type=code or None,
        description=description or None,
    )
    ctx.batch.corporate_actions.append(record)
    group = action_id or f"{effective.isoformat()}|{description.split(' (')[0]}"
    events.actions.append((record, f"{ctx.account}|{group}"))


def group_corporate_actions(events: EventCollector) -> None:
    """One action, several legs: settle the merger kind and the split ratio from all its legs."""
    groups: dict[str, list[CorporateActionRecord]] = defaultdict(list)
    for record, group in events.actions:
        groups[group].append(record)
    for legs in groups.values():
        received = any(r.quantity is not None and r.quantity > 0 for r in legs)
        added = sum((r.quantity for r in legs if r.quantity is not None and r.quantity > 0), Decimal(0))
        removed = -sum((r.quantity for r in legs if r.quantity is not None and r.quantity < 0), Decimal(0))
        for record in legs:
            if record.raw_type == "TC":
                cash = record.amount is not None and record.amount != 0
                record.kind = K.MERGER_STOCK if received or not cash else K.MERGER_CASH
            if record.kind in (K.SPLIT, K.REVERSE_SPLIT) and record.ratio is None and added and removed:
                record.ratio = added / removed
    events.actions.clear()


def normalize_transfer(row: FlexRow, ctx: FlexContext) -> None:
    a = row.attrs
    raw_type = (attr_text(a, "type") or "").upper()
    scope, review = TRANSFER_SCOPES.get(raw_type, (FlowScope.EXTERNAL, True))
    if raw_type not in TRANSFER_SCOPES:
        ctx.unknown(f"Transfer.type={raw_type or '(empty)'}")
    is_cash = raw_category(a) == "CASH"
    quantity = attr_decimal(a, "quantity")
    direction_raw = (attr_text(a, "direction") or "").upper()
    if direction_raw in ("IN", "OUT"):
        direction = TransferDirection(direction_raw)
    else:
        direction = TransferDirection.OUT if quantity is not None and quantity < 0 else TransferDirection.IN
        review = True
    transfer_date = first_date(a, "date", "dateTime", "settleDate", "reportDate") or ctx.statement.to_date
    if transfer_date is None:
        ctx.ignore("Transfers/incomplete")
        return
    instrument = None if is_cash else ctx.instruments.from_row(a)
    if quantity is not None:
        quantity = abs(quantity) if direction is TransferDirection.IN else -abs(quantity)
    value = attr_decimal(a, "cashTransfer") if is_cash else attr_decimal(a, "positionAmount")
    currency = (attr_text(a, "currency") or (instrument.currency if instrument else "USD")).upper()[:8]
    key = attr_text(a, "transactionID") or ctx.fallback_key(
        "transfer", transfer_date, direction.value, raw_type, instrument, quantity=quantity, amount=value
    )
    counterparty = attr_text(a, "account") or attr_text(a, "deliveringBroker") or attr_text(a, "company")
    ctx.batch.transfers.append(
        TransferRecord(
            account=ctx.account,
            natural_key=key[:160],
            direction=direction,
            flow_scope=scope,
            transfer_date=transfer_date,
            currency=currency,
            instrument=instrument,
            transfer_type=raw_type[:32] or None,
            is_cash=is_cash,
            quantity=None if is_cash else quantity,
            value=value,
            counterparty=counterparty[:128] if counterparty else None,
            needs_review=review,
            raw_type=raw_type[:64] or None,
            description=attr_text(a, "description"),
        )
    )
