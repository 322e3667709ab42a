from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from foliosync.api.portfolio import holdings_cache
from foliosync.db.session import session_scope
from foliosync.ledger.records import Batch, InstrumentRef, PositionRecord
from foliosync.ledger.taxonomy import AssetCategory, Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, User
from foliosync.portfolio.holdings import consolidated_holdings

AAPL = InstrumentRef(AssetCategory.STK, "AAPL", "USD")
SAP = InstrumentRef(AssetCategory.STK, "SAP", "EUR")


def ledger_versions(session, user_id):
    """What the API's cache key is made of (foliosync.api.hot_reads): each account's version."""
    query = select(BrokerAccount.id, BrokerAccount.ledger_version).where(BrokerAccount.user_id == user_id)
    return sorted(session.execute(query).all())


def _pos(account, inst, qty, mv, day, fx=None, basis=None):
    return PositionRecord(
        account=account,
        instrument=inst,
        as_of_date=day,
        as_of=datetime(day.year, day.month, day.day, 21, tzinfo=UTC),
        quantity=Decimal(qty),
        currency=inst.currency,
        market_value=Decimal(mv),
        mark_price=Decimal(mv) / Decimal(qty),
        fx_rate_to_base=Decimal(fx) if fx else None,
        cost_basis=Decimal(basis) if basis else None,
    )


def _setup(session):
    user = User(email="h@example.com", password_hash="x")
    session.add(user)
    session.flush()
    ids = {}
    for n in ("A1", "A2"):
        acct = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=n, alias=n)
        session.add(acct)
        session.flush()
        ids[n] = acct.id
    return user, ids


def test_holdings_sum_latest_snapshots_across_accounts_in_base_currency(engine):
    with session_scope(engine) as session:
        user, ids = _setup(session)
        old = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        old.positions = [_pos("A1", AAPL, 5, "500", date(2025, 1, 1))]  # superseded by the later snapshot
        write_batch(session, old, ids, user_id=user.id)
        new = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        new.positions = [
            _pos("A1", AAPL, 10, "1500.10", date(2025, 2, 3), basis="1400"),
            _pos("A2", AAPL, "2.5", "375.025", date(2025, 2, 3), basis="300.5"),
            _pos("A2", SAP, 4, "800", date(2025, 2, 3), fx="1.05"),
        ]
        write_batch(session, new, ids, user_id=user.id)
        holdings = {h.symbol: h for h in consolidated_holdings(session, user.id)}
    aapl, sap = holdings["AAPL"], holdings["SAP"]
    assert (aapl.quantity, aapl.market_value, aapl.market_value_base, aapl.cost_basis, aapl.accounts) == (
        Decimal("12.5"),
        Decimal("1875.125"),
        Decimal("1875.125"),
        Decimal("1700.5"),
        2,
    )
    assert (sap.quantity, sap.market_value, sap.market_value_base) == (Decimal(4), Decimal(800), Decimal(840))
    assert aapl.cost_basis_base == Decimal("1700.5") and sap.cost_basis_base is None
    total = Decimal("1875.125") + Decimal(840)
    assert aapl.weight == (Decimal("1875.125") / total).quantize(Decimal("0.000001"))
    assert sap.weight + aapl.weight == Decimal(1)


def test_one_account_filter_and_cache_invalidation_on_write(engine):
    holdings_cache.clear()
    with session_scope(engine) as session:
        user, ids = _setup(session)
        batch = Batch(broker=Broker.IBKR, source=SourceFormat.FLEX_XML)
        batch.positions = [
            _pos("A1", AAPL, 10, "1000", date(2025, 2, 3)),
            _pos("A2", SAP, 1, "100", date(2025, 2, 3)),
        ]
        write_batch(session, batch, ids, user_id=user.id)
        only = consolidated_holdings(session, user.id, ids["A2"])
        assert [h.symbol for h in only] == ["SAP"]
        before = ledger_versions(session, user.id)
        batch.positions = [_pos("A1", AAPL, 11, "1100", date(2025, 2, 3))]
        batch.positions.append(_pos("A2", SAP, 1, "100", date(2025, 2, 3)))
        report = write_batch(session, batch, ids, user_id=user.id)
        after = ledger_versions(session, user.id)
        assert report.by_table["positions"].updated == 1
        assert before != after  # the cache key moves with the write
        unchanged = write_batch(session, batch, ids, user_id=user.id)
        assert unchanged.written == 0 and ledger_versions(session, user.id) == after
