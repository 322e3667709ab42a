"""A gateway that is down, wrong, busy or flaky gives a clear status, never an exception, and the
connection comes back by itself (exponential backoff)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from foliosync.brokers.ibkr.live import Backoff, LiveConnection, LiveState, LiveStatus, LiveUnavailable
from foliosync.brokers.ibkr.live_status import CONNECTIVITY_LOST_MESSAGE
from tests.brokers.ibkr_live.conftest import FAST_BACKOFF, INDIVIDUAL, WAIT, connect, make_scenario
from tests.fakes.tws_server import REQ_ACCOUNT_SUMMARY, REQ_POSITIONS, FakeTws, TwsScenario

NOT_LISTENING = (
    "Nothing is listening on 127.0.0.1:{port}: start TWS or IB Gateway and enable the API "
    "(Configure > API > Settings). IB Gateway listens on 4001 (live) / 4002 (paper), TWS on 7496 / 7497; "
    "set IBKR_TWS_PORT."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    connection: LiveConnection, check: Callable[[LiveStatus], bool], timeout: float = WAIT
) -> LiveStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = connection.status()
        if check(status):
            return status
        time.sleep(0.01)
    raise AssertionError(f"status never matched; last: {connection.status()}")


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=60)
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(0) == 0


def test_nothing_listening_gives_a_clear_status_then_connects_when_the_gateway_starts() -> None:
    port = free_port()
    connection = connect(port)
    try:
        status = wait_until(connection, lambda s: s.failed_attempts >= 3)
        assert status.state is LiveState.DISCONNECTED
        expected = NOT_LISTENING.format(port=port)
        assert status.last_error == expected
        # Each retry waits longer: attempt n is followed by FAST_BACKOFF.delay(n).
        assert status.message == f"{expected} Retrying in {FAST_BACKOFF.delay(status.failed_attempts):g} s."
        assert status.next_retry_at is not None and status.next_retry_at > status.since
        assert connection.positions() == []
        with pytest.raises(LiveUnavailable) as raised:
            connection.quotes(["AAPL"])
        assert raised.value.message.startswith(f"Nothing is listening on 127.0.0.1:{port}")

        fake = FakeTws(make_scenario())
        fake.port = port
        fake.start()
        try:
            status = connection.wait_connected(WAIT)
            assert status.state is LiveState.CONNECTED
            assert (status.failed_attempts, status.last_error) == (0, None)
            assert len(connection.positions()) == 5
        finally:
            fake.close()
    finally:
        connection.stop()
    assert connection.status().state is LiveState.STOPPED


def test_connectivity_lost_1100_and_restored_1102(live: LiveConnection, fake_tws: FakeTws) -> None:
    fake_tws.connectivity_lost()
    status = live.wait_for_state(LiveState.DEGRADED, timeout=WAIT)
    assert status.state is LiveState.DEGRADED
    assert status.message == CONNECTIVITY_LOST_MESSAGE
    assert status.last_error == "1100: Connectivity between IB and Trader Workstation has been lost."
    frozen = live.data_as_of()
    marks = [p.as_of for p in live.positions()]
    time.sleep(0.01)
    # Marks stop being "now": their times no longer move, none is later than the freeze.
    assert [p.as_of for p in live.positions()] == marks
    assert max(marks) <= frozen == live.data_as_of()

    fake_tws.connectivity_restored()
    status = live.wait_for_state(LiveState.CONNECTED, timeout=WAIT)
    assert status.message.endswith("Connectivity to IBKR was restored.")
    assert live.data_as_of() > frozen
    # ib_async itself asks for the account summary again after 1102.
    fake_tws.wait_for_message(REQ_ACCOUNT_SUMMARY, count=2)


def test_restored_with_data_lost_1101_resubscribes(live: LiveConnection, fake_tws: FakeTws) -> None:
    fake_tws.connectivity_lost()
    live.wait_for_state(LiveState.DEGRADED, timeout=WAIT)
    fake_tws.connectivity_restored(data_lost=True)
    live.wait_for_state(LiveState.CONNECTED, timeout=WAIT)
    fake_tws.wait_for_message(REQ_POSITIONS, count=2)
    fake_tws.wait_for_message(REQ_ACCOUNT_SUMMARY, count=2)


def test_dropped_socket_disconnects_keeps_last_figures_and_reconnects(fake_tws: FakeTws) -> None:
    connection = connect(fake_tws.port, backoff=Backoff(initial=0.5, factor=2, maximum=1))
    try:
        connection.wait_connected(WAIT)
        before = connection.positions()
        fake_tws.stop()  # the Gateway goes away: sockets closed, nothing listening
        status = connection.wait_for_state(LiveState.DISCONNECTED, timeout=WAIT)
        assert status.state is LiveState.DISCONNECTED
        assert status.message.startswith(
            f"The connection to TWS/IB Gateway at 127.0.0.1:{fake_tws.port} was lost"
        )
        assert status.message.endswith("Reconnecting in 0.5 s.")
        # The last known figures stay readable, dated when the connection dropped.
        frozen = connection.data_as_of()
        after = connection.positions()
        assert [(p.account, p.contract.con_id, p.quantity, p.market_value) for p in after] == [
            (p.account, p.contract.con_id, p.quantity, p.market_value) for p in before
        ]
        assert {p.as_of for p in after if p.account == "U3333333"} <= {frozen}
        assert max(p.as_of for p in after) <= frozen
        with pytest.raises(LiveUnavailable):
            connection.refresh()

        fake_tws.start()  # same port
        status = connection.wait_connected(WAIT)
        assert status.state is LiveState.CONNECTED
        assert len(connection.positions()) == 5
        assert connection.data_as_of() > frozen
    finally:
        connection.stop()


def test_abruptly_closed_socket_reconnects_while_listening(live: LiveConnection, fake_tws: FakeTws) -> None:
    since = live.status().since
    fake_tws.drop_connections()
    status = wait_until(live, lambda s: s.state is LiveState.CONNECTED and s.since > since)
    assert status.managed_accounts[0] == INDIVIDUAL
    assert len(fake_tws.received(71)) == 2  # startApi twice: a second session


def test_client_id_already_in_use(live: LiveConnection, fake_tws: FakeTws) -> None:
    duplicate = connect(fake_tws.port, client_id=17)
    try:
        status = wait_until(duplicate, lambda s: s.failed_attempts >= 1)
        assert status.state is not LiveState.CONNECTED
        assert status.last_error == (
            f"TWS/IB Gateway at 127.0.0.1:{fake_tws.port} closed the connection during the API handshake: "
            "client id 17 is probably used by another application, or this machine is not a trusted IP. "
            "Set IBKR_TWS_CLIENT_ID to an unused id, or add 127.0.0.1 under Configure > API > Settings > "
            "Trusted IPs."
        )
        assert live.status().state is LiveState.CONNECTED  # the first client is unaffected
    finally:
        duplicate.stop()


def test_port_that_never_answers_the_handshake() -> None:
    with FakeTws(make_scenario(), handshake="silent") as fake:
        connection = connect(fake.port, connect_timeout=0.3)
        try:
            status = wait_until(connection, lambda s: s.failed_attempts >= 1)
            assert status.last_error == (
                f"127.0.0.1:{fake.port} accepted the connection but did not complete the TWS API handshake "
                "within 0.3 s: check that this is the API socket port of TWS or IB Gateway and enable "
                "the API (Configure > API > Settings). IB Gateway listens on 4001 (live) / 4002 (paper), TWS on "
                "7496 / 7497; set IBKR_TWS_PORT."
            )
        finally:
            connection.stop()


def test_server_too_old_for_the_client() -> None:
    with FakeTws(TwsScenario(accounts=[INDIVIDUAL], server_version=150)) as fake:
        connection = connect(fake.port)
        try:
            status = wait_until(connection, lambda s: s.failed_attempts >= 1)
            assert status.last_error == (
                f"TWS/IB Gateway at 127.0.0.1:{fake.port} is too old for this API client (ib_async needs "
                "server version 157 or later): update TWS or IB Gateway to a current release."
            )
        finally:
            connection.stop()


def test_stop_while_connecting_does_not_wait_for_the_connect_timeout() -> None:
    with FakeTws(make_scenario(), handshake="silent") as fake:
        connection = connect(fake.port, connect_timeout=60)
        wait_until(connection, lambda s: s.state is LiveState.CONNECTING)
        connection.stop(timeout=WAIT)
        assert connection.status().state is LiveState.STOPPED


def test_farm_warnings_come_and_go(live: LiveConnection, fake_tws: FakeTws) -> None:
    fake_tws.send_error(2103, "Market data farm connection is broken:usfarm")
    status = wait_until(live, lambda s: bool(s.warnings))
    assert status.warnings == ("Market data farm connection is broken:usfarm (TWS error 2103)",)
    assert status.state is LiveState.CONNECTED
    fake_tws.send_error(2104, "Market data farm connection is OK:usfarm")
    assert wait_until(live, lambda s: not s.warnings).warnings == ()
