"""LiveConnection against the fake TWS: discovery, positions, portfolio marks, account values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from foliosync.brokers.ibkr.live import LiveConnection, LiveState
from foliosync.ledger.taxonomy import AssetCategory
from tests.brokers.ibkr_live.conftest import (
    AAPL,
    AAPL_CALL,
    BRK_B,
    EMPTY,
    HOLDINGS,
    INDIVIDUAL,
    IRA,
    MSFT,
    SPY,
    WAIT,
    connect,
)
from tests.fakes.tws_server import REQ_ACCOUNT_SUMMARY, REQ_ACCOUNT_UPDATES, START_API, FakeTws


def test_connects_read_only_and_discovers_every_managed_account(
    live: LiveConnection, fake_tws: FakeTws
) -> None:
    status = live.status()
    assert status.state is LiveState.CONNECTED
    assert status.managed_accounts == (INDIVIDUAL, IRA, EMPTY)
    assert live.managed_accounts() == [INDIVIDUAL, IRA, EMPTY]
    assert (status.server_version, status.client_id, status.readonly) == (178, 17, True)
    assert status.message == (
        f"Connected to TWS/IB Gateway at 127.0.0.1:{fake_tws.port} (server version 178, read-only); "
        f"accounts: {INDIVIDUAL}, {IRA}, {EMPTY}."
    )
    [start] = fake_tws.received(START_API)
    assert start.fields == ["71", "2", "17", ""]


def test_startup_traffic_is_positions_then_each_account_then_the_summary(
    live: LiveConnection, fake_tws: FakeTws
) -> None:
    ids = [m.msg_id for m in fake_tws.received()]
    # Read-only with StartupFetchNONE: no order or execution requests at all (D.3).
    assert ids[:3] == [0, START_API, 61]
    updates = [m.fields for m in fake_tws.received(REQ_ACCOUNT_UPDATES)]
    assert updates == [["6", "2", "1", a] for a in (INDIVIDUAL, IRA, EMPTY)]
    [summary] = fake_tws.received(REQ_ACCOUNT_SUMMARY)
    assert summary.fields[3] == "All" and summary.fields[4].endswith("$LEDGER:ALL")
    assert not {5, 7, 99} & set(ids)


def test_positions_with_portfolio_marks_are_exact_decimals(live: LiveConnection) -> None:
    positions = {(p.account, p.contract.con_id): p for p in live.positions()}
    assert len(positions) == len(HOLDINGS) == 5
    for holding in HOLDINGS:
        p = positions[(holding.account, holding.contract.con_id)]
        assert p.quantity == Decimal(holding.position)
        assert p.average_cost == Decimal(holding.avg_cost)
        assert p.market_price == Decimal(holding.market_price)
        assert p.market_value == Decimal(holding.market_value)
        assert p.unrealized_pnl == Decimal(holding.unrealized_pnl)
        assert p.realized_pnl == Decimal(holding.realized_pnl)
        assert p.marked
    aapl = positions[(INDIVIDUAL, AAPL.con_id)]
    assert aapl.cost_basis == Decimal("15025")  # 100 x 150.25
    short = positions[(INDIVIDUAL, MSFT.con_id)]
    assert short.cost_basis == Decimal("-4105")  # -10 x 410.5
    assert (aapl.contract.exchange, aapl.contract.primary_exchange) == ("NASDAQ", "NASDAQ")


def test_positions_filter_by_account(live: LiveConnection) -> None:
    assert [p.contract.con_id for p in live.positions([IRA])] == [SPY.con_id]
    assert live.positions([EMPTY]) == []
    assert len(live.positions([INDIVIDUAL])) == 4


def test_positions_map_to_canonical_instruments(live: LiveConnection) -> None:
    positions = {p.contract.con_id: p for p in live.positions()}
    call = positions[AAPL_CALL.con_id].contract.instrument()
    assert call.asset_category is AssetCategory.OPT
    assert call.key == "OPT:AAPL  250321C00200000"
    assert (call.strike, call.expiry, call.put_call, call.multiplier) == (
        Decimal(200),
        date(2025, 3, 21),
        "C",
        Decimal(100),
    )
    brk = positions[BRK_B.con_id].contract.instrument()
    assert (brk.symbol, brk.key, brk.exchange, brk.conid) == ("BRK.B", "STK:BRK.B:USD", "NYSE", "72063691")
    assert positions[BRK_B.con_id].contract.display_symbol == "BRK.B"
    assert positions[AAPL_CALL.con_id].contract.display_symbol == "AAPL  250321C00200000"


def test_account_summary_values_are_exact(live: LiveConnection) -> None:
    rows = {(r.account, r.tag, r.currency): r for r in live.account_summary()}
    assert rows[(INDIVIDUAL, "NetLiquidation", "USD")].amount == Decimal("125432.17")
    assert rows[(INDIVIDUAL, "TotalCashValue", "USD")].amount == Decimal("98765.93")
    assert rows[(INDIVIDUAL, "BuyingPower", "USD")].amount == Decimal("401234.56")
    assert rows[(INDIVIDUAL, "MaintMarginReq", "USD")].amount == Decimal("5432.1")
    assert rows[(INDIVIDUAL, "CashBalance", "EUR")].amount == Decimal("1500")
    assert rows[(INDIVIDUAL, "AccountType", "")].value == "INDIVIDUAL"
    assert rows[(IRA, "NetLiquidation", "USD")].amount == Decimal("50210.99")
    assert {r.account for r in live.account_summary([IRA])} == {IRA}
    assert len(rows) == 16 + 6 + 2


def test_account_values_from_the_portfolio_subscription(live: LiveConnection) -> None:
    rows = {(r.account, r.tag, r.currency): r.value for r in live.account_values()}
    assert rows[(INDIVIDUAL, "CashBalance", "USD")] == "97000.43"
    assert rows[(IRA, "AccountCode", "")] == IRA
    assert rows[(EMPTY, "AccountCode", "")] == EMPTY


def test_contract_details(live: LiveConnection) -> None:
    [info] = live.contract_details("AAPL")
    assert info.contract.con_id == AAPL.con_id
    assert (info.long_name, info.min_tick, info.isin, info.stock_type) == (
        "APPLE INC",
        Decimal("0.01"),
        "US0378331005",
        "COMMON",
    )
    assert info.valid_exchanges[0] == "SMART"
    [brk] = live.contract_details("BRK.B")  # foliosync spelling, sent as IBKR's "BRK B"
    assert brk.contract.con_id == BRK_B.con_id
    assert live.contract_details("NOPE") == []


def test_live_position_updates_stream_in(live: LiveConnection, fake_tws: FakeTws) -> None:
    """TWS pushes msg 61 to every client with reqPositions, and msg 7 to the account subscriber
    (the last account subscribed, EMPTY here, so the new IRA mark arrives on the next refresh)."""
    from tests.fakes.tws_server import FakeHolding

    fake_tws.set_holding(FakeHolding(IRA, SPY, "25", "490", "591", "14775", "2525"))
    fake_tws.set_holding(FakeHolding(INDIVIDUAL, MSFT, "0", "0", "0", "0", "0"))
    live.refresh()  # a round trip through the same socket: the pushes above have been handled
    positions = {(p.account, p.contract.con_id): p for p in live.positions()}
    assert (INDIVIDUAL, MSFT.con_id) not in positions
    spy = positions[(IRA, SPY.con_id)]
    assert (spy.quantity, spy.average_cost, spy.market_price, spy.market_value) == (
        Decimal(25),
        Decimal(490),
        Decimal(591),
        Decimal(14775),
    )


def test_client_id_and_readonly_come_from_settings() -> None:
    from foliosync.config import Settings

    settings = Settings(
        ibkr_tws_host="10.0.0.5", ibkr_tws_port=4002, ibkr_tws_client_id=33, ibkr_tws_readonly=False
    )
    connection = LiveConnection.from_settings(settings)
    assert (connection.host, connection.port, connection.client_id, connection.readonly) == (
        "10.0.0.5",
        4002,
        33,
        False,
    )
    assert connection.status().state is LiveState.STOPPED


def test_several_clients_with_distinct_ids(fake_tws: FakeTws, live: LiveConnection) -> None:
    other = connect(fake_tws.port, client_id=18)
    try:
        assert other.wait_connected(WAIT).state is LiveState.CONNECTED
        assert len(other.positions()) == 5
        assert fake_tws.connection_count() == 2
    finally:
        other.stop()
