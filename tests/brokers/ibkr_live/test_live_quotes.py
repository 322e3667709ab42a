"""Market data snapshots: live where subscribed, delayed (and labelled so) after error 354."""

from __future__ import annotations

from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.live import LiveConnection
from tests.brokers.ibkr_live.conftest import AAPL, AAPL_CALL, BRK_B, MSFT, SPY, WAIT, connect
from tests.fakes.tws_server import REQ_CONTRACT_DATA, REQ_MARKET_DATA_TYPE, REQ_MKT_DATA, FakeQuote, FakeTws


def test_live_quote_values_and_label(live: LiveConnection, fake_tws: FakeTws) -> None:
    [quote] = live.quotes(["AAPL"])
    assert (quote.symbol, quote.con_id, quote.currency) == ("AAPL", AAPL.con_id, "USD")
    assert (quote.bid, quote.ask, quote.last, quote.close) == (
        Decimal("185.1"),
        Decimal("185.14"),
        Decimal("185.12"),
        Decimal("183.5"),
    )
    assert quote.price == Decimal("185.12")  # last lies within bid/ask
    assert (quote.delayed, quote.market_data_type, quote.error) == (False, 1, None)
    assert quote.time is not None and quote.time.tzinfo is not None
    # AAPL is held: quoted by its conId without a contract lookup, as a snapshot.
    assert fake_tws.received(REQ_CONTRACT_DATA) == []
    [request] = fake_tws.received(REQ_MKT_DATA)
    assert request.fields[3] == str(AAPL.con_id) and request.fields[-3:] == ["1", "0", ""]


def test_no_subscription_354_then_delayed_quote(live: LiveConnection, fake_tws: FakeTws) -> None:
    [aapl, msft] = live.quotes(["AAPL", "MSFT"])
    assert (aapl.delayed, aapl.market_data_type) == (False, 1)
    assert (msft.delayed, msft.market_data_type, msft.error) == (True, 3, None)
    assert (msft.bid, msft.ask, msft.last, msft.close, msft.price) == (
        Decimal("401.7"),
        Decimal("401.8"),
        Decimal("401.75"),
        Decimal("399.9"),
        Decimal("401.75"),
    )
    # The live request failed with 354, then market data type 3 was requested once and MSFT asked again.
    assert [m.fields for m in fake_tws.received(REQ_MARKET_DATA_TYPE)] == [["59", "1", "3"]]
    msft_requests = [m for m in fake_tws.received(REQ_MKT_DATA) if m.fields[3] == str(MSFT.con_id)]
    assert len(msft_requests) == 2
    assert live.status().market_data_type == 3
    # Type 3 still gives live data where there is a subscription.
    [again] = live.quotes(["AAPL"])
    assert (again.delayed, again.market_data_type) == (False, 1)
    assert len(fake_tws.received(REQ_MARKET_DATA_TYPE)) == 1


def test_midpoint_when_last_is_outside_the_spread(live: LiveConnection, fake_tws: FakeTws) -> None:
    fake_tws.set_quote(SPY.con_id, FakeQuote(bid="590", ask="590.2", last="589.5", close="588.2"))
    [quote] = live.quotes(["SPY"])
    assert quote.price == Decimal("590.1")


def test_symbol_lookup_and_unknown_symbol(live: LiveConnection, fake_tws: FakeTws) -> None:
    [brk, unknown] = live.quotes(["BRK.B", "ZZZZ"])
    assert (brk.symbol, brk.con_id, brk.last) == ("BRK.B", BRK_B.con_id, Decimal("455.2"))
    assert unknown.price is None and unknown.con_id is None
    assert unknown.error == "IBKR has no USD stock or ETF ZZZZ (error 200)."
    looked_up = [m.fields[4] for m in fake_tws.received(REQ_CONTRACT_DATA)]
    assert looked_up == ["ZZZZ"]  # BRK.B is held, so its conId was known


def test_unheld_symbol_is_looked_up_then_quoted(live: LiveConnection, fake_tws: FakeTws) -> None:
    fake_tws.scenario.holdings = [h for h in fake_tws.scenario.holdings if h.contract.con_id != BRK_B.con_id]
    live.stop()
    fresh = connect(fake_tws.port, client_id=19)
    try:
        fresh.wait_connected(WAIT)
        [quote] = fresh.quotes(["BRK.B"])
        assert quote.con_id == BRK_B.con_id
        [lookup] = fake_tws.received(REQ_CONTRACT_DATA)
        assert lookup.fields[4:6] == ["BRK B", "STK"]  # IBKR's spelling on the wire
    finally:
        fresh.stop()


def test_quotes_for_held_instruments(live: LiveConnection) -> None:
    quotes = {q.con_id: q for q in live.held_quotes()}
    assert set(quotes) == {AAPL.con_id, MSFT.con_id, AAPL_CALL.con_id, BRK_B.con_id, SPY.con_id}
    call = quotes[AAPL_CALL.con_id]
    assert (call.symbol, call.last, call.delayed) == ("AAPL  250321C00200000", Decimal("3.15"), False)
    assert quotes[MSFT.con_id].delayed is True
    ira = live.held_quotes(["U2222222"])
    assert [(q.symbol, q.last) for q in ira] == [("SPY", Decimal("590.05"))]


def test_too_many_symbols_is_refused(live: LiveConnection) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        live.quotes([f"S{i}" for i in range(101)])
