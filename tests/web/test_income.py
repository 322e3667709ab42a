"""Monthly dividend income net of withholding (foliosync.portfolio.income), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from foliosync.db.session import session_scope
from foliosync.ledger.records import Batch, CashRecord, InstrumentRef
from foliosync.ledger.taxonomy import AssetCategory, Broker, CashKind, RecordStatus, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User
from foliosync.portfolio.income import add_months, month_window, monthly_income

D = Decimal
KO = InstrumentRef(AssetCategory.STK, "KO", "USD")
NESN = InstrumentRef(AssetCategory.STK, "NESN", "CHF")


def _cash(account, key, kind, amount, day, *, subkind=None, fx=None, status=RecordStatus.POSTED, inst=KO):
    return CashRecord(
        account=account,
        natural_key=key,
        kind=kind,
        amount=D(amount),
        currency=inst.currency if inst else "USD",
        posted_date=day,
        instrument=inst,
        subkind=subkind,
        fx_rate_to_base=D(fx) if fx else None,
        status=status,
    )


def _user_with_accounts(session, email, numbers):
    user = User(email=email, password_hash="x")
    session.add(user)
    session.flush()
    ids = {}
    for number in numbers:
        account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=number, alias=number)
        session.add(account)
        session.flush()
        ids[number] = account.id
    return user, ids


def test_month_window_runs_oldest_first_across_a_year_end():
    assert month_window(date(2025, 2, 17), 4) == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert add_months(date(2025, 1, 1), -13) == date(2023, 12, 1)
    with pytest.raises(ValueError):
        month_window(date(2025, 1, 1), 0)


def test_income_nets_withholding_converts_to_base_and_skips_what_does_not_count(engine):
    with session_scope(engine) as session:
        user, ids = _user_with_accounts(session, "inc@example.com", ["A1", "A2"])
        other, other_ids = _user_with_accounts(session, "other@example.com", ["B1"])
        batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        batch.cash = [
            # March: a dividend with 15% withheld, and a payment in lieu in another account.
            _cash("A1", "d1", CashKind.DIVIDEND, "100.00", date(2025, 3, 14)),
            _cash("A1", "w1", CashKind.WITHHOLDING_TAX, "-15.00", date(2025, 3, 14), subkind="DIVIDEND"),
            _cash("A2", "p1", CashKind.PAYMENT_IN_LIEU, "20.50", date(2025, 3, 20)),
            # April: a CHF dividend (rate to USD base 1.10) with 35% Swiss tax; a refund of 5.
            _cash("A1", "d2", CashKind.DIVIDEND, "200", date(2025, 4, 2), fx="1.10", inst=NESN),
            _cash("A1", "w2", CashKind.WITHHOLDING_TAX, "-70", date(2025, 4, 2), fx="1.10", inst=NESN),
            _cash("A1", "r2", CashKind.WITHHOLDING_REFUND, "5", date(2025, 4, 28), subkind="DIVIDEND"),
            # Not dividend income: interest withholding, a cancelled dividend, a pending one, a fee.
            _cash(
                "A1",
                "w3",
                CashKind.WITHHOLDING_TAX,
                "-3.00",
                date(2025, 4, 30),
                subkind="INTEREST",
                inst=None,
            ),
            _cash("A1", "d3", CashKind.DIVIDEND, "999", date(2025, 4, 3), status=RecordStatus.CANCELLED),
            _cash("A1", "d4", CashKind.DIVIDEND, "888", date(2025, 4, 4), status=RecordStatus.PENDING),
            _cash("A1", "f1", CashKind.FEE, "-10", date(2025, 4, 5)),
            # A reversed dividend and its reversal both count: they net to zero.
            _cash("A2", "d5", CashKind.DIVIDEND, "40", date(2025, 5, 2), status=RecordStatus.REVERSED),
            _cash("A2", "d5r", CashKind.DIVIDEND, "-40", date(2025, 5, 9)),
            # Outside the window.
            _cash("A1", "d6", CashKind.DIVIDEND, "500", date(2024, 5, 30)),
        ]
        write_batch(session, batch, ids, user_id=user.id)
        theirs = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        theirs.cash = [_cash("B1", "x1", CashKind.DIVIDEND, "7777", date(2025, 3, 14))]
        write_batch(session, theirs, other_ids, user_id=other.id)

        report = monthly_income(session, user.id, end=date(2025, 5, 31), months=12)
        only_a2 = monthly_income(session, user.id, end=date(2025, 5, 31), months=3, account_id=ids["A2"])

    months = {m.month: m for m in report.months}
    assert len(report.months) == 12 and report.months[0].month == date(2024, 6, 1)
    march, april, may = months[date(2025, 3, 1)], months[date(2025, 4, 1)], months[date(2025, 5, 1)]
    assert (march.dividends, march.payments_in_lieu, march.withholding) == (
        D("100.00"),
        D("20.50"),
        D("-15.00"),
    )
    assert march.gross == D("120.50") and march.net == D("105.50")
    # 200 CHF x 1.10 = 220 USD; -70 CHF x 1.10 = -77 USD; refund +5.
    assert (april.dividends, april.withholding, april.net) == (D("220.00"), D("-72.00"), D("148.00"))
    assert may.net == 0
    assert months[date(2024, 6, 1)].net == 0  # an empty month is present, with zero
    assert report.net == D("105.50") + D("148.00")
    assert report.gross == D("120.50") + D("220.00")
    assert report.withholding == D("-15.00") + D("-72.00")
    assert [m.net for m in only_a2.months] == [D("20.50"), D(0), D(0)]
