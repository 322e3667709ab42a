"""CashTransactions -> cash records: the taxonomy §3.1 table, SUMMARY rows, reversals and §4.1 links."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.normalizer import parse_flex
from foliosync.ledger.taxonomy import CashKind, FlowScope, RecordStatus
from tests.brokers.ibkr.flexdoc import STOCK, cash, flex, section, statement


def _cash(*rows: str):
    return parse_flex(flex(statement("U1", section("CashTransactions", *rows))), "c.xml")


@pytest.mark.parametrize(
    ("type_", "amount", "description", "with_stock", "kind", "subkind", "flow"),
    [
        (
            "Dividends",
            "10",
            "AAPL CASH DIVIDEND USD 0.25 PER SHARE (Ordinary Dividend)",
            True,
            CashKind.DIVIDEND,
            "ORDINARY",
            FlowScope.NONE,
        ),
        (
            "Dividends",
            "10",
            "EUNS CASH DIVIDEND EUR 1.39 PER SHARE (Mixed Income)",
            True,
            CashKind.DIVIDEND,
            "MIXED",
            FlowScope.NONE,
        ),
        ("Dividends", "10", "XYZ Return of Capital", True, CashKind.RETURN_OF_CAPITAL, None, FlowScope.NONE),
        (
            "Payment In Lieu Of Dividends",
            "-5",
            "TSLA PIL",
            True,
            CashKind.PAYMENT_IN_LIEU,
            "CHARGED",
            FlowScope.NONE,
        ),
        (
            "Payment In Lieu Of Dividends",
            "5",
            "TSLA PIL",
            True,
            CashKind.PAYMENT_IN_LIEU,
            "RECEIVED",
            FlowScope.NONE,
        ),
        ("Withholding Tax", "-1.5", "US TAX", True, CashKind.WITHHOLDING_TAX, "DIVIDEND", FlowScope.NONE),
        ("Withholding Tax", "1.5", "US TAX", True, CashKind.WITHHOLDING_REFUND, "DIVIDEND", FlowScope.NONE),
        (
            "Withholding Tax",
            "-0.2",
            "WHT ON CREDIT INTEREST",
            False,
            CashKind.WITHHOLDING_TAX,
            "INTEREST",
            FlowScope.NONE,
        ),
        (
            "Broker Interest Received",
            "0.02",
            "USD IBKR MANAGED SECURITIES (SYEP) INTEREST FOR NOV-2022",
            False,
            CashKind.INTEREST_RECEIVED,
            "SECURITIES_LENDING",
            FlowScope.NONE,
        ),
        (
            "Broker Interest Received",
            "1.23",
            "USD CREDIT INT FOR JAN-2025",
            False,
            CashKind.INTEREST_RECEIVED,
            "CREDIT_BALANCE",
            FlowScope.NONE,
        ),
        (
            "Broker Interest Paid",
            "-9.99",
            "USD DEBIT INT FOR DEC-2019",
            False,
            CashKind.INTEREST_PAID,
            "MARGIN",
            FlowScope.NONE,
        ),
        ("Broker Interest Paid", "2.5", "refund", False, CashKind.INTEREST_PAID, "MARGIN", FlowScope.NONE),
        (
            "Bond Interest Received",
            "225",
            "T 4.5 coupon",
            False,
            CashKind.BOND_INTEREST,
            "COUPON",
            FlowScope.NONE,
        ),
        (
            "Bond Interest Paid",
            "-12",
            "accrued",
            False,
            CashKind.BOND_INTEREST,
            "ACCRUED_PAID",
            FlowScope.NONE,
        ),
        ("Other Fees", "-2", "NVO ADR Fee", True, CashKind.FEE, "ADR", FlowScope.NONE),
        (
            "Other Fees",
            "-9.49",
            "BALANCE OF MONTHLY MINIMUM FEE FOR MAR 2013",
            False,
            CashKind.FEE,
            "OTHER",
            FlowScope.NONE,
        ),
        (
            "Other Fees",
            "-10",
            "VIRTX/EBS (NP,L1) FOR DEC 2012",
            False,
            CashKind.FEE,
            "MARKET_DATA",
            FlowScope.NONE,
        ),
        (
            "Other Fees",
            "-8.58",
            "US SECURITIES SNAPSHOT AND FUTURES VALUE FOR AUG 2017",
            False,
            CashKind.FEE,
            "MARKET_DATA",
            FlowScope.NONE,
        ),
        ("Other Fees", "-0.5", "SEC Fee", False, CashKind.FEE, "OTHER", FlowScope.NONE),
        ("Commission Adjustments", "-1", "adj", False, CashKind.FEE, "COMMISSION_ADJUSTMENT", FlowScope.NONE),
        (
            "Advisor Fees",
            "-245.92",
            "FinAdvisor Fee",
            False,
            CashKind.FEE,
            "ADVISOR_MANAGEMENT",
            FlowScope.NONE,
        ),
        (
            "Deposits/Withdrawals",
            "999",
            "CASH RECEIPTS / ELECTRONIC FUND TRANSFERS",
            False,
            CashKind.DEPOSIT,
            "ACH",
            FlowScope.EXTERNAL,
        ),
        (
            "Deposits & Withdrawals",
            "-5000",
            "Disbursement Initiated by Wire",
            False,
            CashKind.WITHDRAWAL,
            "WIRE",
            FlowScope.EXTERNAL,
        ),
        (
            "Deposits/Withdrawals",
            "-100",
            "TRANSFER TO U7654321",
            False,
            CashKind.INTERNAL_TRANSFER,
            "JOURNAL",
            FlowScope.INTERNAL,
        ),
        ("Price Adjustments", "3", "adj", False, CashKind.OTHER, "BALANCE_ADJUSTMENT", FlowScope.NONE),
    ],
)
def test_cash_types(type_, amount, description, with_stock, kind, subkind, flow) -> None:
    extra = STOCK if with_stock else {}
    (record,) = _cash(cash("1", type_, amount, description=description, **extra)).cash
    assert (record.kind, record.subkind, record.flow_scope) == (kind, subkind, flow)
    assert record.amount == Decimal(amount)  # the sign is the broker's, always


def test_summary_rows_are_not_imported() -> None:
    batch = _cash(
        cash(None, "Broker Interest Received", "0.02", accountId="-", levelOfDetail="SUMMARY"),
        cash("7", "Broker Interest Received", "0.02"),
    )
    assert [c.natural_key for c in batch.cash] == ["7"]


def test_unknown_type_is_other_flagged_and_counted() -> None:
    batch = _cash(cash("1", "Realized P/L", "402"), cash("2", "Realized P/L", "-2"))
    assert {(c.kind, c.subkind, c.needs_review) for c in batch.cash} == {(CashKind.OTHER, "UNKNOWN", True)}
    assert batch.unknown_types == {"CashTransaction.type=Realized P/L": 2}


def test_withholding_links_by_action_id() -> None:
    batch = _cash(
        cash("10", "Dividends", "100", actionID="A1", **STOCK),
        cash("11", "Withholding Tax", "-15", actionID="A1", **STOCK),
    )
    tax = next(c for c in batch.cash if c.natural_key == "11")
    assert tax.related_key == "10" and not tax.needs_review


def test_withholding_links_by_instrument_and_day_when_unambiguous() -> None:
    batch = _cash(
        cash("10", "Dividends", "100", **STOCK),
        cash("11", "Withholding Tax", "-15", **STOCK),
        cash(
            "20", "Dividends", "50", **{**STOCK, "symbol": "MSFT", "conid": "272093"}, reportDate="20250110"
        ),
        cash(
            "21", "Dividends", "50", **{**STOCK, "symbol": "MSFT", "conid": "272093"}, reportDate="20250110"
        ),
        cash(
            "22",
            "Withholding Tax",
            "-7.5",
            **{**STOCK, "symbol": "MSFT", "conid": "272093"},
            reportDate="20250110",
        ),
    )
    by_key = {c.natural_key: c for c in batch.cash}
    assert by_key["11"].related_key == "10"
    assert by_key["22"].related_key is None and by_key["22"].needs_review  # two candidates: by hand


def test_high_withholding_rate_is_flagged() -> None:
    batch = _cash(
        cash("10", "Dividends", "100", actionID="A", **STOCK),
        cash("11", "Withholding Tax", "-40", actionID="A", **STOCK),
    )
    assert next(c for c in batch.cash if c.natural_key == "11").needs_review


def test_reversals_are_own_rows_linked_to_what_they_reverse() -> None:
    batch = _cash(
        cash("10", "Dividends", "100", actionID="A", **STOCK),
        cash("11", "Withholding Tax", "-15", actionID="A", **STOCK),
        cash("12", "Dividends", "-100", actionID="A", description="AAPL DIVIDEND - REVERSAL", **STOCK),
        cash("13", "Withholding Tax", "15", actionID="A", **STOCK),
    )
    by_key = {c.natural_key: c for c in batch.cash}
    assert by_key["10"].status is RecordStatus.REVERSED
    assert by_key["11"].status is RecordStatus.REVERSED
    assert (by_key["12"].status, by_key["12"].related_key) == (RecordStatus.POSTED, "10")
    assert (by_key["13"].kind, by_key["13"].related_key) == (CashKind.WITHHOLDING_TAX, "11")
    assert sum(c.amount for c in batch.cash) == 0


def test_commission_adjustment_links_to_its_trade() -> None:
    from tests.brokers.ibkr.flexdoc import trade

    document = flex(
        statement(
            "U1",
            section("Trades", trade("100", "10", "150")),
            section("CashTransactions", cash("9", "Commission Adjustments", "0.5", tradeID="T100")),
        )
    )
    (adjustment,) = parse_flex(document, "c.xml").cash
    assert adjustment.related_key == "100"


def test_rows_without_transaction_ids_use_content_keys_with_an_occurrence_index() -> None:
    fee = cash(None, "Other Fees", "-1.34", description="XXXXXUSD")
    first = [c.natural_key for c in _cash(fee, fee).cash]
    assert len(set(first)) == 2
    assert first == [c.natural_key for c in _cash(fee, fee).cash]
