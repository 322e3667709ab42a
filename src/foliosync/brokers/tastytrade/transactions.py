"""TastyTrade transactions to canonical records: the mapping of shared taxonomy.md §3.2.

Pure functions. Every row becomes exactly one record in one family (a Receive Deliver option
event becomes two: the option leg as a trade, so positions replay from trades alone, and the
event itself); nothing is dropped. A type or sub-type this table does not know becomes OTHER with
`needs_review` and is counted in `batch.unknown_types` as "<type>/<sub-type>".

Signs (taxonomy.md §0, brokers.md §A.4): amounts arrive unsigned with a `<field>-effect`;
Debit is negative. Quantities arrive unsigned; the sign comes from the action (Buy adds, Sell
removes). The natural key is the transaction `id` (unique per account, §2.2); the writer keys on
(account, source, natural key), so an `is-estimated-fee` row whose fees are final on a later sync
updates in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal

from foliosync.brokers.tastytrade.linking import link_batch
from foliosync.brokers.tastytrade.models import Transaction
from foliosync.brokers.tastytrade.symbols import MappedInstrument, map_instrument
from foliosync.ledger.records import (
    Batch,
    CashRecord,
    CorporateActionRecord,
    InstrumentRef,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    Broker,
    CashKind,
    CorporateActionKind,
    FlowScope,
    OptionEventKind,
    SourceFormat,
    TradeKind,
    TransferDirection,
)

ZERO = Decimal(0)
CURRENCY = "USD"  # TastyTrade accounts settle in USD only (taxonomy.md §4.4)
CENT = Decimal("0.01")

TRADE = "Trade"
RECEIVE_DELIVER = "Receive Deliver"
MONEY_MOVEMENT = "Money Movement"
ADMINISTRATIVE_TRANSFER = "Administrative Transfer"

OPEN_CLOSE_ACTIONS = ("Buy to Open", "Sell to Open", "Buy to Close", "Sell to Close")

# taxonomy.md §3.2 rows 1-4: the same action means a different kind for shares and for options.
EQUITY_TRADE_KINDS = {
    "Buy to Open": TradeKind.BUY,
    "Sell to Close": TradeKind.SELL,
    "Sell to Open": TradeKind.SELL_SHORT,
    "Buy to Close": TradeKind.BUY_TO_COVER,
    "Buy": TradeKind.BUY,
    "Sell": TradeKind.SELL,
}
OPTION_TRADE_KINDS = {
    "Buy to Open": TradeKind.BUY_TO_OPEN,
    "Sell to Open": TradeKind.SELL_TO_OPEN,
    "Buy to Close": TradeKind.BUY_TO_CLOSE,
    "Sell to Close": TradeKind.SELL_TO_CLOSE,
    "Buy": TradeKind.BUY,
    "Sell": TradeKind.SELL,
}

OPTION_EVENT_KINDS = {
    "Expiration": (OptionEventKind.EXPIRATION, TradeKind.OPTION_EXPIRATION),
    "Assignment": (OptionEventKind.ASSIGNMENT, TradeKind.OPTION_ASSIGNMENT),
    "Exercise": (OptionEventKind.EXERCISE, TradeKind.OPTION_EXERCISE),
    "Cash Settled Assignment": (OptionEventKind.CASH_SETTLEMENT, TradeKind.OPTION_CASH_SETTLEMENT),
    "Cash Settled Exercise": (OptionEventKind.CASH_SETTLEMENT, TradeKind.OPTION_CASH_SETTLEMENT),
}
# Without an `action`, the writer of an option is assigned (short goes to 0: +N) and the holder
# exercises (long goes to 0: -N). An expiration needs the position state (taxonomy.md §3.2).
OPTION_EVENT_DEFAULT_SIGN = {
    "Assignment": 1,
    "Cash Settled Assignment": 1,
    "Exercise": -1,
    "Cash Settled Exercise": -1,
}

CORPORATE_ACTION_KINDS = {
    "Forward Split": CorporateActionKind.SPLIT,
    "Reverse Split": CorporateActionKind.REVERSE_SPLIT,
    "Reverse Split Removal": CorporateActionKind.REVERSE_SPLIT,
    "Symbol Change": CorporateActionKind.SYMBOL_CHANGE,
    "Stock Merger": CorporateActionKind.MERGER_STOCK,
    "Stock Merger Removal": CorporateActionKind.MERGER_STOCK,
    "Cash Merger": CorporateActionKind.MERGER_CASH,
    "Maturity": CorporateActionKind.MATURITY,
}
# Legs that always take shares away, whatever `action` says or omits.
REMOVAL_SUB_TYPES = {"Reverse Split Removal", "Stock Merger Removal", "Cash Merger", "Maturity"}

_WITHHOLDING = re.compile(r"withh|\btax", re.IGNORECASE)
_ADR = re.compile(r"\bADR\b", re.IGNORECASE)
# "Forward split 10:1", "SPLIT 4 FOR 1", "3-for-2" -> new / old (taxonomy.md §4.3)
_RATIO = re.compile(r"(\d+(?:\.\d+)?)\s*(?::|-?\s*for\s*-?)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def normalize_transactions(transactions: Iterable[Transaction]) -> Batch:
    """Map a window of transactions to a batch and link what belongs together within it."""
    batch = Batch(broker=Broker.TASTYTRADE, source=SourceFormat.API)
    reversals: dict[str, str] = {}
    for txn in transactions:
        _map_one(txn, batch)
        if txn.reverses_id is not None:
            reversals[_key(txn)] = str(txn.reverses_id)
    batch.sections.add("transactions")
    link_batch(batch, reversals)
    return batch


# ---- shared helpers ---------------------------------------------------------------------------


def signed(value: Decimal | None, effect: str | None) -> Decimal:
    """Apply a `<field>-effect`: Debit is money out (brokers.md §A.4)."""
    if value is None:
        return ZERO
    return -abs(value) if effect == "Debit" else abs(value)


def cash_amount(txn: Transaction) -> Decimal:
    """What the row did to cash: `net-value` (value after fees) when present, else `value`."""
    if txn.net_value is not None:
        return signed(txn.net_value, txn.net_value_effect)
    return signed(txn.value, txn.value_effect)


def _utc(moment: datetime) -> datetime:
    """`executed-at` carries an offset (+00:00 in practice); the ledger stores UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _key(txn: Transaction) -> str:
    return str(txn.id)


def _subtype(txn: Transaction) -> str:
    return txn.transaction_sub_type or ""


def _instrument(txn: Transaction) -> MappedInstrument | None:
    if not txn.symbol:
        return None
    return map_instrument(txn.symbol, txn.instrument_type, txn.underlying_symbol)


def _action_sign(action: str | None) -> int | None:
    if action and action.startswith("Buy"):
        return 1
    if action and action.startswith("Sell"):
        return -1
    return None


def _count_unknown(batch: Batch, txn: Transaction) -> None:
    batch.unknown_types[f"{txn.transaction_type}/{_subtype(txn) or '-'}"] += 1


def _map_one(txn: Transaction, batch: Batch) -> None:
    handler = _HANDLERS.get(txn.transaction_type)
    if handler is None:
        _unknown(txn, batch)
    else:
        handler(txn, batch)


# ---- Trade ------------------------------------------------------------------------------------


def _trade(
    txn: Transaction,
    batch: Batch,
    *,
    kind: TradeKind | None = None,
    quantity: Decimal | None = None,
    needs_review: bool = False,
) -> TradeRecord:
    """A fill (or the option leg of an option event) with its fee components (taxonomy.md §3.2)."""
    mapped = _instrument(txn)
    instrument = mapped.ref if mapped else InstrumentRef(AssetCategory.OTHER, "UNKNOWN")
    review = needs_review or mapped is None or mapped.needs_review
    action = txn.action or _subtype(txn)
    sign = _action_sign(action)
    if kind is None:
        table = OPTION_TRADE_KINDS if instrument.asset_category in _OPTIONS else EQUITY_TRADE_KINDS
        kind = table.get(action)
        if kind is None or sign is None:
            kind, review = TradeKind.OTHER, True
            _count_unknown(batch, txn)
    if quantity is None:
        quantity = (txn.quantity or ZERO) * (sign or 1)
    price = abs(txn.price or ZERO)
    gross = signed(txn.value, txn.value_effect)
    commission = signed(txn.commission, txn.commission_effect)
    regulatory = signed(txn.regulatory_fees, txn.regulatory_fees_effect)
    other = (
        signed(txn.clearing_fees, txn.clearing_fees_effect)
        + signed(txn.proprietary_index_option_fees, txn.proprietary_index_option_fees_effect)
        + signed(txn.other_charge, txn.other_charge_effect)
    )
    net = gross + commission + regulatory + other
    if txn.net_value is not None and signed(txn.net_value, txn.net_value_effect) != net:
        # The community invariant net = value - fees (brokers.md §A.6) does not hold: keep the
        # broker's net (it is what moved cash) and ask for a look.
        net = signed(txn.net_value, txn.net_value_effect)
        review = True
        batch.warnings.append(f"transaction {txn.id}: net-value differs from value plus fees")
    if instrument.asset_category in (AssetCategory.STK, AssetCategory.OPT) and price and quantity:
        expected = (-quantity * price * instrument.multiplier).quantize(CENT)
        if expected != gross.quantize(CENT):
            review = True  # e.g. an adjusted option whose deliverable is not 100 shares (§5.5)
            batch.warnings.append(f"transaction {txn.id}: value is not quantity x price x multiplier")
    open_close = "O" if action.endswith("to Open") else "C" if action.endswith("to Close") else None
    record = TradeRecord(
        account=txn.account_number,
        natural_key=_key(txn),
        instrument=instrument,
        kind=kind,
        side="BUY" if quantity > 0 or (quantity == 0 and sign == 1) else "SELL",
        trade_date=txn.transaction_date,
        quantity=quantity,
        price=price,
        gross_amount=gross,
        net_amount=net,
        currency=CURRENCY,
        commission=commission,
        regulatory_fees=regulatory,
        other_fees=other,
        fee_currency=CURRENCY,
        executed_at=_utc(txn.executed_at),
        open_close=open_close,
        broker_trade_id=str(txn.id),
        broker_order_id=str(txn.order_id) if txn.order_id is not None else None,
        broker_exec_id=txn.exec_id,
        original_key=str(txn.reverses_id) if txn.reverses_id is not None else None,
        notes="estimated fees" if txn.is_estimated_fee and kind not in _EVENT_TRADE_KINDS else None,
        needs_review=review,
        raw_type=txn.transaction_type,
        raw_subtype=txn.transaction_sub_type,
        description=txn.description,
    )
    batch.trades.append(record)
    return record


_OPTIONS = (AssetCategory.OPT, AssetCategory.FOP)
_EVENT_TRADE_KINDS = {kind for _event, kind in OPTION_EVENT_KINDS.values()}


def _map_trade(txn: Transaction, batch: Batch) -> None:
    _trade(txn, batch)


# ---- Receive Deliver --------------------------------------------------------------------------


def _map_receive_deliver(txn: Transaction, batch: Batch) -> None:
    sub = _subtype(txn)
    if sub in OPTION_EVENT_KINDS:
        _option_event(txn, batch)
    elif sub in OPEN_CLOSE_ACTIONS:
        # The share leg of an assignment or exercise; link_batch ties it to its option event.
        _trade(txn, batch)
    elif sub in CORPORATE_ACTION_KINDS:
        _corporate_action(txn, batch)
    elif sub == "ACAT":
        _acat(txn, batch)
    elif sub == "Futures Settlement":
        # taxonomy.md §3.2 marks this "?": a cash-settlement-like close of a future.
        _trade(txn, batch, kind=TradeKind.OPTION_CASH_SETTLEMENT, needs_review=True)
    else:
        _unknown(txn, batch)


def _option_event(txn: Transaction, batch: Batch) -> None:
    sub = _subtype(txn)
    event_kind, trade_kind = OPTION_EVENT_KINDS[sub]
    magnitude = abs(txn.quantity or ZERO)
    # `action` Buy to Close = the option was short, Sell to Close = it was long (§3.2).
    sign = _action_sign(txn.action) or OPTION_EVENT_DEFAULT_SIGN.get(sub)
    review = sign is None
    if review:
        batch.warnings.append(f"transaction {txn.id}: {sub} without an action; direction unknown")
    quantity = magnitude * (sign or 1)
    option_trade = _trade(txn, batch, kind=trade_kind, quantity=quantity, needs_review=review)
    batch.option_events.append(
        OptionEventRecord(
            account=txn.account_number,
            natural_key=_key(txn),
            instrument=option_trade.instrument,
            kind=event_kind,
            event_date=txn.transaction_date,
            quantity=quantity,
            underlying_symbol=option_trade.instrument.underlying_symbol,
            option_trade_key=option_trade.natural_key,
            needs_review=option_trade.needs_review,
            raw_type=txn.transaction_type,
            raw_subtype=txn.transaction_sub_type,
            description=txn.description,
        )
    )


def _corporate_action(txn: Transaction, batch: Batch) -> None:
    sub = _subtype(txn)
    kind = CORPORATE_ACTION_KINDS[sub]
    mapped = _instrument(txn)
    sign = -1 if sub in REMOVAL_SUB_TYPES else _action_sign(txn.action)
    review = mapped is None or mapped.needs_review
    if sign is None:
        # A forward split only ever adds shares; any other leg without an action is a guess.
        sign, review = 1, review or kind is not CorporateActionKind.SPLIT
    quantity = abs(txn.quantity or ZERO) * sign
    splits = (CorporateActionKind.SPLIT, CorporateActionKind.REVERSE_SPLIT)
    ratio = parse_ratio(txn.description) if kind in splits else None
    amount = cash_amount(txn)
    batch.corporate_actions.append(
        CorporateActionRecord(
            account=txn.account_number,
            natural_key=_key(txn),
            kind=kind,
            effective_date=txn.transaction_date,
            instrument=mapped.ref if mapped else None,
            ratio=ratio,
            quantity=quantity,
            amount=amount if amount else None,
            currency=CURRENCY,
            effect={"leg": "removal" if quantity < 0 else "addition"},
            needs_review=review,
            raw_type=txn.transaction_type,
            raw_subtype=txn.transaction_sub_type,
            description=txn.description,
        )
    )


def parse_ratio(description: str | None) -> Decimal | None:
    """new / old from "Forward split 10:1" or "SPLIT 4 FOR 1"; None when the text has no ratio."""
    if not description:
        return None
    match = _RATIO.search(description)
    if match is None:
        return None
    new, old = Decimal(match[1]), Decimal(match[2])
    return new / old if old else None


def _acat(txn: Transaction, batch: Batch) -> None:
    """An in-kind (or cash) ACAT transfer with another broker: EXTERNAL (taxonomy.md §3.2)."""
    mapped = _instrument(txn)
    amount = cash_amount(txn)
    sign = _action_sign(txn.action)
    if sign is None:
        sign = 1 if amount >= 0 else -1
    quantity = abs(txn.quantity) * sign if txn.quantity is not None else None
    batch.transfers.append(
        TransferRecord(
            account=txn.account_number,
            natural_key=_key(txn),
            direction=TransferDirection.IN if sign > 0 else TransferDirection.OUT,
            flow_scope=FlowScope.EXTERNAL,
            transfer_date=txn.transaction_date,
            currency=CURRENCY,
            instrument=mapped.ref if mapped else None,
            transfer_type="ACAT",
            is_cash=mapped is None,
            quantity=quantity,
            value=amount,
            needs_review=mapped is not None and mapped.needs_review,
            raw_type=txn.transaction_type,
            raw_subtype=txn.transaction_sub_type,
            description=txn.description,
        )
    )


# ---- Money Movement ---------------------------------------------------------------------------


def _cash(
    txn: Transaction,
    batch: Batch,
    kind: CashKind,
    subkind: str | None = None,
    *,
    flow_scope: FlowScope = FlowScope.NONE,
    needs_review: bool = False,
) -> CashRecord:
    mapped = _instrument(txn)
    record = CashRecord(
        account=txn.account_number,
        natural_key=_key(txn),
        kind=kind,
        amount=cash_amount(txn),
        currency=CURRENCY,
        posted_date=txn.transaction_date,
        instrument=mapped.ref if mapped else None,
        subkind=subkind,
        posted_at=_utc(txn.executed_at),
        flow_scope=flow_scope,
        related_key=str(txn.reverses_id) if txn.reverses_id is not None else None,
        needs_review=needs_review or (mapped is not None and mapped.needs_review),
        raw_type=txn.transaction_type,
        raw_subtype=txn.transaction_sub_type,
        description=txn.description,
    )
    batch.cash.append(record)
    return record


def _transfer_subkind(description: str | None) -> str:
    text = (description or "").upper()
    for word in ("ACH", "WIRE", "CHECK"):
        if word in text:
            return word
    return "OTHER"


def _mentions_withholding(txn: Transaction) -> bool:
    return bool(_WITHHOLDING.search(txn.description or ""))


def _map_money_movement(txn: Transaction, batch: Batch) -> None:
    sub = _subtype(txn)
    debit = cash_amount(txn) < 0
    if sub == "Deposit":
        _cash(txn, batch, CashKind.DEPOSIT, _transfer_subkind(txn.description), flow_scope=FlowScope.EXTERNAL)
    elif sub == "Withdrawal" and txn.symbol:
        # A dividend charged on a short position (laroche/tastyworks-pnl#25; "lk" in §3.2).
        _cash(txn, batch, CashKind.PAYMENT_IN_LIEU, "CHARGED")
    elif sub == "Withdrawal":
        _cash(
            txn, batch, CashKind.WITHDRAWAL, _transfer_subkind(txn.description), flow_scope=FlowScope.EXTERNAL
        )
    elif sub == "Transfer":
        # Internal only if the counterparty is another of the user's accounts, which the row does
        # not say: external until linking proves otherwise ("?" in §3.2).
        kind = CashKind.WITHDRAWAL if debit else CashKind.DEPOSIT
        _cash(txn, batch, kind, "OTHER", flow_scope=FlowScope.EXTERNAL, needs_review=True)
    elif sub == "Dividend" and not debit:
        _cash(txn, batch, CashKind.DIVIDEND)
    elif sub == "Dividend" and _mentions_withholding(txn):
        _cash(txn, batch, CashKind.WITHHOLDING_TAX, "DIVIDEND", needs_review=True)
    elif sub == "Dividend":
        _cash(txn, batch, CashKind.PAYMENT_IN_LIEU, "CHARGED", needs_review=True)
    elif sub == "Special Dividend":
        _cash(txn, batch, CashKind.DIVIDEND, "SPECIAL")
    elif sub == "Credit Interest":
        _cash(txn, batch, CashKind.INTEREST_RECEIVED, "CREDIT_BALANCE")
    elif sub == "Debit Interest":
        _cash(txn, batch, CashKind.INTEREST_PAID, "MARGIN")
    elif sub == "Fully Paid Stock Lending Income":
        _cash(txn, batch, CashKind.INTEREST_RECEIVED, "SECURITIES_LENDING")
    elif sub in ("Fee", "Balance Adjustment") and _mentions_withholding(txn):
        # brokers.md §A.6: withholding has no sub-type of its own; expect it here, by wording.
        _cash(txn, batch, CashKind.WITHHOLDING_TAX, "DIVIDEND" if txn.symbol else None, needs_review=True)
    elif sub == "Fee":
        _cash(txn, batch, CashKind.FEE, "ADR" if _ADR.search(txn.description or "") else "OTHER")
    elif sub == "Balance Adjustment":
        _cash(txn, batch, CashKind.OTHER, "BALANCE_ADJUSTMENT", needs_review=True)
        _count_unknown(batch, txn)
    elif sub == "Mark to Market":
        _cash(txn, batch, CashKind.OTHER, "FUTURES_VARIATION")
    elif sub == "Cash":
        _cash(txn, batch, CashKind.OTHER, "UNKNOWN", needs_review=True)
        _count_unknown(batch, txn)
    else:
        _unknown(txn, batch)


# ---- Administrative Transfer and the unknown ----------------------------------------------------


def _map_administrative_transfer(txn: Transaction, batch: Batch) -> None:
    """A journal between accounts ("?" in §3.2): internal, flagged until confirmed."""
    mapped = _instrument(txn)
    if mapped is not None and txn.quantity:
        sign = _action_sign(txn.action) or (1 if cash_amount(txn) >= 0 else -1)
        batch.transfers.append(
            TransferRecord(
                account=txn.account_number,
                natural_key=_key(txn),
                direction=TransferDirection.IN if sign > 0 else TransferDirection.OUT,
                flow_scope=FlowScope.INTERNAL,
                transfer_date=txn.transaction_date,
                currency=CURRENCY,
                instrument=mapped.ref,
                transfer_type="JOURNAL",
                quantity=abs(txn.quantity) * sign,
                value=cash_amount(txn),
                needs_review=True,
                raw_type=txn.transaction_type,
                raw_subtype=txn.transaction_sub_type,
                description=txn.description,
            )
        )
    else:
        _cash(
            txn,
            batch,
            CashKind.INTERNAL_TRANSFER,
            "JOURNAL",
            flow_scope=FlowScope.INTERNAL,
            needs_review=True,
        )


def _unknown(txn: Transaction, batch: Batch) -> None:
    """Keep what we do not understand: its quantity as a corporate action OTHER, else its cash."""
    _count_unknown(batch, txn)
    mapped = _instrument(txn)
    if mapped is not None and txn.quantity:
        sign = _action_sign(txn.action) or 1
        batch.corporate_actions.append(
            CorporateActionRecord(
                account=txn.account_number,
                natural_key=_key(txn),
                kind=CorporateActionKind.OTHER,
                effective_date=txn.transaction_date,
                instrument=mapped.ref,
                quantity=abs(txn.quantity) * sign,
                amount=cash_amount(txn),
                currency=CURRENCY,
                needs_review=True,
                raw_type=txn.transaction_type,
                raw_subtype=txn.transaction_sub_type,
                description=txn.description,
            )
        )
    else:
        _cash(txn, batch, CashKind.OTHER, "UNKNOWN", needs_review=True)


_HANDLERS: dict[str, Callable[[Transaction, Batch], None]] = {
    TRADE: _map_trade,
    RECEIVE_DELIVER: _map_receive_deliver,
    MONEY_MOVEMENT: _map_money_movement,
    ADMINISTRATIVE_TRANSFER: _map_administrative_transfer,
}
