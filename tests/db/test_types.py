from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from foliosync.db.types import canonical_decimal
from foliosync.models import BrokerAccount, CashTransaction, User

AMOUNTS = [
    Decimal("0.00000001"),
    Decimal("-12345678901234.12345678"),
    Decimal("99999999999999999999.123456789012"),
    Decimal("1E-8"),
    Decimal("-0.00000001"),
    Decimal("0"),
]


def _account(session):
    user = User(email="d@example.com", password_hash="x")
    session.add(user)
    session.flush()
    account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id="U1", alias="a")
    session.add(account)
    session.flush()
    return account


@pytest.mark.parametrize("amount", AMOUNTS)
def test_decimal_amounts_round_trip_exactly(session, amount):
    account = _account(session)
    session.add(
        CashTransaction(
            account_id=account.id,
            source="api",
            natural_key="k",
            kind="FEE",
            amount=amount,
            currency="USD",
            posted_date=date(2025, 1, 1),
            fx_rate_to_base=Decimal("1.123456789012"),
        )
    )
    session.commit()
    session.expire_all()
    row = session.scalars(select(CashTransaction)).one()
    assert row.amount == amount
    assert canonical_decimal(row.amount) == canonical_decimal(amount)
    assert row.fx_rate_to_base == Decimal("1.123456789012")


def test_aware_datetimes_round_trip_as_utc(session):
    account = _account(session)
    eastern = timezone(timedelta(hours=-5))
    moment = datetime(2025, 3, 9, 1, 59, 59, 123456, tzinfo=eastern)
    account.last_successful_sync = moment
    session.commit()
    session.expire_all()
    stored = session.get(BrokerAccount, account.id).last_successful_sync
    assert stored == moment
    assert stored.tzinfo is UTC
    assert stored.hour == 6


def test_naive_datetimes_are_refused(session):
    account = _account(session)
    account.last_successful_sync = datetime(2025, 1, 1, 12, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_canonical_decimal_strips_noise():
    assert canonical_decimal(Decimal("1.2300")) == "1.23"
    assert canonical_decimal(Decimal("-0.000")) == "0"
    assert canonical_decimal(Decimal("1E+3")) == "1000"
    with pytest.raises(ValueError):
        canonical_decimal(Decimal("NaN"))


def test_option_keys_use_the_occ_root_not_the_underlying():
    from datetime import date as d

    from foliosync.ledger.records import InstrumentRef
    from foliosync.ledger.taxonomy import AssetCategory

    spx = InstrumentRef(
        AssetCategory.OPT,
        "SPX   250321C05000000",
        underlying_symbol="SPX",
        strike=Decimal(5000),
        expiry=d(2025, 3, 21),
        put_call="C",
        multiplier=Decimal(100),
    )
    spxw = InstrumentRef(
        AssetCategory.OPT,
        "SPXW  250321C05000000",
        underlying_symbol="SPX",
        strike=Decimal(5000),
        expiry=d(2025, 3, 21),
        put_call="C",
        multiplier=Decimal(100),
    )
    assert spx.key == "OPT:SPX   250321C05000000"
    assert spxw.key == "OPT:SPXW  250321C05000000"
    plain = InstrumentRef(
        AssetCategory.OPT,
        "AAPL Jan19'24 150 C",
        underlying_symbol="AAPL",
        strike=Decimal(150),
        expiry=d(2024, 1, 19),
        put_call="C",
    )
    assert plain.key == "OPT:AAPL  240119C00150000"
