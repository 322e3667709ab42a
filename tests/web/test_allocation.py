"""Allocation by asset class, account and sector (foliosync.portfolio.allocation), both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from foliosync.db.session import session_scope
from foliosync.errors import NotFoundError
from foliosync.ledger.records import BalanceRecord, Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User
from foliosync.portfolio.allocation import allocation, allocations, latest_cash

D = Decimal
Q = D("0.000001")
AAPL = InstrumentRef(AssetCategory.STK, "AAPL", "USD", sector="Technology")
XOM = InstrumentRef(AssetCategory.STK, "XOM", "USD", sector="Energy")
SAP = InstrumentRef(AssetCategory.STK, "SAP", "EUR")  # no sector known
FUND = InstrumentRef(AssetCategory.FUND, "FXAIX", "USD", sector="Diversified Fund")
ES = InstrumentRef(
    AssetCategory.FUT, "ESM5", "USD", expiry=date(2025, 6, 20), underlying_symbol="ES", multiplier=D(50)
)
CALL = InstrumentRef(
    AssetCategory.OPT,
    "AAPL  251219C00200000",
    "USD",
    underlying_symbol="AAPL",
    strike=D(200),
    expiry=date(2025, 12, 19),
    put_call="C",
    multiplier=D(100),
    sector="Technology",
)


def _pos(account, inst, qty, mv, day, fx=None, upnl=None):
    return PositionRecord(
        account=account,
        instrument=inst,
        as_of_date=day,
        as_of=datetime(day.year, day.month, day.day, 21, tzinfo=UTC),
        quantity=D(qty),
        currency=inst.currency,
        market_value=D(mv),
        fx_rate_to_base=D(fx) if fx else None,
        unrealized_pnl=D(upnl) if upnl else None,
    )


def _setup(session):
    user = User(email="alloc@example.com", password_hash="x")
    session.add(user)
    session.flush()
    ids = {}
    for number, alias in (("A1", "Brokerage"), ("A2", "Roth IRA")):
        account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=number, alias=alias)
        session.add(account)
        session.flush()
        ids[number] = account.id
    old = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
    old.positions = [_pos("A1", XOM, 100, "99999", date(2025, 1, 2))]  # superseded snapshot
    old.balances = [BalanceRecord("A1", date(2025, 1, 2), "USD", cash=D("55555"))]
    write_batch(session, old, ids, user_id=user.id)
    new = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
    new.positions = [
        _pos("A1", AAPL, 10, "2000", date(2025, 2, 3)),
        _pos("A1", SAP, 5, "1000", date(2025, 2, 3), fx="1.10"),  # 1,100 in base
        _pos("A1", CALL, -1, "-300", date(2025, 2, 3)),
        _pos("A2", AAPL, 5, "1000", date(2025, 2, 3)),
        _pos("A2", FUND, 3, "600", date(2025, 2, 3)),
    ]
    new.balances = [
        # The BASE summary row wins over the per-currency rows of the same day.
        BalanceRecord("A1", date(2025, 2, 3), "BASE", cash=D("400")),
        BalanceRecord("A1", date(2025, 2, 3), "USD", cash=D("350")),
        BalanceRecord("A2", date(2025, 2, 3), "USD", cash=D("200")),
    ]
    write_batch(session, new, ids, user_id=user.id)
    return user, ids


def _by_key(alloc):
    return {s.key: (s.label, s.value, s.weight) for s in alloc.slices}


def test_allocation_by_asset_class_account_and_sector_with_cash_and_negatives(engine):
    with session_scope(engine) as session:
        user, ids = _setup(session)
        result = allocations(session, user.id)
        cash = latest_cash(session, ids.values())
    assert cash == {ids["A1"]: D(400), ids["A2"]: D(200)}

    positive = D(2000) + D(1100) + D(1000) + D(600) + D(400) + D(200)  # 5,300; the short call is apart
    assets = result["asset_class"]
    assert _by_key(assets) == {
        "STK": ("Stocks & ETFs", D(4100), (D(4100) / positive).quantize(Q)),
        "FUND": ("Mutual funds", D(600), (D(600) / positive).quantize(Q)),
        "CASH_BALANCE": ("Cash", D(600), (D(600) / positive).quantize(Q)),
    }
    assert [(s.key, s.value) for s in assets.negative] == [("OPT", D(-300))]
    assert assets.total == positive and assets.net_total == positive - 300
    # Largest first; a tie is broken by label ("Cash" before "Mutual funds").
    assert [s.key for s in assets.slices] == ["STK", "CASH_BALANCE", "FUND"]

    accounts = result["account"]
    # The short call nets inside its account: 2,000 + 1,100 - 300 + 400 cash.
    assert _by_key(accounts)[str(ids["A1"])][:2] == ("Brokerage", D(3200))
    assert _by_key(accounts)[str(ids["A2"])][:2] == ("Roth IRA", D(1800))
    assert accounts.negative == []

    sectors = _by_key(result["sector"])
    assert sectors["Technology"][1] == D(2000) + D(1000) - D(300)
    assert sectors["Unclassified"][1] == D(1100)
    assert sectors["Diversified Fund"][1] == D(600)
    assert sectors["Cash"][1] == D(600)
    assert "Energy" not in sectors  # XOM was only in the superseded snapshot
    for alloc in result.values():
        assert sum(s.weight for s in alloc.slices) == pytest.approx(D(1), abs=D("0.00001"))


def test_allocation_for_one_account_and_without_cash(engine):
    with session_scope(engine) as session:
        user, ids = _setup(session)
        roth = allocation(session, user.id, "asset_class", ids["A2"], include_cash=False)
        stranger = User(email="stranger@example.com", password_hash="x")
        session.add(stranger)
        session.flush()
        with pytest.raises(NotFoundError):
            allocation(session, stranger.id, "account", ids["A1"])
        with pytest.raises(ValueError):
            allocation(session, user.id, "colour")  # type: ignore[arg-type]
    assert _by_key(roth) == {
        "STK": ("Stocks & ETFs", D(1000), (D(1000) / D(1600)).quantize(Q)),
        "FUND": ("Mutual funds", D(600), (D(600) / D(1600)).quantize(Q)),
    }


def test_futures_count_at_their_open_profit_not_their_notional(engine):
    with session_scope(engine) as session:
        user = User(email="fut@example.com", password_hash="x")
        session.add(user)
        session.flush()
        account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id="F1", alias="Futures")
        session.add(account)
        session.flush()
        batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        batch.positions = [
            _pos("F1", ES, 2, "595000", date(2025, 2, 3), upnl="-1250.50"),
            _pos("F1", AAPL, 10, "2000", date(2025, 2, 3)),
        ]
        write_batch(session, batch, {"F1": account.id}, user_id=user.id)
        result = allocation(session, user.id, "asset_class")
    assert _by_key(result) == {"STK": ("Stocks & ETFs", D(2000), D(1))}
    assert [(s.key, s.label, s.value) for s in result.negative] == [("FUT", "Futures", D("-1250.50"))]
    assert result.net_total == D("749.50")
