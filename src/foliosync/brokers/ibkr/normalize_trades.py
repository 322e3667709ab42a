"""Flex `Trades` rows -> TradeRecords, FX conversion cash legs and closed LotRecords.

Mapping: shared taxonomy.md §3.1 "Trade" and §4.4; keys: §2.2 (transactionID, else the §2.3 hash).
* Futures (FUT) fills move no notional cash (gross_amount 0); the variation margin is settled
  daily outside the trade rows (CashReport `cashSettlingMtm`).
* Only executions are fills (`<Trade levelOfDetail="EXECUTION">`, or a `<Trade>` without the
  column). Order / SymbolSummary / AssetSummary rows repeat the same fills and are skipped.
* `<Lot>` (CLOSED_LOT) rows become closed LotRecords; they say which lots a closing trade consumed.
* assetCategory CASH (`EUR.USD`) is a currency conversion: two FX_CONVERSION cash legs (base
  currency +quantity, quote currency the proceeds) plus a fee leg, paired by the transactionID.
* Cancels (`TradeCancel`, `BUY (Ca.)`, notes `Ca`) keep their own, opposite, quantity. When the
  fill they void is in the same import, both are marked CANCELLED (neither counts); otherwise the
  cancel row stays POSTED so that it nets against the original already in the ledger.
"""

from __future__ import annotations

from decimal import Decimal

from foliosync.brokers.ibkr.flex_parser import FlexRow
from foliosync.brokers.ibkr.flex_values import (
    attr_date,
    attr_datetime,
    attr_decimal,
    attr_label,
    attr_text,
    clean,
    codes,
    combine_date_time,
    first_date,
)
from foliosync.brokers.ibkr.normalize_context import BookTradeRef, FlexContext, PendingCancel
from foliosync.brokers.ibkr.normalize_instruments import FUTURE_LIKE, OPTION_LIKE, raw_category
from foliosync.db.types import canonical_decimal
from foliosync.ledger.records import CashRecord, LotRecord, TradeRecord
from foliosync.ledger.taxonomy import CashKind, LotOrigin, LotStatus, RecordStatus, TradeKind

ZERO = Decimal(0)
KNOWN_TRANSACTION_TYPES = frozenset(
    {"ExchTrade", "BookTrade", "TradeCancel", "TradeCorrect", "FracShare", "FracShareCancel", "DvpTrade"}
)
SUMMARY_LEVELS = frozenset({"ORDER", "SYMBOL_SUMMARY", "ASSET_SUMMARY"})
OPTION_EVENT_NOTES = (
    ("A", TradeKind.OPTION_ASSIGNMENT),
    ("Ex", TradeKind.OPTION_EXERCISE),
    ("Ep", TradeKind.OPTION_EXPIRATION),
)


def normalize_trades_row(row: FlexRow, ctx: FlexContext) -> None:
    level = (row.attrs.get("levelOfDetail") or "").strip().upper()
    if row.tag == "Lot" or level == "CLOSED_LOT":
        _closed_lot(row, ctx)
    elif level == "EXECUTION" or (not level and row.tag == "Trade"):
        category = raw_category(row.attrs)
        if category == "CASH":
            _fx_conversion(row, ctx)
        else:
            _execution(row, ctx, category)
    elif level in SUMMARY_LEVELS or row.tag in ("Order", "SymbolSummary", "AssetSummary"):
        ctx.ignore(f"Trades/{row.tag}")  # roll-ups of the executions (ibkr.md §B.3)
    else:
        ctx.ignore(f"Trades/{row.tag}:{level}")
        ctx.warn(f"Trades rows with levelOfDetail={level or '(none)'} <{row.tag}> are not imported")


def _side(buy_sell: str | None, quantity: Decimal) -> str:
    if buy_sell:
        side = buy_sell.split(" ", 1)[0].upper()
        if side in ("BUY", "SELL"):
            return side
    return "BUY" if quantity >= 0 else "SELL"


def trade_kind(
    category: str, side: str, open_close: str | None, notes: frozenset[str], transaction_type: str | None
) -> tuple[TradeKind, bool]:
    """Canonical kind and whether the row needs review (taxonomy §3.1 Trade table, in its order)."""
    if transaction_type is not None and transaction_type not in KNOWN_TRANSACTION_TYPES:
        return TradeKind.OTHER, True
    buy = side == "BUY"
    if category in OPTION_LIKE:
        for note, kind in OPTION_EVENT_NOTES:
            if note in notes:
                return kind, False
        if open_close == "O":
            return (TradeKind.BUY_TO_OPEN if buy else TradeKind.SELL_TO_OPEN), False
        if open_close == "C":
            return (TradeKind.BUY_TO_CLOSE if buy else TradeKind.SELL_TO_CLOSE), False
        # `C;O` (closes and re-opens past zero) or no indicator: the closing/opening guess is review.
        return (
            TradeKind.BUY_TO_CLOSE
            if buy and open_close
            else TradeKind.BUY_TO_OPEN
            if buy
            else TradeKind.SELL_TO_CLOSE
        ), True
    if category in FUTURE_LIKE:
        return (TradeKind.BUY if buy else TradeKind.SELL), False
    if open_close in (None, "O", "C"):
        if buy:
            return (TradeKind.BUY_TO_COVER if open_close == "C" else TradeKind.BUY), False
        return (TradeKind.SELL_SHORT if open_close == "O" else TradeKind.SELL), False
    return (TradeKind.BUY_TO_COVER if buy else TradeKind.SELL), True  # `C;O`


def _orig_id(attrs: dict[str, str], name: str) -> str | None:
    value = clean(attrs.get(name))
    return None if value in (None, "0") else value


def _execution(row: FlexRow, ctx: FlexContext, category: str) -> None:
    a = row.attrs
    account = ctx.account
    instrument = ctx.instruments.from_row(a)
    trade_date = first_date(a, "tradeDate", "dateTime", "date", "reportDate")
    quantity = attr_decimal(a, "quantity")
    if instrument is None or trade_date is None or quantity is None:
        ctx.ignore("Trades/Trade:incomplete")
        ctx.warn("Trade rows without symbol/conid, trade date or quantity were skipped")
        return
    price = abs(attr_decimal(a, "tradePrice") or ZERO)
    proceeds = attr_decimal(a, "proceeds")
    if proceeds is None:
        proceeds = -quantity * price * instrument.multiplier or ZERO  # `or`: never store -0
    elif ctx.instruments.lacks_multiplier(instrument) and quantity and price:
        inferred = abs(proceeds) / (abs(quantity) * price)
        if inferred > 1 and abs(inferred - inferred.to_integral_value()) < Decimal("0.001"):
            instrument = ctx.instruments.with_multiplier(instrument, inferred.to_integral_value())
    if category in FUTURE_LIKE:
        # A future's notional is not cash: its P&L settles daily as variation margin, which IBKR
        # reports in CashReport `cashSettlingMtm`, not per trade. The fill moves only its fees.
        proceeds = ZERO
    commission = attr_decimal(a, "ibCommission") or ZERO
    taxes = attr_decimal(a, "taxes") or ZERO
    currency = instrument.currency
    fee_currency = attr_label(a, "ibCommissionCurrency", 8)
    net = proceeds + taxes + (commission if fee_currency in (None, currency) else ZERO)
    buy_sell = attr_label(a, "buySell", 64)
    side = _side(buy_sell, quantity)
    open_close = attr_label(a, "openCloseIndicator", 4)
    notes_raw = attr_label(a, "notes", 64)
    notes = codes(notes_raw)
    transaction_type = attr_label(a, "transactionType", 64)
    kind, review = trade_kind(category, side, open_close, notes, transaction_type)
    if transaction_type is not None and transaction_type not in KNOWN_TRANSACTION_TYPES:
        ctx.unknown(f"Trade.transactionType={transaction_type}")
    executed_at = attr_datetime(a, "dateTime")
    if executed_at is None and clean(a.get("tradeTime")):
        executed_at = combine_date_time(trade_date, a.get("tradeTime"))
    settle_date = attr_date(a, "settleDateTarget")
    trade_id = attr_text(a, "tradeID", 64)
    txid = attr_text(a, "transactionID")
    if txid is None:
        key = ctx.fallback_key(
            "trade",
            trade_date,
            kind.value,
            f"{transaction_type}|{buy_sell}|{trade_id}|{attr_text(a, 'ibExecID')}",
            instrument,
            quantity=quantity,
            price=price,
            amount=proceeds,
            fees=commission,
            settle_date=settle_date,
        )
    else:
        key = txid
    cancel = (
        transaction_type in ("TradeCancel", "FracShareCancel") or "(Ca.)" in (buy_sell or "") or "Ca" in notes
    )
    correction = transaction_type == "TradeCorrect" or "Co" in notes
    record = TradeRecord(
        account=account,
        natural_key=key,
        instrument=instrument,
        kind=kind,
        side=side,
        trade_date=trade_date,
        quantity=quantity,
        price=price,
        gross_amount=proceeds,
        net_amount=net,
        currency=currency,
        commission=commission,
        other_fees=taxes,
        fee_currency=fee_currency,
        settle_date=settle_date,
        executed_at=executed_at,
        fx_rate_to_base=attr_decimal(a, "fxRateToBase"),
        cost_basis=attr_decimal(a, "cost"),
        realized_pnl=attr_decimal(a, "fifoPnlRealized"),
        open_close=open_close,
        broker_trade_id=trade_id,
        broker_order_id=attr_text(a, "ibOrderID", 64),
        broker_exec_id=attr_text(a, "ibExecID", 96),
        original_key=_orig_id(a, "origTransactionID"),
        dividend_reinvestment="R" in notes,
        forced_liquidation=bool(notes & {"L", "LF"}),
        notes=notes_raw,
        needs_review=review,
        raw_type=transaction_type,
        raw_subtype=buy_sell,
        description=attr_label(a, "description"),
    )
    ctx.batch.trades.append(record)
    if txid is not None:
        ctx.trades_by_txid[(account, txid)] = record
    if trade_id is not None and not cancel:
        ctx.trades_by_trade_id[(account, trade_id)] = record
        if ctx.linked_trade_ids is None or trade_id in ctx.linked_trade_ids:
            ctx.trade_key_by_trade_id[(account, trade_id)] = key
    if cancel or correction:
        ctx.pending_cancels.append(
            PendingCancel(record, _orig_id(a, "origTransactionID"), _orig_id(a, "origTradeID"), correction)
        )
    if transaction_type == "BookTrade" or notes & {"A", "Ex", "Ep"}:
        ctx.book_trades.append(
            BookTradeRef(
                key=key,
                account=account,
                trade_id=trade_id,
                conid=instrument.conid,
                trade_date=trade_date,
                quantity=str(quantity),
                is_option=category in OPTION_LIKE,
            )
        )


def pair_cancellations(ctx: FlexContext) -> None:
    """Mark each cancel row and the fill it voids CANCELLED when both are in this import."""
    for pending in ctx.pending_cancels:
        record = pending.record
        account = record.account
        original = None
        if pending.orig_transaction_id is not None:
            original = ctx.trades_by_txid.get((account, pending.orig_transaction_id))
        if original is None and pending.orig_trade_id is not None:
            original = ctx.trades_by_trade_id.get((account, pending.orig_trade_id))
        if original is record:
            original = None
        if original is not None:
            record.original_key = original.natural_key
            original.status = RecordStatus.CANCELLED
            if not pending.correction:
                record.status = RecordStatus.CANCELLED
        elif pending.correction and record.original_key is None:
            # The corrected fill is elsewhere: without its cancel row both would count.
            record.needs_review = True
    ctx.pending_cancels.clear()


def _fx_conversion(row: FlexRow, ctx: FlexContext) -> None:
    """assetCategory CASH: one cash leg per currency plus the commission (taxonomy §4.4)."""
    a = row.attrs
    symbol = clean(a.get("symbol")) or ""
    quote = (clean(a.get("currency")) or "USD").upper()
    base, _, pair_quote = symbol.upper().partition(".")
    if not base or not pair_quote:
        base = symbol.upper()[:3] or "?"
    trade_date = first_date(a, "tradeDate", "dateTime", "date", "reportDate")
    quantity = attr_decimal(a, "quantity")
    if trade_date is None or quantity is None:
        ctx.ignore("Trades/Trade:incomplete")
        ctx.warn("Trade rows without symbol/conid, trade date or quantity were skipped")
        return
    price = abs(attr_decimal(a, "tradePrice") or ZERO)
    proceeds = attr_decimal(a, "proceeds")
    if proceeds is None:
        proceeds = -quantity * price or ZERO
    commission = attr_decimal(a, "ibCommission") or ZERO
    fee_currency = (clean(a.get("ibCommissionCurrency")) or quote).upper()
    notes = codes(a.get("notes"))
    buy_sell = attr_text(a, "buySell")
    transaction_type = attr_text(a, "transactionType")
    executed_at = attr_datetime(a, "dateTime")
    settle_date = attr_date(a, "settleDateTarget")
    txid = attr_text(a, "transactionID")
    conversion = txid or ctx.fallback_key(
        "fx_conversion",
        trade_date,
        CashKind.FX_CONVERSION.value,
        f"{transaction_type}|{buy_sell}|{attr_text(a, 'tradeID')}|{attr_text(a, 'ibExecID')}",
        None,
        quantity=quantity,
        price=price,
        amount=proceeds,
        fees=commission,
        settle_date=settle_date,
    )
    cancel = transaction_type == "TradeCancel" or "(Ca.)" in (buy_sell or "") or "Ca" in notes
    subkind = "AUTOFX" if "AFx" in notes else None
    description = attr_text(a, "description") or symbol
    # Legs are keyed by role, not currency: a malformed pair could name one currency twice.
    legs = [
        (f"{conversion}:base", CashKind.FX_CONVERSION, subkind, quantity, base, None),
        (
            f"{conversion}:quote",
            CashKind.FX_CONVERSION,
            subkind,
            proceeds,
            quote,
            attr_decimal(a, "fxRateToBase"),
        ),
    ]
    if commission:
        legs.append((f"{conversion}:fee", CashKind.FEE, "COMMISSION", commission, fee_currency, None))
    base_key = legs[0][0]
    for key, kind, sub, amount, currency, fx_rate in legs:
        ctx.batch.cash.append(
            CashRecord(
                account=ctx.account,
                natural_key=key,
                kind=kind,
                amount=amount,
                currency=currency[:8],
                posted_date=trade_date,
                subkind=sub,
                posted_at=executed_at,
                settle_date=settle_date,
                fx_rate_to_base=fx_rate,
                action_id=conversion[:64],
                related_key=None if key == base_key else base_key,
                needs_review=cancel,
                raw_type="Trade:CASH",
                raw_subtype=(transaction_type or buy_sell or "")[:64] or None,
                description=description,
            )
        )


def _closed_lot(row: FlexRow, ctx: FlexContext) -> None:
    """A CLOSED_LOT row: the lot a closing trade consumed. It carries the closing trade's ids."""
    a = row.attrs
    instrument = ctx.instruments.from_row(a)
    quantity = attr_decimal(a, "quantity")
    if instrument is None or quantity is None:
        ctx.ignore("Trades/Lot:incomplete")
        return
    closing_txid = attr_text(a, "transactionID")
    opened_at = attr_datetime(a, "openDateTime")
    close_date = first_date(a, "tradeDate", "dateTime", "reportDate")
    if closing_txid is not None:
        # Parsed values, not raw text: the key must not change with the query's date format.
        opened = opened_at.isoformat() if opened_at else ""
        key = f"lot:{closing_txid}:{opened}:{canonical_decimal(quantity)}"
    else:
        posting = close_date or (opened_at.date() if opened_at else None) or ctx.statement.to_date
        if posting is None:
            ctx.ignore("Trades/Lot:incomplete")
            return
        key = ctx.fallback_key(
            "closed_lot",
            posting,
            "CLOSED_LOT",
            f"{attr_text(a, 'tradeID')}|{clean(a.get('openDateTime'))}",
            instrument,
            quantity=quantity,
            amount=attr_decimal(a, "cost"),
        )
    ctx.batch.lots.append(
        LotRecord(
            account=ctx.account,
            natural_key=key[:160],
            instrument=instrument,
            lot_status=LotStatus.CLOSED,
            origin=LotOrigin.BROKER,
            quantity=-quantity,  # the lot held the opposite of what the closing trade did
            currency=instrument.currency,
            cost_basis=attr_decimal(a, "cost"),
            opened_at=opened_at,
            open_date=first_date(a, "openDateTime"),
            closed_at=attr_datetime(a, "dateTime"),
            close_date=close_date,
            proceeds=attr_decimal(a, "proceeds"),
            realized_pnl=attr_decimal(a, "fifoPnlRealized"),
            closing_trade_key=closing_txid,
            raw_type="CLOSED_LOT",
            description=attr_text(a, "description"),
        )
    )
