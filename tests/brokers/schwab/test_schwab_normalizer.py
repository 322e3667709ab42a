"""Trader API payloads -> canonical records (taxonomy.md §3.3), on the fixtures and on synthetic rows."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from foliosync.brokers.schwab.normalizer import build_batch, normalize_account
from foliosync.brokers.schwab.transactions import normalize_transactions
from foliosync.ledger.taxonomy import (
    AssetCategory,
    CashKind,
    FlowScope,
    OptionEventKind,
    RecordStatus,
    TradeKind,
    TransferDirection,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "schwab"
AS_OF = datetime(2025, 2, 5, 21, 0, tzinfo=UTC)
D = Decimal


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def batch():
    return build_batch(
        fixture("accounts_fields_positions.json")[0], fixture("transactions.json"), as_of=AS_OF
    )


def test_the_option_trade_carries_its_fee_legs_as_components(batch) -> None:
    (trade,) = batch.trades[:1]
    assert trade.natural_key == "90000000001:trade:OPT:SPY   250117P00450000"
    assert trade.account == "12345678"
    assert trade.kind is TradeKind.SELL_TO_OPEN and trade.side == "SELL" and trade.open_close == "O"
    assert (trade.quantity, trade.price, trade.gross_amount) == (D(-1), D("2.4936"), D("249.36"))
    assert (trade.commission, trade.regulatory_fees, trade.other_fees) == (D("-0.65"), D("-0.02"), D(0))
    assert trade.net_amount == D("248.69")  # Schwab's netAmount
    assert trade.gross_amount == -trade.quantity * trade.price * trade.instrument.multiplier
    assert (trade.trade_date, trade.settle_date) == (date(2025, 1, 2), date(2025, 1, 3))
    assert trade.executed_at == datetime(2025, 1, 2, 15, 0, tzinfo=UTC)
    assert (trade.broker_trade_id, trade.broker_order_id) == ("90000000001", "1000000000001")
    option = trade.instrument
    assert (option.asset_category, option.underlying_symbol, option.put_call) == (
        AssetCategory.OPT,
        "SPY",
        "P",
    )
    assert (option.strike, option.expiry, option.multiplier) == (D(450), date(2025, 1, 17), D(100))
    assert not trade.needs_review


def test_an_expiration_closes_the_option_and_records_the_event(batch) -> None:
    expiry = next(t for t in batch.trades if t.kind is TradeKind.OPTION_EXPIRATION)
    assert expiry.natural_key == "90000000003:expiration:OPT:QQQ   250117C00600000"
    assert (expiry.quantity, expiry.price, expiry.net_amount) == (D(1), D(0), D(0))
    (event,) = batch.option_events
    assert event.kind is OptionEventKind.EXPIRATION and event.event_date == date(2025, 1, 17)
    assert event.option_trade_key == expiry.natural_key and event.quantity == D(1)
    assert event.underlying_symbol == "QQQ"


def test_dividend_and_deposit(batch) -> None:
    by_key = {c.natural_key: c for c in batch.cash}
    dividend = by_key["90000000002:cash"]
    assert (dividend.kind, dividend.subkind, dividend.amount) == (CashKind.DIVIDEND, "QUALIFIED", D("176.0"))
    assert dividend.instrument is not None and dividend.instrument.symbol == "SPY"
    assert dividend.posted_date == date(2025, 1, 31) and dividend.flow_scope is FlowScope.NONE
    deposit = by_key["90000000004:cash"]
    assert (deposit.kind, deposit.subkind, deposit.amount) == (CashKind.DEPOSIT, "ACH", D("5000.0"))
    assert deposit.flow_scope is FlowScope.EXTERNAL
    assert len(batch.cash) == 2


def test_positions_long_and_short_are_stored_as_schwab_reports_them(batch) -> None:
    call, spy = batch.positions  # sorted by instrument key: OPT:... before STK:...
    assert call.instrument.key == "OPT:SPY   250321C00650000"
    assert (call.quantity, call.cost_basis, call.market_value) == (D(-1), D(-425), D(-310))
    assert (call.mark_price, call.unrealized_pnl) == (D("3.1"), D(115))
    assert spy.instrument.key == "STK:SPY:USD"
    assert (spy.quantity, spy.cost_basis, spy.market_value) == (D(100), D(45000), D(60112))
    assert (spy.mark_price, spy.unrealized_pnl) == (D("601.12"), D(15112))
    assert spy.as_of_date == date(2025, 2, 5) and spy.as_of == AS_OF


def test_balances(batch) -> None:
    (balance,) = batch.balances
    assert (balance.cash, balance.net_liquidation, balance.buying_power, balance.maintenance_margin) == (
        D("5403.07"),
        D("65205.07"),
        D("10000.0"),
        D("18033.6"),
    )
    assert balance.components["current.availableFunds"] == "5000"


def test_the_batch_describes_itself(batch) -> None:
    assert batch.sections == {"positions", "balances", "transactions"}
    assert [a.external_account_id for a in batch.accounts] == ["12345678"]
    assert {r.kind for r in batch.raw_payloads} == {"schwab-account", "schwab-transactions"}
    assert not batch.unknown_types and not batch.warnings


def activity(kind: str, net: float, description: str = "", items: list | None = None, **extra: Any) -> dict:
    row = {
        "activityId": extra.pop("activityId", 7001),
        "time": "2025-03-03T15:00:00+0000",
        "accountNumber": "12345678",
        "type": kind,
        "status": "VALID",
        "tradeDate": "2025-03-03T05:00:00+0000",
        "netAmount": net,
        "activityType": "TRANSFER",
        "description": description,
        "transferItems": items or [],
    }
    row.update(extra)
    return row


def stock_leg(
    symbol: str, amount: float, price: float = 0, cost: float = 0, effect: str | None = None
) -> dict:
    leg: dict[str, Any] = {
        "instrument": {"assetType": "EQUITY", "symbol": symbol, "cusip": "000000000"},
        "amount": amount,
        "price": price,
        "cost": cost,
    }
    if effect:
        leg["positionEffect"] = effect
    return leg


CASH_CASES = [
    ("DIVIDEND_OR_INTEREST", 10, "ORDINARY DIVIDEND", CashKind.DIVIDEND, "ORDINARY", FlowScope.NONE),
    (
        "DIVIDEND_OR_INTEREST",
        10,
        "NON-QUALIFIED DIVIDEND",
        CashKind.DIVIDEND,
        "NON_QUALIFIED",
        FlowScope.NONE,
    ),
    (
        "DIVIDEND_OR_INTEREST",
        -1.5,
        "FOREIGN TAX WITHHELD",
        CashKind.WITHHOLDING_TAX,
        "DIVIDEND",
        FlowScope.NONE,
    ),
    ("DIVIDEND_OR_INTEREST", 1.5, "NRA TAX ADJ", CashKind.WITHHOLDING_REFUND, "NRA", FlowScope.NONE),
    (
        "DIVIDEND_OR_INTEREST",
        3,
        "CREDIT INTEREST",
        CashKind.INTEREST_RECEIVED,
        "CREDIT_BALANCE",
        FlowScope.NONE,
    ),
    (
        "DIVIDEND_OR_INTEREST",
        3,
        "BANK INT 010125-013125",
        CashKind.INTEREST_RECEIVED,
        "BANK_SWEEP",
        FlowScope.NONE,
    ),
    ("DIVIDEND_OR_INTEREST", -9, "MARGIN INTEREST", CashKind.INTEREST_PAID, "MARGIN", FlowScope.NONE),
    ("DIVIDEND_OR_INTEREST", 5, "NON-TAXABLE DIVIDEND", CashKind.RETURN_OF_CAPITAL, None, FlowScope.NONE),
    (
        "DIVIDEND_OR_INTEREST",
        5,
        "LONG TERM CAP GAIN",
        CashKind.CAPITAL_GAIN_DISTRIBUTION,
        "LONG_TERM",
        FlowScope.NONE,
    ),
    (
        "DIVIDEND_OR_INTEREST",
        2,
        "CASH IN LIEU OF FRACTIONAL SHARES",
        CashKind.CASH_IN_LIEU,
        None,
        FlowScope.NONE,
    ),
    ("ACH_DISBURSEMENT", -100, "", CashKind.WITHDRAWAL, "ACH", FlowScope.EXTERNAL),
    ("WIRE_IN", 1000, "", CashKind.DEPOSIT, "WIRE", FlowScope.EXTERNAL),
    ("WIRE_OUT", -1000, "", CashKind.WITHDRAWAL, "WIRE", FlowScope.EXTERNAL),
    ("CASH_RECEIPT", 50, "CHECK DEPOSIT", CashKind.DEPOSIT, "OTHER", FlowScope.EXTERNAL),
    ("CASH_DISBURSEMENT", -25, "ACCOUNT FEE", CashKind.FEE, "OTHER", FlowScope.NONE),
    ("ELECTRONIC_FUND", 75, "", CashKind.DEPOSIT, "OTHER", FlowScope.EXTERNAL),
    ("ELECTRONIC_FUND", -75, "", CashKind.WITHDRAWAL, "OTHER", FlowScope.EXTERNAL),
    ("JOURNAL", 200, "JOURNAL FROM ...9999", CashKind.INTERNAL_TRANSFER, "JOURNAL", FlowScope.INTERNAL),
    ("MONEY_MARKET", -300, "SWEEP TO MMF", CashKind.INTERNAL_TRANSFER, "SWEEP", FlowScope.NONE),
]


@pytest.mark.parametrize(("kind", "net", "description", "expected", "subkind", "flow"), CASH_CASES)
def test_cash_types_map_per_the_table(kind, net, description, expected, subkind, flow) -> None:
    records = normalize_transactions([activity(kind, net, description)], "12345678", {})
    (cash,) = records.cash
    assert (cash.kind, cash.subkind, cash.flow_scope, cash.amount) == (expected, subkind, flow, D(str(net)))
    assert cash.natural_key == "7001:cash" and cash.raw_type == kind
    assert not records.trades and not records.unknown_types


@pytest.mark.parametrize("kind", ["MEMORANDUM", "SMA_ADJUSTMENT", "MARGIN_CALL"])
def test_informational_types_make_no_ledger_row(kind: str) -> None:
    records = normalize_transactions([activity(kind, 0, "MEMO")], "12345678", {})
    assert records.informational == 1
    assert not (records.cash or records.trades or records.transfers or records.unknown_types)


def test_an_unknown_type_is_kept_as_other_and_counted() -> None:
    records = normalize_transactions([activity("SOMETHING_NEW", -4.2, "NEW THING")], "12345678", {})
    (cash,) = records.cash
    assert (cash.kind, cash.amount, cash.needs_review) == (CashKind.OTHER, D("-4.2"), True)
    assert records.unknown_types == {"SOMETHING_NEW:NEW THING": 1}


@pytest.mark.parametrize(
    ("held", "amount", "effect", "expected"),
    [
        (0, 10, "OPENING", TradeKind.BUY),
        (10, -10, "CLOSING", TradeKind.SELL),
        (0, -10, "OPENING", TradeKind.SELL_SHORT),
        (-10, 10, "CLOSING", TradeKind.BUY_TO_COVER),
        (20, -10, None, TradeKind.SELL),  # no positionEffect: the position held decides
        (0, -10, None, TradeKind.SELL_SHORT),
        (-10, 10, "AUTOMATIC", TradeKind.BUY_TO_COVER),
        (0, 10, None, TradeKind.BUY),
    ],
)
def test_equity_trade_kinds(held: int, amount: int, effect: str | None, expected: TradeKind) -> None:
    # The snapshot is taken after the trade: held before = now - amount.
    row = activity("TRADE", -amount * 10, items=[stock_leg("AAPL", amount, 10, -amount * 10, effect)])
    records = normalize_transactions([row], "12345678", {"STK:AAPL:USD": D(held + amount)})
    (trade,) = records.trades
    assert trade.kind is expected
    assert trade.gross_amount == D(-amount * 10) and trade.price == D(10)


def test_legs_are_keyed_by_role_and_instrument_not_by_array_position() -> None:
    rows = fixture("transactions.json")
    reordered = copy.deepcopy(rows)
    for row in reordered:
        row["transferItems"].reverse()
    reordered.reverse()
    first = normalize_transactions(rows, "12345678", {})
    second = normalize_transactions(reordered, "12345678", {})
    assert first.trades == second.trades and first.cash == second.cash
    assert first.option_events == second.option_events


def test_statuses_map_and_cancelled_rows_are_kept() -> None:
    rows = [
        activity("WIRE_IN", 10, activityId=1, status="INVALID"),
        activity("WIRE_IN", 20, activityId=2, status="PENDING"),
        activity("WIRE_IN", 30, activityId=3, activityType="ACTIVITY_CORRECTION"),
    ]
    by_key = {c.natural_key: c for c in normalize_transactions(rows, "12345678", {}).cash}
    assert by_key["1:cash"].status is RecordStatus.CANCELLED
    assert by_key["2:cash"].status is RecordStatus.PENDING
    assert by_key["3:cash"].status is RecordStatus.POSTED and by_key["3:cash"].needs_review


def test_a_net_amount_the_legs_do_not_explain_is_flagged() -> None:
    row = activity("TRADE", -1000.5, items=[stock_leg("MSFT", 10, 100, -1000, "OPENING")])
    records = normalize_transactions([row], "12345678", {})
    assert records.trades[0].needs_review
    assert "netAmount is -1000.5" in records.warnings[0]


def test_an_acat_receipt_is_an_external_security_transfer() -> None:
    row = activity("RECEIVE_AND_DELIVER", 0, "ACAT TRANSFER IN", items=[stock_leg("IBM", 25)])
    (transfer,) = normalize_transactions([row], "12345678", {}).transfers
    assert (transfer.direction, transfer.flow_scope, transfer.quantity) == (
        TransferDirection.IN,
        FlowScope.EXTERNAL,
        D(25),
    )
    assert transfer.natural_key == "7001:transfer:STK:IBM:USD" and transfer.needs_review


def test_an_assignment_links_the_option_to_the_stock_delivery() -> None:
    option = {
        "instrument": {
            "assetType": "OPTION",
            "symbol": "AAPL  250321P00150000",
            "putCall": "PUT",
            "strikePrice": 150,
            "underlyingSymbol": "AAPL",
            "expirationDate": "2025-03-21T05:00:00+0000",
        },
        "amount": 1,
        "cost": 0,
        "positionEffect": "CLOSING",
    }
    stock = stock_leg("AAPL", 100, 150, -15000, "OPENING")
    row = activity("RECEIVE_AND_DELIVER", -15000, "OPTION ASSIGNMENT", items=[option, stock])
    records = normalize_transactions([row], "12345678", {"OPT:AAPL  250321P00150000": D(0)})
    (event,) = records.option_events
    assert event.kind is OptionEventKind.ASSIGNMENT
    kinds = {t.natural_key: t.kind for t in records.trades}
    assert kinds == {
        "7001:assignment:OPT:AAPL  250321P00150000": TradeKind.OPTION_ASSIGNMENT,
        "7001:delivery:STK:AAPL:USD": TradeKind.BUY,
    }
    assert event.option_trade_key == "7001:assignment:OPT:AAPL  250321P00150000"
    assert event.underlying_trade_key == "7001:delivery:STK:AAPL:USD"


def test_normalize_account_merges_one_instrument_held_in_two_sub_accounts() -> None:
    payload = copy.deepcopy(fixture("accounts_fields_positions.json")[0])
    payload["securitiesAccount"]["positions"].append(
        copy.deepcopy(payload["securitiesAccount"]["positions"][0])
    )
    _, positions, _, _ = normalize_account(payload, AS_OF)
    spy = next(p for p in positions if p.instrument.key == "STK:SPY:USD")
    assert spy.quantity == D(200) and spy.cost_basis == D(90000)
