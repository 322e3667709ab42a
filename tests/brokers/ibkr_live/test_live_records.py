"""Live figures as canonical records, written through the ledger writer and read back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from foliosync.brokers.ibkr.live import LiveConnection, LiveState, LiveUnavailable, snapshot_batch
from foliosync.brokers.ibkr.live_models import AccountValueRow, ContractSpec, LivePosition
from foliosync.brokers.ibkr.live_records import balance_records, build_batch, business_date
from foliosync.db.session import session_factory
from foliosync.ledger.records import BalanceRecord
from foliosync.ledger.taxonomy import Broker, SourceFormat
from foliosync.ledger.writer import write_batch
from foliosync.models import Balance, BrokerAccount, Instrument, Position, User
from tests.brokers.ibkr_live.conftest import EMPTY, HOLDINGS, INDIVIDUAL, IRA, MSFT, WAIT, connect
from tests.fakes.tws_server import FakeHolding, FakeTws

NEW_YORK = ZoneInfo("America/New_York")


def new_york_today() -> date:
    return datetime.now(NEW_YORK).date()


def test_business_date_is_new_york() -> None:
    assert business_date(datetime(2025, 3, 4, 3, 30, tzinfo=UTC)) == date(2025, 3, 3)
    assert business_date(datetime(2025, 3, 4, 5, 30, tzinfo=UTC)) == date(2025, 3, 4)


def test_balance_mapping_base_row_and_currency_ledger_rows() -> None:
    rows = [
        AccountValueRow("A", "NetLiquidation", "1000.5", "CHF"),
        AccountValueRow("A", "TotalCashValue", "400", "CHF"),
        AccountValueRow("A", "BuyingPower", "1600", "CHF"),
        AccountValueRow("A", "MaintMarginReq", "150.25", "CHF"),
        AccountValueRow("A", "ExcessLiquidity", "850.25", "CHF"),
        AccountValueRow("A", "Cushion", "0.85", ""),
        AccountValueRow("A", "AccountType", "INDIVIDUAL", ""),
        AccountValueRow("A", "CashBalance", "400", "BASE"),
        AccountValueRow("A", "StockMarketValue", "600.5", "BASE"),
        AccountValueRow("A", "CashBalance", "300", "CHF"),
        AccountValueRow("A", "CashBalance", "110", "USD"),
        AccountValueRow("A", "ExchangeRate", "0.9", "USD"),
        AccountValueRow("A", "AccruedCash", "1.5", "CHF"),  # base figure and CHF ledger figure alike
        AccountValueRow("B", "NetLiquidation", "99", "CHF"),  # another account
    ]
    day = date(2025, 3, 3)
    assert balance_records("A", rows, day) == [
        BalanceRecord(
            account="A",
            as_of_date=day,
            currency="BASE",
            cash=Decimal("400"),
            net_liquidation=Decimal("1000.5"),
            buying_power=Decimal("1600"),
            maintenance_margin=Decimal("150.25"),
            components={
                "ExcessLiquidity": "850.25",
                "Cushion": "0.85",
                "cash_balance": "400",
                "stock": "600.5",
                "AccruedCash": "1.5",
            },
        ),
        BalanceRecord(
            account="A",
            as_of_date=day,
            currency="CHF",
            cash=Decimal("300"),
            components={"accrued_cash": "1.5"},
        ),
        BalanceRecord(
            account="A",
            as_of_date=day,
            currency="USD",
            cash=Decimal("110"),
            components={"exchange_rate": "0.9"},
        ),
    ]


def test_build_batch_from_values() -> None:
    spec = ContractSpec(con_id=1, symbol="BRK B", sec_type="STK", currency="USD", primary_exchange="NYSE")
    as_of = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    position = LivePosition(
        "A",
        spec,
        Decimal(5),
        Decimal("410"),
        Decimal("455.2"),
        Decimal("2276"),
        Decimal("226"),
        Decimal(0),
        as_of,
        True,
    )
    batch = build_batch(["A"], [position], [AccountValueRow("A", "NetLiquidation", "10", "USD")], as_of=as_of)
    assert (batch.broker, batch.source) == (Broker.IBKR, SourceFormat.LIVE)
    [record] = batch.positions
    assert (record.account, record.instrument.key, record.as_of_date, record.as_of) == (
        "A",
        "STK:BRK.B:USD",
        date(2025, 3, 3),
        as_of,
    )
    assert (
        record.quantity,
        record.cost_basis,
        record.mark_price,
        record.market_value,
        record.unrealized_pnl,
    ) == (
        Decimal(5),
        Decimal(2050),
        Decimal("455.2"),
        Decimal(2276),
        Decimal(226),
    )
    assert [a.external_account_id for a in batch.accounts] == ["A"]
    assert batch.accounts[0].base_currency == "USD"
    assert batch.sections == {"positions", "balances"}


def test_snapshot_batch_from_the_fake(live: LiveConnection) -> None:
    before = new_york_today()
    batch = snapshot_batch(live)
    assert batch.source is SourceFormat.LIVE and batch.warnings == []
    assert [a.external_account_id for a in batch.accounts] == [INDIVIDUAL, IRA, EMPTY]
    assert len(batch.positions) == 5
    assert {p.as_of_date for p in batch.positions} <= {before, new_york_today()}
    by_key = {(p.account, p.instrument.conid): p for p in batch.positions}
    for holding in HOLDINGS:
        record = by_key[(holding.account, str(holding.contract.con_id))]
        assert record.quantity == Decimal(holding.position)
        assert record.mark_price == Decimal(holding.market_price)
        assert record.market_value == Decimal(holding.market_value)
        assert record.unrealized_pnl == Decimal(holding.unrealized_pnl)
        assert record.cost_basis == Decimal(holding.position) * Decimal(holding.avg_cost)
    balances = {(b.account, b.currency): b for b in batch.balances}
    assert set(balances) == {
        (INDIVIDUAL, "BASE"),
        (INDIVIDUAL, "USD"),
        (INDIVIDUAL, "EUR"),
        (IRA, "BASE"),
        (IRA, "USD"),
        (EMPTY, "BASE"),
    }
    base = balances[(INDIVIDUAL, "BASE")]
    assert (base.net_liquidation, base.cash, base.buying_power, base.maintenance_margin) == (
        Decimal("125432.17"),
        Decimal("98765.93"),
        Decimal("401234.56"),
        Decimal("5432.1"),
    )
    assert base.components["ExcessLiquidity"] == "119999.99"
    assert base.components["stock"] == "16770.5"
    eur = balances[(INDIVIDUAL, "EUR")]
    assert (eur.cash, eur.net_liquidation, eur.components) == (
        Decimal("1500"),
        Decimal("1500"),
        {"exchange_rate": "1.177"},
    )
    assert balances[(IRA, "USD")].cash == Decimal("38409.99")


def _accounts(engine: Engine) -> tuple[int, dict[str, int]]:
    with session_factory(engine)() as session:
        user = User(email="live@example.com", password_hash="x")
        session.add(user)
        session.flush()
        ids = {}
        for number in (INDIVIDUAL, IRA):
            account = BrokerAccount(user_id=user.id, broker="ibkr", external_account_id=number, alias=number)
            session.add(account)
            session.flush()
            ids[number] = account.id
        session.commit()
        return user.id, ids


def test_snapshot_written_to_the_ledger_and_read_back(
    engine: Engine, live: LiveConnection, fake_tws: FakeTws
) -> None:
    user_id, account_ids = _accounts(engine)
    batch = snapshot_batch(live, accounts=[INDIVIDUAL, IRA])
    with session_factory(engine)() as session:
        report = write_batch(session, batch, account_ids, user_id=user_id)
        session.commit()
    assert report.by_table["positions"].inserted == 5
    assert report.by_table["balances"].inserted == 5

    with session_factory(engine)() as session:
        rows = session.execute(
            select(Position, Instrument.key).join(Instrument, Instrument.id == Position.instrument_id)
        ).all()
        stored = {(p.account_id, key): p for p, key in rows}
        assert {p.source for p, _ in rows} == {"live"}
        aapl = stored[(account_ids[INDIVIDUAL], "STK:AAPL:USD")]
        assert (aapl.quantity, aapl.cost_basis, aapl.mark_price, aapl.market_value, aapl.unrealized_pnl) == (
            Decimal("100"),
            Decimal("15025"),
            Decimal("185.12"),
            Decimal("18512"),
            Decimal("3487"),
        )
        assert aapl.as_of.tzinfo is not None
        call = stored[(account_ids[INDIVIDUAL], "OPT:AAPL  250321C00200000")]
        assert (call.quantity, call.cost_basis, call.market_value) == (
            Decimal(2),
            Decimal("1024.68"),
            Decimal(630),
        )
        assert stored[(account_ids[IRA], "STK:SPY:USD")].market_value == Decimal("11801")
        balances = {(b.account_id, b.currency): b for b in session.scalars(select(Balance))}
        assert set(balances) == {
            (account_ids[INDIVIDUAL], "BASE"),
            (account_ids[INDIVIDUAL], "USD"),
            (account_ids[INDIVIDUAL], "EUR"),
            (account_ids[IRA], "BASE"),
            (account_ids[IRA], "USD"),
        }
        base = balances[(account_ids[INDIVIDUAL], "BASE")]
        assert (base.net_liquidation, base.cash, base.buying_power, base.maintenance_margin) == (
            Decimal("125432.17"),
            Decimal("98765.93"),
            Decimal("401234.56"),
            Decimal("5432.1"),
        )
        assert base.source == "live"

    # A position closed since: the next snapshot of the day replaces the old one.
    fake_tws.set_holding(FakeHolding(INDIVIDUAL, MSFT, "0", "0", "0", "0", "0"))
    live.refresh()
    with session_factory(engine)() as session:
        write_batch(session, snapshot_batch(live, accounts=[INDIVIDUAL, IRA]), account_ids, user_id=user_id)
        session.commit()
        keys = set(
            session.scalars(select(Instrument.key).join(Position, Position.instrument_id == Instrument.id))
        )
    assert "STK:MSFT:USD" not in keys
    assert len(keys) == 4


def test_snapshot_when_offline_uses_last_figures_with_a_warning(fake_tws: FakeTws) -> None:
    connection = connect(fake_tws.port)
    try:
        connection.wait_connected(WAIT)
        fake_tws.stop()
        connection.wait_for_state(LiveState.DISCONNECTED, timeout=WAIT)
        batch = snapshot_batch(connection, accounts=[IRA])
        assert [p.instrument.symbol for p in batch.positions] == ["SPY"]
        assert len(batch.warnings) == 1
        assert batch.warnings[0].startswith(
            "TWS/IB Gateway is disconnected: these are the last figures received"
        )
    finally:
        connection.stop()


def test_snapshot_with_nothing_known_is_unavailable() -> None:
    connection = LiveConnection("127.0.0.1", 9, 17)
    with pytest.raises(LiveUnavailable, match="not started"):
        snapshot_batch(connection)
