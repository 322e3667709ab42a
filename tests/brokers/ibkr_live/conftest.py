"""Fixtures for the IBKR live overlay: a scenario of three managed accounts, the loopback fake
TWS serving it, and a `LiveConnection` connected to it with short timeouts and backoff."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.live import Backoff, LiveConnection, LiveState
from tests.fakes.tws_server import FakeHolding, FakeQuote, FakeTws, TwsScenario, option, stock

INDIVIDUAL, IRA, EMPTY = "U1111111", "U2222222", "U3333333"

AAPL = stock(265598, "AAPL", long_name="APPLE INC", isin="US0378331005", industry="Technology")
MSFT = stock(272093, "MSFT", long_name="MICROSOFT CORP")
BRK_B = stock(
    72063691, "BRK B", primary_exchange="NYSE", trading_class="BRK B", long_name="BERKSHIRE HATHAWAY INC-CL B"
)
SPY = stock(756733, "SPY", primary_exchange="ARCA", long_name="SPDR S&P 500 ETF TRUST")
AAPL_CALL = option(700000001, "AAPL", "20250321", "200", "C", local_symbol="AAPL  250321C00200000")

HOLDINGS = [
    FakeHolding(INDIVIDUAL, AAPL, "100", "150.25", "185.12", "18512", "3487"),
    FakeHolding(INDIVIDUAL, MSFT, "-10", "410.5", "401.75", "-4017.5", "87.5"),
    FakeHolding(INDIVIDUAL, AAPL_CALL, "2", "512.34", "3.15", "630", "-394.68", "12.5"),
    FakeHolding(INDIVIDUAL, BRK_B, "5", "410", "455.2", "2276", "226"),
    FakeHolding(IRA, SPY, "20", "480.1", "590.05", "11801", "2199"),
]

SUMMARY = {
    INDIVIDUAL: [
        ("AccountType", "INDIVIDUAL", ""),
        ("NetLiquidation", "125432.17", "USD"),
        ("TotalCashValue", "98765.93", "USD"),
        ("BuyingPower", "401234.56", "USD"),
        ("MaintMarginReq", "5432.1", "USD"),
        ("InitMarginReq", "6543.21", "USD"),
        ("AvailableFunds", "118888.96", "USD"),
        ("ExcessLiquidity", "119999.99", "USD"),
        ("Cushion", "0.956", ""),
        ("CashBalance", "98765.93", "BASE"),
        ("StockMarketValue", "16770.5", "BASE"),
        ("CashBalance", "97000.43", "USD"),
        ("NetLiquidationByCurrency", "123666.67", "USD"),
        ("CashBalance", "1500", "EUR"),
        ("NetLiquidationByCurrency", "1500", "EUR"),
        ("ExchangeRate", "1.177", "EUR"),
    ],
    IRA: [
        ("AccountType", "IRA", ""),
        ("NetLiquidation", "50210.99", "USD"),
        ("TotalCashValue", "38409.99", "USD"),
        ("BuyingPower", "38409.99", "USD"),
        ("MaintMarginReq", "0", "USD"),
        ("CashBalance", "38409.99", "USD"),
    ],
    EMPTY: [("NetLiquidation", "0", "USD"), ("TotalCashValue", "0", "USD")],
}

ACCOUNT_VALUES = {
    INDIVIDUAL: [
        ("AccountCode", INDIVIDUAL, ""),
        ("NetLiquidation", "125432.17", "USD"),
        ("TotalCashValue", "98765.93", "USD"),
        ("CashBalance", "97000.43", "USD"),
        ("CashBalance", "1500", "EUR"),
    ],
    IRA: [("AccountCode", IRA, ""), ("NetLiquidation", "50210.99", "USD")],
    EMPTY: [("AccountCode", EMPTY, "")],
}

QUOTES = {
    AAPL.con_id: FakeQuote(bid="185.1", ask="185.14", last="185.12", close="183.5"),
    MSFT.con_id: FakeQuote(bid="401.7", ask="401.8", last="401.75", close="399.9", live_subscription=False),
    BRK_B.con_id: FakeQuote(bid="455.1", ask="455.3", last="455.2", close="450"),
    SPY.con_id: FakeQuote(bid="590", ask="590.1", last="590.05", close="588.2"),
    AAPL_CALL.con_id: FakeQuote(bid="3.1", ask="3.2", last="3.15", close="2.9"),
}

# Short enough to keep the suite fast; the connect timeout bounds the "silent port" test.
FAST_BACKOFF = Backoff(initial=0.05, factor=2.0, maximum=0.4)
CONNECT_TIMEOUT = 1.0
WAIT = 10.0  # generous upper bound for waits that normally end in milliseconds


def make_scenario() -> TwsScenario:
    return TwsScenario(
        accounts=[INDIVIDUAL, IRA, EMPTY],
        holdings=list(HOLDINGS),
        account_values={k: list(v) for k, v in ACCOUNT_VALUES.items()},
        account_summary={k: list(v) for k, v in SUMMARY.items()},
        contracts=[AAPL, MSFT, BRK_B, SPY, AAPL_CALL],
        quotes=dict(QUOTES),
    )


def connect(port: int, *, client_id: int = 17, **options: object) -> LiveConnection:
    options.setdefault("connect_timeout", CONNECT_TIMEOUT)
    options.setdefault("backoff", FAST_BACKOFF)
    options.setdefault("request_timeout", 5.0)
    return LiveConnection("127.0.0.1", port, client_id, **options).start()  # type: ignore[arg-type]


@pytest.fixture
def scenario() -> TwsScenario:
    return make_scenario()


@pytest.fixture
def fake_tws(scenario: TwsScenario) -> Iterator[FakeTws]:
    fake = FakeTws(scenario)
    fake.start()
    yield fake
    fake.close()


@pytest.fixture
def live(fake_tws: FakeTws) -> Iterator[LiveConnection]:
    connection = connect(fake_tws.port)
    status = connection.wait_connected(WAIT)
    assert status.state is LiveState.CONNECTED, status.message
    yield connection
    connection.stop()


def dec(text: str) -> Decimal:
    return Decimal(text)
