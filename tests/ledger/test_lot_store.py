"""Computed lots rebuilt from stored ledger rows after imports, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from foliosync.ledger.lot_store import rebuild_computed_lots
from foliosync.models import Instrument, TaxLot
from tests.brokers.file_import_support import make_account, make_user, run_import

HEADER = '"Activity Date","Process Date","Settle Date","Instrument","Description","Trans Code","Quantity","Price","Amount"'
OPENING = [
    '"1/2/2025","1/2/2025","1/3/2025","SPY","SPY 1/17/2025 Put $450.00","STO","1","$2.50","$249.95"',
    '"1/17/2025","1/17/2025","1/21/2025","SPY","SPY 1/17/2025 Put $450.00","OASGN","1","",""',
    '"1/17/2025","1/17/2025","1/21/2025","SPY","SPDR S&P 500 ETF\nCUSIP: 78462F103\n1 SPY Option Assigned","Buy","100","$450.00","($45,000.00)"',
]
CLOSING = [
    '"2/3/2025","2/3/2025","2/4/2025","SPY","SPDR S&P 500 ETF\nCUSIP: 78462F103","Sell","100","$460.00","$46,000.00"'
]


def _lots(session) -> list[tuple[str, str, Decimal, Decimal | None, Decimal | None]]:
    keys = {i.id: i.key for i in session.scalars(select(Instrument))}
    return sorted(
        (keys[lot.instrument_id], lot.lot_status, lot.quantity, lot.cost_basis, lot.realized_pnl)
        for lot in session.scalars(select(TaxLot).where(TaxLot.source == "computed"))
    )


def test_lots_follow_the_stored_history(session) -> None:
    user = make_user(session)
    account = make_account(session, user, "robinhood")
    summary = run_import(session, "robinhood", [("jan.csv", "\n".join([HEADER, *OPENING]).encode())], account)
    # The import itself rebuilds the account's lots from the stored history (foliosync.sync.lots).
    assert summary.accounts[0].counts["computed_lots"]["inserted"] == 2
    assert _lots(session) == [
        ("OPT:SPY   250117P00450000", "CLOSED", Decimal(-1), Decimal("-249.95"), Decimal(0)),
        ("STK:SPY:USD", "OPEN", Decimal(100), Decimal("44750.05"), None),  # premium folded in
    ]

    result, again = rebuild_computed_lots(session, account, "csv")
    session.commit()
    assert result.warnings == []
    assert again.written == 0

    after_sale = run_import(
        session, "robinhood", [("feb.csv", "\n".join([HEADER, *CLOSING]).encode())], account
    )
    session.commit()
    # The open lot is gone (deleted), a closed slice replaces it: 46000 - 44750.05.
    assert _lots(session) == [
        ("OPT:SPY   250117P00450000", "CLOSED", Decimal(-1), Decimal("-249.95"), Decimal(0)),
        ("STK:SPY:USD", "CLOSED", Decimal(100), Decimal("44750.05"), Decimal("1249.95")),
    ]
    assert after_sale.accounts[0].counts["computed_lots"]["inserted"] == 1
