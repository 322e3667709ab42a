"""Every public Flex fixture imports into SQLite and PostgreSQL with exactly what its XML holds.

Expected counts and sums come from `expected.py`, which reads the XML with ElementTree; nothing
here goes through foliosync's own parser to compute what the answer should be.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.models import (
    BrokerAccount,
    CashTransaction,
    CorporateAction,
    OptionEvent,
    Position,
    RawPayload,
    TaxLot,
    Trade,
    Transfer,
    User,
)
from foliosync.sync.importing import ImportSummary
from tests.brokers.ibkr.conftest import DATA, FIXTURES, import_flex, written
from tests.brokers.ibkr.expected import cash_report_check, expected_from

ZERO = Decimal(0)


def _rows(session: Session, model: type, ids: list[int]) -> list:
    return list(session.scalars(select(model).where(model.account_id.in_(ids))))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_imports_every_row_the_xml_holds_once(session: Session, user: User, path: Path) -> None:
    exp = expected_from(path)
    summary = import_flex(session, user, (path.name, path.read_bytes()))

    accounts = {a.external_account_id: a.account_id for a in summary.accounts}
    assert set(accounts) == exp.accounts
    ids = list(accounts.values())
    trades = _rows(session, Trade, ids)
    assert len(trades) == exp.trades
    for number, account_id in accounts.items():
        assert sum(1 for t in trades if t.account_id == account_id) == exp.trades_by_account[number]
    quantity: dict[str, Decimal] = defaultdict(Decimal)
    commission: dict[str, Decimal] = defaultdict(Decimal)
    gross: dict[str, Decimal] = defaultdict(Decimal)
    for trade in trades:
        quantity[trade.currency] += trade.quantity
        commission[trade.currency] += trade.commission
        gross[trade.currency] += trade.gross_amount
    assert quantity == dict(exp.trade_quantity_by_currency)
    assert commission == dict(exp.trade_commission_by_currency)
    assert {k: v for k, v in gross.items() if v} == {
        k: v for k, v in exp.trade_proceeds_by_currency.items() if v
    }

    cash = _rows(session, CashTransaction, ids)
    assert len(cash) == exp.cash_records
    by_type: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for record in cash:
        if record.raw_type != "Trade:CASH":
            by_type[(record.raw_type or "", record.currency)] += record.amount
    assert by_type == dict(exp.cash_by_type_currency)

    lots = _rows(session, TaxLot, ids)
    assert sum(1 for lot in lots if lot.lot_status == "CLOSED") == exp.closed_lots
    assert sum(1 for lot in lots if lot.lot_status == "OPEN") == exp.open_lots
    assert len(_rows(session, Position, ids)) == exp.positions
    assert len(_rows(session, CorporateAction, ids)) == exp.corporate_actions
    assert len(_rows(session, Transfer, ids)) == exp.transfers
    assert len(_rows(session, OptionEvent, ids)) == exp.option_events
    _assert_cash_reconciliation(path, summary)

    again = import_flex(session, user, (path.name, path.read_bytes()))
    assert written(again) == 0
    for before, after in zip(summary.accounts, again.accounts, strict=True):
        for table, counts in before.counts.items():
            if table != "instruments":
                assert (
                    after.counts[table]["unchanged"]
                    == counts["inserted"] + counts["updated"] + counts["unchanged"]
                )
    assert session.scalar(select(func.count(RawPayload.id))) == 1


def _assert_cash_reconciliation(path: Path, summary: ImportSummary) -> None:
    """Where the file has a per-currency CashReport, reconciliation reports exactly the gap between
    starting cash plus every flow in the file and the reported ending cash (computed from the XML)."""
    checks = cash_report_check(path)
    for account in summary.accounts:
        mine = {k: v for k, v in checks.items() if k[0] == account.external_account_id}
        if not mine:
            continue
        result = account.reconciliation
        assert result["checked"] is True
        differences = {d["subject"]: d for d in result["differences"] if d["kind"] == "cash"}
        for (_, currency), (ledger, reported) in mine.items():
            if abs(ledger - reported) <= Decimal("0.01"):
                assert currency not in differences
            else:
                assert Decimal(differences[currency]["ledger"]) == ledger
                assert Decimal(differences[currency]["reported"]) == reported
                assert Decimal(differences[currency]["difference"]) == ledger - reported
        assert account.status == ("PARTIAL" if differences else "SUCCESS")


def test_real_statements_reconcile_to_the_cent(session: Session, user: User) -> None:
    # Statements IBKR produced whole (not trimmed by the fixture's authors) balance exactly.
    for name in ("testIBFlexStatementFile14.xml", "testIBFlexStatementFile24.xml", "TestForCoding.xml"):
        path = next(p for p in FIXTURES if p.name == name)
        summary = import_flex(session, user, (path.name, path.read_bytes()))
        (account,) = summary.accounts
        assert account.reconciliation["checked"] is True
        assert account.reconciliation["differences"] == []
        assert account.status == "SUCCESS"


def test_multi_account_response_creates_one_account_per_statement(session: Session, user: User) -> None:
    path = DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml"
    summary = import_flex(session, user, (path.name, path.read_bytes()))

    accounts = {a.external_account_id: a for a in session.scalars(select(BrokerAccount))}
    assert set(accounts) == {"U1234567", "U1234568"}
    assert accounts["U1234567"].base_currency == "USD"
    assert accounts["U1234568"].base_currency == "EUR"
    cash = {
        number: sorted(c.amount for c in _rows(session, CashTransaction, [acct.id]))
        for number, acct in accounts.items()
    }
    assert cash == {"U1234567": [Decimal("13.90")], "U1234568": [Decimal("1.39"), Decimal("62.05")]}
    # The second statement lacks the Trades section the first one has: that account's data is missing.
    assert {a.status for a in summary.accounts} == {"PARTIAL"}
    assert summary.accounts[0].unknown_types == {}


def test_withholding_links_to_its_dividend_and_fee_duplicates_stay_two_rows(
    session: Session, user: User
) -> None:
    path = DATA / "portfolio-performance" / "testIBFlexStatementFile02.xml"
    import_flex(session, user, (path.name, path.read_bytes()))

    rows = {(c.kind, c.amount): c for c in session.scalars(select(CashTransaction))}
    dividend = rows[("DIVIDEND", Decimal("19"))]
    tax = rows[("WITHHOLDING_TAX", Decimal("-2.85"))]
    assert tax.related_key == dividend.natural_key
    fees = [c for c in session.scalars(select(CashTransaction)) if c.amount == Decimal("-8.58")]
    assert len(fees) == 2 and len({f.natural_key for f in fees}) == 2
    assert all(f.kind == "FEE" and f.subkind == "MARKET_DATA" for f in fees)
