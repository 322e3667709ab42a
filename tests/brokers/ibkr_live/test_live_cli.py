"""`foliosync live`: one snapshot with --once, a refresh loop without it, a clear message when down."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from foliosync.cli.context import console
from foliosync.cli.main import app
from tests.brokers.ibkr_live.conftest import EMPTY, INDIVIDUAL, IRA
from tests.fakes.tws_server import REQ_ACCOUNT_UPDATES, FakeTws

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(console, "width", 200)  # one table row per line, for the assertions
    yield


def test_once_prints_status_positions_and_summary(fake_tws: FakeTws) -> None:
    result = runner.invoke(app, ["live", "--once", "--port", str(fake_tws.port), "--client-id", "21"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"CONNECTED Connected to TWS/IB Gateway at 127.0.0.1:{fake_tws.port}" in out
    for text in ("AAPL", "BRK.B", "SPY", "18,512", "-4,017.5", "125,432.17", "401,234.56", "50,210.99"):
        assert text in out, text
    for account in (INDIVIDUAL, IRA, EMPTY):
        assert account in out
    assert fake_tws.received(71)[0].fields[2] == "21"


def test_gateway_down_exits_1_with_the_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(app, ["live", "--once", "--port", str(port), "--wait", "1"])
    assert result.exit_code == 1
    assert f"Nothing is listening on 127.0.0.1:{port}" in " ".join(result.output.split())


def test_refresh_loop(fake_tws: FakeTws) -> None:
    result = runner.invoke(
        app,
        ["live", "--port", str(fake_tws.port), "--interval", "0.1", "--refreshes", "2", "--client-id", "22"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("CONNECTED Connected") == 3  # the first print and two refreshes
    # Three accounts: each refresh rotates the portfolio subscription through all of them again.
    assert len(fake_tws.received(REQ_ACCOUNT_UPDATES)) == 3 * 3
