"""The TastyTrade normalizer on the fixtures (exact Decimals) and on hand-built rows for the mapping
cases the fixtures do not contain (taxonomy.md §3.2)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from foliosync.brokers.tastytrade.models import Balance, CustomerAccount, Position, Transaction
from foliosync.brokers.tastytrade.normalizer import (
    normalize_account,
    normalize_balance,
    normalize_positions,
    normalize_transactions,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    CashKind,
    CorporateActionKind,
    FlowScope,
    OptionEventKind,
    RecordStatus,
    TradeKind,
    TransferDirection,
)
from tests.brokers.tastytrade.conftest import NOW
from tests.fakes.tastytrade_server import load_fixture

D = Decimal


def fixture_rows() -> list[dict[str, Any]]:
    return (
        load_fixture("transactions_page0.json")["data"]["items"]
        + load_fixture("transactions_page1.json")["data"]["items"]
    )


def fixture_batch():
    return normalize_transactions(Transaction.model_validate(r) for r in fixture_rows())


def by_key(records):
    return {r.natural_key: r for r in records}


class TestFixtureTransactions:
    def test_every_row_lands_in_a_family_and_nothing_is_unknown(self):
        batch = fixture_batch()

        keys = {
            r.natural_key for family in (batch.trades, batch.cash, batch.corporate_actions) for r in family
        }
        assert keys == {str(r["id"]) for r in fixture_rows()}
        assert (len(batch.trades), len(batch.cash), len(batch.option_events)) == (4, 4, 2)
        assert (len(batch.corporate_actions), len(batch.transfers)) == (1, 0)
        assert batch.unknown_types == {}
        assert batch.warnings == []
        assert not any(r.needs_review for r in [*batch.trades, *batch.cash, *batch.option_events])

    def test_sell_to_open_put_with_fee_components(self):
        trade = by_key(fixture_batch().trades)["1001"]

        assert trade.kind is TradeKind.SELL_TO_OPEN
        assert (trade.side, trade.open_close) == ("SELL", "O")
        assert trade.quantity == D("-1.0")
        assert trade.price == D("2.5")
        assert trade.gross_amount == D("250.0")
        assert (trade.commission, trade.regulatory_fees, trade.other_fees) == (
            D("-1.0"),
            D("-0.04"),
            D("-0.1"),
        )
        assert trade.net_amount == D("248.86")
        assert trade.trade_date == date(2025, 1, 2)
        assert trade.executed_at == datetime(2025, 1, 2, 15, 0, tzinfo=UTC)
        assert (trade.broker_trade_id, trade.broker_order_id) == ("1001", "123456")
        assert trade.notes == "estimated fees"
        option = trade.instrument
        assert option.key == "OPT:SPY   250117P00450000"
        assert (option.asset_category, option.symbol) == (AssetCategory.OPT, "SPY   250117P00450000")
        assert (option.underlying_symbol, option.expiry, option.put_call) == ("SPY", date(2025, 1, 17), "P")
        assert (option.strike, option.multiplier) == (D(450), D(100))

    def test_assignment_closes_the_short_put_and_links_the_share_purchase(self):
        batch = fixture_batch()
        trades, events = by_key(batch.trades), by_key(batch.option_events)

        option_leg = trades["1002"]
        assert option_leg.kind is TradeKind.OPTION_ASSIGNMENT
        assert (option_leg.quantity, option_leg.gross_amount, option_leg.net_amount) == (D("1.0"), 0, 0)
        shares = trades["1003"]
        assert shares.kind is TradeKind.BUY
        assert shares.instrument.key == "STK:SPY:USD"
        assert (shares.quantity, shares.price) == (D("100.0"), D("450.0"))
        assert (shares.gross_amount, shares.net_amount) == (D("-45000.0"), D("-45000.0"))
        event = events["1002"]
        assert event.kind is OptionEventKind.ASSIGNMENT
        assert (event.quantity, event.event_date) == (D("1.0"), date(2025, 1, 17))
        assert (event.option_trade_key, event.underlying_trade_key) == ("1002", "1003")
        assert event.instrument.key == "OPT:SPY   250117P00450000"

    def test_expiration_of_a_short_call(self):
        batch = fixture_batch()
        event = by_key(batch.option_events)["1004"]

        assert event.kind is OptionEventKind.EXPIRATION
        assert event.quantity == D("1.0")  # Buy to Close: the call was short
        assert event.instrument.key == "OPT:QQQ   250117C00600000"
        assert event.underlying_trade_key is None
        assert by_key(batch.trades)["1004"].kind is TradeKind.OPTION_EXPIRATION

    def test_money_movements(self):
        cash = by_key(fixture_batch().cash)

        dividend = cash["1005"]
        assert (dividend.kind, dividend.amount, dividend.instrument.key) == (
            CashKind.DIVIDEND,
            D("176.0"),
            "STK:SPY:USD",
        )
        assert (cash["1006"].kind, cash["1006"].subkind, cash["1006"].amount) == (
            CashKind.INTEREST_RECEIVED,
            "CREDIT_BALANCE",
            D("3.21"),
        )
        assert (cash["1007"].kind, cash["1007"].subkind, cash["1007"].amount) == (
            CashKind.FEE,
            "OTHER",
            D("-25.0"),
        )
        deposit = cash["1008"]
        assert (deposit.kind, deposit.subkind, deposit.amount) == (CashKind.DEPOSIT, "ACH", D("5000.0"))
        assert deposit.flow_scope is FlowScope.EXTERNAL
        assert all(c.flow_scope is FlowScope.NONE for k, c in cash.items() if k != "1008")
        assert deposit.posted_at == datetime(2025, 2, 4, 15, 0, tzinfo=UTC)

    def test_forward_split_is_a_corporate_action_with_its_ratio(self):
        [split] = fixture_batch().corporate_actions

        assert (split.kind, split.natural_key) == (CorporateActionKind.SPLIT, "1009")
        assert (split.quantity, split.ratio) == (D("90.0"), D(10))
        assert split.effective_date == date(2024, 6, 10)
        assert split.instrument.key == "STK:NVDA:USD"

    def test_cash_effect_equals_the_sum_of_signed_net_values(self):
        expected = sum(
            (D(r["net-value"]) * (-1 if r["net-value-effect"] == "Debit" else 1) for r in fixture_rows()),
            D(0),
        )
        batch = fixture_batch()

        mapped = (
            sum((t.net_amount for t in batch.trades), D(0))
            + sum((c.amount for c in batch.cash), D(0))
            + sum((a.amount or 0 for a in batch.corporate_actions), D(0))
        )

        assert expected == D("-39596.93")
        assert mapped == expected


class TestSnapshots:
    def test_positions_are_signed_by_direction(self):
        items = load_fixture("positions.json")["data"]["items"]
        positions = normalize_positions([Position.model_validate(i) for i in items], NOW)

        spy, call = positions
        assert (spy.instrument.key, spy.quantity) == ("STK:SPY:USD", D(100))
        assert (spy.cost_basis, spy.mark_price, spy.market_value, spy.unrealized_pnl) == (
            D("45000.0"),
            D("601.12"),
            D("60112.00"),
            D("15112.00"),
        )
        assert (call.instrument.key, call.quantity) == ("OPT:SPY   250321C00650000", D(-1))
        assert (call.cost_basis, call.market_value, call.unrealized_pnl) == (
            D("-425.00"),
            D("-310.0"),
            D("115.00"),
        )
        assert {p.as_of_date for p in positions} == {date(2025, 2, 5)}
        assert {p.as_of for p in positions} == {NOW}

    def test_positions_add_up_to_net_liquidation(self):
        items = load_fixture("positions.json")["data"]["items"]
        positions = normalize_positions([Position.model_validate(i) for i in items], NOW)
        balance = normalize_balance(Balance.model_validate(load_fixture("balances_USD.json")["data"]), NOW)

        assert balance.cash + sum(p.market_value for p in positions) == balance.net_liquidation

    def test_balance_as_reported(self):
        balance = normalize_balance(Balance.model_validate(load_fixture("balances_USD.json")["data"]), NOW)

        assert (balance.account, balance.currency, balance.as_of_date) == (
            "5WX00001",
            "USD",
            date(2025, 2, 4),
        )
        assert (balance.cash, balance.net_liquidation) == (D("5403.07"), D("65205.07"))
        assert (balance.buying_power, balance.maintenance_margin) == (D("0.0"), D("0.0"))
        assert balance.components["stock"] == "60112"
        assert balance.components["options"] == "-310"

    def test_zero_positions_are_not_holdings(self):
        item = {
            **load_fixture("positions.json")["data"]["items"][0],
            "quantity": "0",
            "quantity-direction": "Zero",
        }
        assert normalize_positions([Position.model_validate(item)], NOW) == []

    def test_account(self):
        [item] = load_fixture("customers_me_accounts.json")["data"]["items"]
        info = normalize_account(CustomerAccount.model_validate(item))

        assert (info.external_account_id, info.alias, info.base_currency) == ("5WX00001", "Individual", "USD")
        assert info.details["margin_or_cash"] == "Margin"
        assert info.details["authority_level"] == "owner"


# ---- mapping cases beyond the fixtures -----------------------------------------------------------

_NEXT_ID = iter(range(5000, 6000))


def txn(type_: str, sub: str, value: str = "0.0", effect: str = "None", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": next(_NEXT_ID),
        "account-number": "5WX00001",
        "transaction-type": type_,
        "transaction-sub-type": sub,
        "description": fields.pop("description", sub),
        "executed-at": "2025-03-03T15:00:00.000+00:00",
        "transaction-date": "2025-03-03",
        "value": value,
        "value-effect": effect,
        "net-value": value,
        "net-value-effect": effect,
        "is-estimated-fee": False,
    }
    row.update({k.replace("_", "-"): v for k, v in fields.items()})
    return row


def equity(symbol: str = "AAPL") -> dict[str, str]:
    return {"symbol": symbol, "instrument_type": "Equity", "underlying_symbol": symbol}


def normalize(*rows: dict[str, Any]):
    return normalize_transactions(Transaction.model_validate(r) for r in rows)


class TestMoreMappings:
    def test_equity_short_sale_and_cover(self):
        short = txn(
            "Trade",
            "Sell to Open",
            "1500.0",
            "Credit",
            action="Sell to Open",
            quantity="10",
            price="150.0",
            **equity(),
        )
        cover = txn(
            "Trade",
            "Buy to Close",
            "1400.0",
            "Debit",
            action="Buy to Close",
            quantity="10",
            price="140.0",
            **equity(),
        )
        trades = normalize(short, cover).trades

        assert [(t.kind, t.quantity, t.gross_amount) for t in trades] == [
            (TradeKind.SELL_SHORT, D(-10), D("1500.0")),
            (TradeKind.BUY_TO_COVER, D(10), D("-1400.0")),
        ]

    def test_fee_components_include_clearing_and_index_option_fees(self):
        row = txn(
            "Trade",
            "Buy to Open",
            "550.0",
            "Debit",
            action="Buy to Open",
            quantity="1",
            price="5.5",
            symbol="SPXW  250321C05800000",
            instrument_type="Equity Option",
            underlying_symbol="SPX",
            commission="1.0",
            commission_effect="Debit",
            clearing_fees="0.1",
            clearing_fees_effect="Debit",
            regulatory_fees="0.05",
            regulatory_fees_effect="Debit",
            proprietary_index_option_fees="0.65",
            proprietary_index_option_fees_effect="Debit",
        )
        row["net-value"], row["net-value-effect"] = "551.8", "Debit"
        [trade] = normalize(row).trades

        assert trade.kind is TradeKind.BUY_TO_OPEN
        assert (trade.commission, trade.regulatory_fees, trade.other_fees) == (
            D("-1.0"),
            D("-0.05"),
            D("-0.75"),
        )
        assert trade.net_amount == D("-551.8")
        assert trade.instrument.symbol == "SPXW  250321C05800000"
        assert trade.instrument.underlying_symbol == "SPX"
        assert not trade.needs_review

    def test_net_value_that_does_not_add_up_is_kept_and_flagged(self):
        row = txn(
            "Trade",
            "Buy to Open",
            "100.0",
            "Debit",
            action="Buy to Open",
            quantity="1",
            price="100",
            **equity(),
        )
        row["net-value"] = "101.0"
        batch = normalize(row)

        assert batch.trades[0].net_amount == D("-101.0")
        assert batch.trades[0].needs_review
        assert batch.warnings

    def test_short_call_assignment_sells_shares(self):
        option = txn(
            "Receive Deliver",
            "Assignment",
            action="Buy to Close",
            quantity="2",
            symbol="AAPL  250321C00200000",
            instrument_type="Equity Option",
            underlying_symbol="AAPL",
        )
        shares = txn(
            "Receive Deliver",
            "Sell to Close",
            "40000.0",
            "Credit",
            action="Sell to Close",
            quantity="200",
            price="200.0",
            **equity(),
        )
        batch = normalize(option, shares)

        [event] = batch.option_events
        assert (event.quantity, event.underlying_trade_key) == (D(2), str(shares["id"]))
        assert not event.needs_review
        assert by_key(batch.trades)[str(shares["id"])].kind is TradeKind.SELL

    def test_share_leg_at_the_wrong_price_is_flagged(self):
        option = txn(
            "Receive Deliver",
            "Assignment",
            action="Buy to Close",
            quantity="1",
            symbol="AAPL  250321P00200000",
            instrument_type="Equity Option",
            underlying_symbol="AAPL",
        )
        shares = txn(
            "Receive Deliver",
            "Buy to Open",
            "19000.0",
            "Debit",
            action="Buy to Open",
            quantity="100",
            price="190.0",
            **equity(),
        )
        [event] = normalize(option, shares).option_events
        assert event.needs_review

    def test_exercise_without_action_defaults_to_a_long_holder(self):
        option = txn(
            "Receive Deliver",
            "Exercise",
            quantity="1",
            symbol="AAPL  250321C00200000",
            instrument_type="Equity Option",
            underlying_symbol="AAPL",
        )
        shares = txn(
            "Receive Deliver",
            "Buy to Open",
            "20000.0",
            "Debit",
            action="Buy to Open",
            quantity="100",
            price="200.0",
            **equity(),
        )
        batch = normalize(option, shares)

        [event] = batch.option_events
        assert (event.kind, event.quantity) == (OptionEventKind.EXERCISE, D(-1))
        assert event.underlying_trade_key == str(shares["id"])

    def test_expiration_without_action_is_flagged(self):
        row = txn(
            "Receive Deliver",
            "Expiration",
            quantity="1",
            symbol="QQQ   250117C00600000",
            instrument_type="Equity Option",
            underlying_symbol="QQQ",
        )
        batch = normalize(row)
        assert batch.option_events[0].needs_review
        assert batch.trades[0].needs_review

    def test_withholding_on_a_dividend_is_linked_to_it(self):
        dividend = txn(
            "Money Movement", "Dividend", "50.0", "Credit", description="ASML HOLDING", **equity("ASML")
        )
        tax = txn(
            "Money Movement",
            "Dividend",
            "7.5",
            "Debit",
            description="ASML HOLDING NON-RES TAX WITHHELD",
            **equity("ASML"),
        )
        cash = by_key(normalize(dividend, tax).cash)

        withholding = cash[str(tax["id"])]
        assert (withholding.kind, withholding.subkind, withholding.amount) == (
            CashKind.WITHHOLDING_TAX,
            "DIVIDEND",
            D("-7.5"),
        )
        assert withholding.related_key == str(dividend["id"])
        assert withholding.needs_review  # "?" in taxonomy §3.2 until a real account confirms it

    def test_debit_dividend_without_tax_wording_is_payment_in_lieu(self):
        row = txn("Money Movement", "Dividend", "12.0", "Debit", description="DIVIDEND ON SHORT", **equity())
        [record] = normalize(row).cash
        assert (record.kind, record.subkind, record.amount) == (
            CashKind.PAYMENT_IN_LIEU,
            "CHARGED",
            D("-12.0"),
        )

    def test_interest_paid_special_dividend_withdrawal_and_lending(self):
        rows = [
            txn("Money Movement", "Debit Interest", "4.2", "Debit"),
            txn("Money Movement", "Special Dividend", "100.0", "Credit", **equity()),
            txn("Money Movement", "Withdrawal", "1000.0", "Debit", description="WIRE OUT"),
            txn("Money Movement", "Fully Paid Stock Lending Income", "0.31", "Credit"),
            txn("Money Movement", "Fee", "2.5", "Debit", description="ADR FEE", **equity("TSM")),
            txn("Money Movement", "Mark to Market", "125.0", "Credit"),
        ]
        cash = normalize(*rows).cash

        assert [(c.kind, c.subkind, c.amount, c.flow_scope) for c in cash] == [
            (CashKind.INTEREST_PAID, "MARGIN", D("-4.2"), FlowScope.NONE),
            (CashKind.DIVIDEND, "SPECIAL", D("100.0"), FlowScope.NONE),
            (CashKind.WITHDRAWAL, "WIRE", D("-1000.0"), FlowScope.EXTERNAL),
            (CashKind.INTEREST_RECEIVED, "SECURITIES_LENDING", D("0.31"), FlowScope.NONE),
            (CashKind.FEE, "ADR", D("-2.5"), FlowScope.NONE),
            (CashKind.OTHER, "FUTURES_VARIATION", D("125.0"), FlowScope.NONE),
        ]
        assert not any(c.needs_review for c in cash)

    def test_unknown_subtypes_are_kept_flagged_and_counted(self):
        rows = [
            txn("Money Movement", "Crypto Airdrop", "3.0", "Credit"),
            txn("Money Movement", "Crypto Airdrop", "2.0", "Credit"),
            txn("Receive Deliver", "Spinoff", action="Buy to Open", quantity="5", **equity("SOLV")),
            txn("Money Movement", "Balance Adjustment", "0.01", "Credit"),
            txn("Mystery Type", "Whatever", "1.0", "Debit"),
        ]
        batch = normalize(*rows)

        assert batch.unknown_types == {
            "Money Movement/Crypto Airdrop": 2,
            "Receive Deliver/Spinoff": 1,
            "Money Movement/Balance Adjustment": 1,
            "Mystery Type/Whatever": 1,
        }
        assert [(c.kind, c.amount) for c in batch.cash] == [
            (CashKind.OTHER, D("3.0")),
            (CashKind.OTHER, D("2.0")),
            (CashKind.OTHER, D("0.01")),
            (CashKind.OTHER, D("-1.0")),
        ]
        [spinoff] = batch.corporate_actions
        assert (spinoff.kind, spinoff.quantity, spinoff.instrument.key) == (
            CorporateActionKind.OTHER,
            D(5),
            "STK:SOLV:USD",
        )
        assert all(r.needs_review for r in [*batch.cash, *batch.corporate_actions])

    def test_reverse_split_legs_are_paired_with_their_ratio(self):
        added = txn(
            "Receive Deliver",
            "Reverse Split",
            action="Buy to Open",
            quantity="10",
            description="Reverse split",
            **equity("XYZ"),
        )
        removed = txn(
            "Receive Deliver",
            "Reverse Split Removal",
            action="Sell to Close",
            quantity="100",
            description="Reverse split",
            **equity("XYZ"),
        )
        actions = by_key(normalize(added, removed).corporate_actions)

        new, old = actions[str(added["id"])], actions[str(removed["id"])]
        assert (new.kind, new.quantity, old.quantity) == (CorporateActionKind.REVERSE_SPLIT, D(10), D(-100))
        assert new.action_id == old.action_id == f"{removed['id']}+{added['id']}"
        assert new.ratio == old.ratio == D("0.1")
        assert not new.needs_review and not old.needs_review

    def test_symbol_change_without_its_other_leg_is_flagged(self):
        [leg] = normalize(
            txn("Receive Deliver", "Symbol Change", action="Sell to Close", quantity="10", **equity("FB"))
        ).corporate_actions
        assert (leg.kind, leg.quantity) == (CorporateActionKind.SYMBOL_CHANGE, D(-10))
        assert leg.needs_review

    def test_acat_in_is_an_external_transfer(self):
        [transfer] = normalize(
            txn("Receive Deliver", "ACAT", action="Buy to Open", quantity="25", **equity("MSFT"))
        ).transfers
        assert (transfer.direction, transfer.flow_scope, transfer.quantity) == (
            TransferDirection.IN,
            FlowScope.EXTERNAL,
            D(25),
        )
        assert transfer.instrument.key == "STK:MSFT:USD"

    def test_reversal_marks_the_original_reversed(self):
        fee = txn("Money Movement", "Fee", "10.0", "Debit", description="Fee: paper statement")
        refund = txn(
            "Money Movement",
            "Fee",
            "10.0",
            "Credit",
            description="Fee: paper statement",
            reverses_id=fee["id"],
        )
        cash = by_key(normalize(fee, refund).cash)

        assert cash[str(fee["id"])].status is RecordStatus.REVERSED
        assert cash[str(refund["id"])].status is RecordStatus.POSTED
        assert cash[str(refund["id"])].related_key == str(fee["id"])
        assert cash[str(fee["id"])].amount + cash[str(refund["id"])].amount == 0

    def test_final_fees_keep_the_same_natural_key(self):
        estimated = txn(
            "Trade",
            "Buy to Open",
            "100.0",
            "Debit",
            action="Buy to Open",
            quantity="1",
            price="100",
            commission="1.0",
            commission_effect="Debit",
            **equity(),
        )
        estimated["net-value"], estimated["is-estimated-fee"] = "101.0", True
        final = {**estimated, "commission": "0.5", "net-value": "100.5", "is-estimated-fee": False}

        [before], [after] = normalize(estimated).trades, normalize(final).trades

        assert before.natural_key == after.natural_key == str(estimated["id"])
        assert (before.notes, after.notes) == ("estimated fees", None)
        assert (before.net_amount, after.net_amount) == (D("-101.0"), D("-100.5"))
