"""OptionEAE, CorporateActions and Transfers (taxonomy §3.1, §4.2, §4.3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.normalize_events import parse_ratio
from foliosync.brokers.ibkr.normalizer import parse_flex
from foliosync.ledger.taxonomy import CorporateActionKind, FlowScope, OptionEventKind, TransferDirection
from tests.brokers.ibkr.flexdoc import STOCK, flex, row, section, statement, trade

PUT = {
    "assetCategory": "OPT",
    "symbol": "ORCL  170915P00050000",
    "conid": "268828466",
    "underlyingConid": "272800",
    "underlyingSymbol": "ORCL",
    "strike": "50",
    "expiry": "20170915",
    "putCall": "P",
    "multiplier": "100",
    "currency": "USD",
}
ORCL = {"assetCategory": "STK", "symbol": "ORCL", "conid": "272800", "currency": "USD", "multiplier": "1"}


def test_assignment_links_the_option_booking_and_the_stock_delivery() -> None:
    document = flex(
        statement(
            "U1",
            section(
                "Trades",
                trade(
                    "900",
                    "1",
                    "0",
                    **PUT,
                    tradeID="555",
                    transactionType="BookTrade",
                    notes="A",
                    buySell="BUY",
                    openCloseIndicator="C",
                    tradeDate="20170915",
                    proceeds="0",
                ),
                trade(
                    "901",
                    "100",
                    "50",
                    **ORCL,
                    tradeID="556",
                    transactionType="BookTrade",
                    notes="A",
                    tradeDate="20170915",
                ),
            ),
            section(
                "OptionEAE",
                row(
                    "OptionEAE",
                    accountId="U1",
                    **PUT,
                    transactionType="Assignment",
                    date="20170915",
                    quantity="1",
                    tradeID="555",
                    realizedPnl="0",
                ),
                row(
                    "OptionEAE",
                    accountId="U1",
                    **ORCL,
                    transactionType="Buy",
                    date="20170915",
                    quantity="100",
                ),
            ),
        )
    )
    batch = parse_flex(document, "e.xml")
    (event,) = batch.option_events
    assert event.kind is OptionEventKind.ASSIGNMENT
    assert (event.option_trade_key, event.underlying_trade_key) == ("900", "901")
    assert event.natural_key == "eae:268828466:2017-09-15:Assignment:555"
    assert not event.needs_review
    # Quantities move through the two bookings only.
    assert sorted(t.quantity for t in batch.trades) == [Decimal(1), Decimal(100)]


def test_expiration_without_booking_still_becomes_an_event() -> None:
    document = flex(
        statement(
            "U1",
            section(
                "OptionEAE",
                row(
                    "OptionEAE",
                    accountId="U1",
                    **PUT,
                    transactionType="Expiration",
                    date="20170915",
                    quantity="-1",
                ),
            ),
        )
    )
    (event,) = parse_flex(document, "e.xml").option_events
    assert (event.kind, event.option_trade_key, event.underlying_trade_key) == (
        OptionEventKind.EXPIRATION,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        ("GCM(CA38501D2041) SPLIT 1 FOR 25 (GCM, GRAN COLOMBIA GOLD CORP)", Decimal("0.04")),
        ("XYZ(US1234567890) SPLIT 4 FOR 1", Decimal(4)),
        ("TESLA INC - 2:1 Split", Decimal(2)),
        ("Forward split 10:1", Decimal(10)),
        ("ACME merged", None),
    ],
)
def test_split_ratio_from_text(text: str, ratio: Decimal | None) -> None:
    assert parse_ratio(text) == ratio


def _actions(*rows: str):
    return parse_flex(flex(statement("U1", section("CorporateActions", *rows))), "ca.xml").corporate_actions


def _action(txid: str, code: str, quantity: str, description: str, **extra: object) -> str:
    attrs = {
        **STOCK,
        "accountId": "U1",
        "transactionID": txid,
        "type": code,
        "quantity": quantity,
        "actionDescription": description,
        "dateTime": "20250115;202500",
        "reportDate": "20250116",
        "proceeds": "0",
        "amount": "0",
        **extra,
    }
    return row("CorporateAction", **attrs)


def test_reverse_split_legs_share_one_ratio() -> None:
    actions = _actions(
        _action("1", "RS", "-12000", "GCM SPLIT 1 FOR 25", actionID="77", conid="1", symbol="GCM.OLD"),
        _action("2", "RS", "480", "GCM SPLIT 1 FOR 25", actionID="77", conid="2", symbol="GCM"),
    )
    assert {(a.kind, a.ratio, a.quantity) for a in actions} == {
        (CorporateActionKind.REVERSE_SPLIT, Decimal("0.04"), Decimal(-12000)),
        (CorporateActionKind.REVERSE_SPLIT, Decimal("0.04"), Decimal(480)),
    }
    assert all(a.effective_date.isoformat() == "2025-01-15" for a in actions)


def test_split_ratio_falls_back_to_the_legs_quantities() -> None:
    actions = _actions(
        _action("1", "FS", "-100", "ACME forward split", actionID="8", conid="1"),
        _action("2", "FS", "300", "ACME forward split", actionID="8", conid="2", symbol="ACME.NEW"),
    )
    assert {a.ratio for a in actions} == {Decimal(3)}


def test_merger_kind_depends_on_what_the_legs_receive() -> None:
    stock = _actions(
        _action("1", "TC", "-100", "ACQ merged", actionID="9", conid="1"),
        _action("2", "TC", "50", "ACQ merged", actionID="9", conid="2", symbol="BUYER"),
    )
    cash = _actions(_action("3", "TC", "-100", "ACQ merged for cash", actionID="10", proceeds="5000"))
    assert {a.kind for a in stock} == {CorporateActionKind.MERGER_STOCK}
    assert [(a.kind, a.amount) for a in cash] == [(CorporateActionKind.MERGER_CASH, Decimal(5000))]
    assert all(a.needs_review for a in stock + cash)


def test_cash_dividend_actions_move_no_shares_and_unknown_codes_are_counted() -> None:
    actions = _actions(_action("1", "CD", "400", "AAPL cash dividend"), _action("2", "ZZ", "1", "new thing"))
    by_key = {a.natural_key: a for a in actions}
    assert by_key["1"].quantity is None
    assert (by_key["2"].kind, by_key["2"].needs_review) == (CorporateActionKind.OTHER, True)


def test_transfers_carry_a_signed_quantity_and_their_scope() -> None:
    rows = [
        row(
            "Transfer",
            accountId="U1",
            **STOCK,
            type="ACATS",
            direction="IN",
            quantity="25",
            date="20250105",
            transactionID="1",
            positionAmount="5000",
            deliveringBroker="OTHER BROKER",
        ),
        row(
            "Transfer",
            accountId="U1",
            **STOCK,
            type="INTERNAL",
            direction="OUT",
            quantity="10",
            date="20250106",
            transactionID="2",
            account="U7654321",
        ),
        row(
            "Transfer",
            accountId="U1",
            assetCategory="CASH",
            currency="USD",
            type="INTERNAL",
            direction="IN",
            cashTransfer="1000",
            date="20250107",
            transactionID="3",
        ),
        row(
            "Transfer",
            accountId="U1",
            **STOCK,
            type="SOMETHING",
            direction="IN",
            quantity="1",
            date="20250108",
            transactionID="4",
        ),
    ]
    batch = parse_flex(flex(statement("U1", section("Transfers", *rows))), "t.xml")
    got = {
        t.natural_key: (t.direction, t.flow_scope, t.quantity, t.is_cash, t.needs_review)
        for t in batch.transfers
    }
    assert got == {
        "1": (TransferDirection.IN, FlowScope.EXTERNAL, Decimal(25), False, False),
        "2": (TransferDirection.OUT, FlowScope.INTERNAL, Decimal(-10), False, False),
        "3": (TransferDirection.IN, FlowScope.INTERNAL, None, True, False),
        "4": (TransferDirection.IN, FlowScope.EXTERNAL, Decimal(1), False, True),
    }
    assert batch.unknown_types == {"Transfer.type=SOMETHING": 1}
