"""Trades rows -> canonical records (taxonomy §3.1 Trade table, §4.4 FX legs, cancels)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.normalize_trades import trade_kind
from foliosync.brokers.ibkr.normalizer import parse_flex
from foliosync.ledger.taxonomy import CashKind, LotStatus, RecordStatus, TradeKind
from tests.brokers.ibkr.flexdoc import STOCK, flex, row, section, statement, trade


def _batch(*rows: str):
    return parse_flex(flex(statement("U1", section("Trades", *rows))), "t.xml")


def test_an_execution_keeps_the_brokers_figures() -> None:
    batch = _batch(trade("100", "10", "150.25", taxes="-0.5"))
    (record,) = batch.trades
    assert record.natural_key == "100"
    assert record.kind is TradeKind.BUY
    assert record.quantity == Decimal("10")
    assert record.price == Decimal("150.25")
    assert record.gross_amount == Decimal("-1502.50")
    assert record.commission == Decimal("-1")
    assert record.other_fees == Decimal("-0.5")
    assert record.net_amount == Decimal("-1504.00")
    assert record.instrument.key == "STK:AAPL:USD"
    assert record.executed_at is not None and record.executed_at.isoformat() == "2025-01-15T15:00:00+00:00"
    assert record.broker_trade_id == "T100"


def test_only_executions_are_fills() -> None:
    summary = {k: v for k, v in STOCK.items()}
    batch = _batch(
        row("AssetSummary", assetCategory="STK", quantity="10", levelOfDetail="ASSET_SUMMARY"),
        row("SymbolSummary", **summary, quantity="10", levelOfDetail="SYMBOL_SUMMARY"),
        row("Order", **summary, quantity="10", levelOfDetail="ORDER"),
        trade("100", "10", "150"),
    )
    assert [t.natural_key for t in batch.trades] == ["100"]


def test_closed_lot_rows_become_closed_lots_of_the_opposite_sign() -> None:
    batch = _batch(
        trade("200", "-10", "160", openCloseIndicator="C", fifoPnlRealized="98"),
        row(
            "Lot",
            **STOCK,
            accountId="U1",
            transactionID="200",
            quantity="-10",
            cost="1500",
            fifoPnlRealized="98",
            openDateTime="20240105;093000",
            tradeDate="20250115",
            levelOfDetail="CLOSED_LOT",
        ),
    )
    (lot,) = batch.lots
    assert lot.lot_status is LotStatus.CLOSED
    assert lot.quantity == Decimal("10")
    assert lot.cost_basis == Decimal("1500")
    assert lot.closing_trade_key == "200"
    assert lot.natural_key == "lot:200:2024-01-05T14:30:00+00:00:-10"


@pytest.mark.parametrize(
    ("category", "side", "open_close", "notes", "kind", "review"),
    [
        ("STK", "BUY", "O", "", TradeKind.BUY, False),
        ("STK", "BUY", None, "", TradeKind.BUY, False),
        ("STK", "SELL", "C", "", TradeKind.SELL, False),
        ("STK", "SELL", "O", "", TradeKind.SELL_SHORT, False),
        ("STK", "BUY", "C", "", TradeKind.BUY_TO_COVER, False),
        ("STK", "SELL", "C;O", "", TradeKind.SELL, True),
        ("BOND", "BUY", "O", "", TradeKind.BUY, False),
        ("OPT", "BUY", "O", "", TradeKind.BUY_TO_OPEN, False),
        ("OPT", "SELL", "O", "", TradeKind.SELL_TO_OPEN, False),
        ("OPT", "BUY", "C", "", TradeKind.BUY_TO_CLOSE, False),
        ("OPT", "SELL", "C", "", TradeKind.SELL_TO_CLOSE, False),
        ("OPT", "BUY", None, "", TradeKind.BUY_TO_OPEN, True),
        ("FOP", "SELL", "C", "", TradeKind.SELL_TO_CLOSE, False),
        ("OPT", "BUY", "C", "A", TradeKind.OPTION_ASSIGNMENT, False),
        ("OPT", "SELL", "C", "Ex", TradeKind.OPTION_EXERCISE, False),
        ("OPT", "SELL", "C", "Ep", TradeKind.OPTION_EXPIRATION, False),
        ("FUT", "SELL", "O", "", TradeKind.SELL, False),
    ],
)
def test_trade_kinds(
    category: str, side: str, open_close: str | None, notes: str, kind: TradeKind, review: bool
) -> None:
    from foliosync.brokers.ibkr.flex_values import codes

    assert trade_kind(category, side, open_close, codes(notes), "ExchTrade") == (kind, review)


def test_unknown_transaction_type_is_other_and_counted() -> None:
    batch = _batch(trade("100", "1", "10", transactionType="Assignment"))
    (record,) = batch.trades
    assert record.kind is TradeKind.OTHER and record.needs_review
    assert record.quantity == Decimal(1)  # the quantity and cash still count
    assert batch.unknown_types == {"Trade.transactionType=Assignment": 1}


def test_cancel_and_its_original_are_both_cancelled() -> None:
    batch = _batch(
        trade("100", "10", "150"),
        trade(
            "101",
            "-10",
            "150",
            buySell="BUY (Ca.)",
            transactionType="TradeCancel",
            notes="Ca",
            origTransactionID="100",
            origTradeID="T100",
            tradeID="",
        ),
        trade("102", "5", "151"),
    )
    status = {t.natural_key: t.status for t in batch.trades}
    assert status == {
        "100": RecordStatus.CANCELLED,
        "101": RecordStatus.CANCELLED,
        "102": RecordStatus.POSTED,
    }
    assert next(t for t in batch.trades if t.natural_key == "101").original_key == "100"


def test_cancel_of_a_fill_imported_earlier_stays_posted_and_nets_against_it() -> None:
    batch = _batch(
        trade(
            "101",
            "-10",
            "150",
            buySell="BUY (Ca.)",
            transactionType="TradeCancel",
            notes="Ca",
            origTradeID="T100",
            tradeID="",
        ),
    )
    (cancel,) = batch.trades
    assert cancel.status is RecordStatus.POSTED
    assert cancel.quantity == Decimal("-10")


def test_correction_cancels_the_original_by_trade_id() -> None:
    batch = _batch(
        trade("100", "10", "150"),
        trade("103", "10", "149.5", transactionType="TradeCorrect", notes="Co", origTradeID="T100"),
    )
    status = {t.natural_key: (t.status, t.original_key) for t in batch.trades}
    assert status == {"100": (RecordStatus.CANCELLED, None), "103": (RecordStatus.POSTED, "100")}


def test_fx_conversion_is_two_currency_legs_and_a_fee() -> None:
    batch = _batch(
        row(
            "Trade",
            accountId="U1",
            assetCategory="CASH",
            symbol="EUR.USD",
            currency="USD",
            conid="12087792",
            transactionID="300",
            tradeDate="20250115",
            dateTime="20250115;100000",
            quantity="1000",
            tradePrice="1.0850",
            proceeds="-1085",
            ibCommission="-2",
            ibCommissionCurrency="USD",
            buySell="BUY",
            notes="AFx",
            levelOfDetail="EXECUTION",
        ),
    )
    assert batch.trades == []
    legs = {c.natural_key: (c.kind, c.amount, c.currency, c.related_key) for c in batch.cash}
    assert legs == {
        "300:base": (CashKind.FX_CONVERSION, Decimal("1000"), "EUR", None),
        "300:quote": (CashKind.FX_CONVERSION, Decimal("-1085"), "USD", "300:base"),
        "300:fee": (CashKind.FEE, Decimal("-2"), "USD", "300:base"),
    }
    assert {c.subkind for c in batch.cash if c.kind is CashKind.FX_CONVERSION} == {"AUTOFX"}


def test_a_future_moves_only_its_fees() -> None:
    batch = _batch(
        row(
            "Trade",
            accountId="U1",
            assetCategory="FUT",
            symbol="ESH5",
            underlyingSymbol="ES",
            conid="55",
            expiry="20250321",
            multiplier="50",
            currency="USD",
            transactionID="400",
            tradeDate="20250115",
            quantity="2",
            tradePrice="5800",
            proceeds="-580000",
            ibCommission="-4.2",
            buySell="BUY",
            openCloseIndicator="O",
            levelOfDetail="EXECUTION",
        ),
    )
    (future,) = batch.trades
    assert (future.gross_amount, future.net_amount) == (Decimal(0), Decimal("-4.2"))
    assert future.instrument.key == "FUT:ES:20250321"


def test_missing_option_multiplier_is_inferred_from_proceeds() -> None:
    batch = _batch(
        row(
            "Trade",
            accountId="U1",
            assetCategory="OPT",
            symbol="ORCL  170915P00050000",
            conid="268828466",
            underlyingSymbol="ORCL",
            strike="50",
            expiry="20170915",
            putCall="P",
            currency="USD",
            transactionID="500",
            tradeDate="20170907",
            quantity="-1",
            tradePrice="0.53",
            proceeds="53",
            ibCommission="-3.5",
            buySell="SELL",
            openCloseIndicator="O",
            levelOfDetail="EXECUTION",
        ),
    )
    (option,) = batch.trades
    assert option.instrument.multiplier == Decimal(100)
    assert option.instrument.key == "OPT:ORCL  170915P00050000"
    assert option.kind is TradeKind.SELL_TO_OPEN


def test_rows_without_ids_get_stable_content_keys() -> None:
    rows = (
        trade("", "10", "150", tradeID="", transactionID=""),
        trade("", "10", "150", tradeID="", transactionID=""),
    )
    first = [t.natural_key for t in _batch(*rows).trades]
    again = [t.natural_key for t in _batch(*rows).trades]
    assert first == again
    assert len(set(first)) == 2 and first[0].endswith("#0") and first[1].endswith("#1")
