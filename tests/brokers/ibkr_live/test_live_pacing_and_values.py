"""The request pacer's exact schedule, and the float/symbol conversions the overlay relies on."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from foliosync.brokers.ibkr.live import LiveConnection
from foliosync.brokers.ibkr.live_models import (
    ContractSpec,
    decimal_from_float,
    decimal_from_text,
    symbol_from_ibkr,
    symbol_to_ibkr,
)
from foliosync.brokers.ibkr.live_pacing import PacingPolicy, RequestPacer
from tests.brokers.ibkr_live.conftest import WAIT, connect
from tests.fakes.tws_server import FakeTws


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def grant_times(rate: float, burst: float, requests: int) -> tuple[list[float], FakeClock]:
    clock = FakeClock()
    pacer = RequestPacer(rate, burst, clock=clock, sleep=clock.sleep)
    times: list[float] = []

    async def main() -> None:
        for _ in range(requests):
            await pacer.acquire()
            times.append(clock.now - 100.0)

    asyncio.run(main())
    return times, clock


def test_pacer_allows_the_burst_then_one_request_per_interval() -> None:
    times, _clock = grant_times(rate=10, burst=3, requests=6)
    assert times == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_pacer_never_exceeds_rate_plus_burst_in_any_second() -> None:
    times, _clock = grant_times(rate=45, burst=45, requests=200)
    for start in times:
        in_window = [t for t in times if start <= t < start + 1.0 - 1e-9]
        assert len(in_window) <= 45 + 45
    # After the initial burst the spacing is exactly 1/45 s.
    gaps = [b - a for a, b in itertools.pairwise(times[45:])]
    assert gaps == pytest.approx([1 / 45] * len(gaps))


def test_pacer_refuses_more_tokens_than_it_can_hold() -> None:
    pacer = RequestPacer(5, 2)
    with pytest.raises(ValueError, match="cannot take 3"):
        asyncio.run(pacer.acquire(3))


@pytest.mark.parametrize("bad", [0, 51])
def test_policy_refuses_more_than_ibkrs_50_messages_per_second(bad: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 50"):
        PacingPolicy(max_messages_per_second=bad)


def test_client_throttle_is_set_from_the_policy(fake_tws: FakeTws) -> None:
    connection = connect(
        fake_tws.port, pacing=PacingPolicy(max_messages_per_second=30, market_data_requests_per_second=5)
    )
    try:
        connection.wait_connected(WAIT)
        session = connection._session
        assert session is not None and session.ib.client.MaxRequests == 30
        assert connection._pacer().rate == 5
        quotes = connection.quotes(["AAPL", "SPY", "BRK.B"])
        assert [q.error for q in quotes] == [None, None, None]
    finally:
        connection.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (185.12, "185.12"),
        (18512.0, "18512"),
        (-4017.5, "-4017.5"),
        (0.000015, "0.000015"),
        (-0.0, "0"),
        (1.7976931348623157e308, None),  # ib_async's UNSET_DOUBLE
        (float("nan"), None),
        (None, None),
    ],
)
def test_decimal_from_float_recovers_the_wire_text(value: float | None, expected: str | None) -> None:
    result = decimal_from_float(value)
    assert result == (None if expected is None else Decimal(expected))
    if expected is not None:
        assert str(result) == expected


def test_decimal_from_text() -> None:
    assert decimal_from_text("125432.17") == Decimal("125432.17")
    assert decimal_from_text("INDIVIDUAL") is None
    assert decimal_from_text("") is None
    assert decimal_from_text("NaN") is None


def test_symbol_spellings() -> None:
    assert symbol_from_ibkr("BRK B") == "BRK.B"
    assert symbol_from_ibkr("aapl") == "AAPL"
    assert symbol_to_ibkr("BRK.B") == "BRK B"
    assert symbol_to_ibkr("BRK-B") == "BRK B"
    assert symbol_to_ibkr("SPY") == "SPY"


def test_contract_for_requests_routes_stocks_through_smart() -> None:
    spec = ContractSpec(con_id=265598, symbol="AAPL", sec_type="STK", currency="USD", exchange="NASDAQ")
    contract = spec.to_ib()
    assert (contract.conId, contract.exchange, contract.multiplier, contract.strike) == (
        265598,
        "SMART",
        "",
        0.0,
    )
    future = ContractSpec(
        con_id=1, symbol="ES", sec_type="FUT", currency="USD", exchange="CME", multiplier=Decimal(50)
    )
    assert (future.to_ib().exchange, future.to_ib().multiplier) == ("CME", "50")


def test_connection_repr_names_no_secret() -> None:
    assert repr(LiveConnection("127.0.0.1", 4001, 17)) == "<LiveConnection 127.0.0.1:4001 client 17 stopped>"
