"""The fake TWS speaks the wire protocol ib_async expects: unmodified ib_async connects to it and
decodes every message layout (shared/docs/ibkr.md D.2-D.6)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from ib_async import IB, StartupFetchNONE, Stock

from tests.brokers.ibkr_live.conftest import AAPL, BRK_B, EMPTY, INDIVIDUAL, IRA
from tests.fakes.tws_server import FakeTws, TwsScenario, encode_message


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_handshake_raw_bytes(fake_tws: FakeTws) -> None:
    """D.2 on the socket itself: API\\0, a framed version range, then exactly two fields back."""
    with socket.create_connection(("127.0.0.1", fake_tws.port), timeout=5) as sock:
        versions = b"v157..178"
        sock.sendall(b"API\0" + struct.pack(">I", len(versions)) + versions)
        size = struct.unpack(">I", sock.recv(4))[0]
        payload = b""
        while len(payload) < size:
            payload += sock.recv(size - len(payload))
    fields = payload.decode().split("\0")
    assert fields[-1] == ""  # every field NUL-terminated, the last one too
    assert fields[:-1] == ["178", "20250115 14:30:00 EST"]


def test_encode_message_frames_nul_terminated_fields() -> None:
    assert encode_message(9, 1, 42) == struct.pack(">I", 7) + b"9\x001\x0042\x00"


def test_minimal_readonly_startup_sends_only_start_api_and_positions(fake_tws: FakeTws) -> None:
    async def main() -> tuple[list[str], int]:
        ib = IB()
        await ib.connectAsync(
            "127.0.0.1", fake_tws.port, 5, timeout=5, readonly=True, fetchFields=StartupFetchNONE
        )
        try:
            return ib.managedAccounts(), ib.client.serverVersion()
        finally:
            ib.disconnect()

    accounts, version = run(main())
    assert accounts == [INDIVIDUAL, IRA, EMPTY]
    assert version == 178
    assert [m.fields for m in fake_tws.received()] == [["0", "v157..178"], ["71", "2", "5", ""], ["61", "1"]]


def test_full_startup_fetch_completes_with_every_end_marker(fake_tws: FakeTws) -> None:
    """The default connect asks for positions, orders, completed orders, per-account updates and
    executions; raiseSyncErrors=True fails the connect if any end marker were missing."""

    async def main() -> list[Any]:
        ib = IB()
        await ib.connectAsync("127.0.0.1", fake_tws.port, 6, timeout=5, raiseSyncErrors=True)
        try:
            return ib.positions()
        finally:
            ib.disconnect()

    positions = run(main())
    assert len(positions) == 5
    ids = [m.msg_id for m in fake_tws.received()]
    assert sorted(ids) == sorted([0, 71, 61, 5, 99, 76, 76, 76, 7])


def test_position_portfolio_and_account_values_layouts(fake_tws: FakeTws) -> None:
    async def main() -> tuple[Any, Any, Any, Any]:
        ib = IB()
        await ib.connectAsync(
            "127.0.0.1", fake_tws.port, 7, timeout=5, readonly=True, fetchFields=StartupFetchNONE
        )
        try:
            await ib.reqAccountUpdatesAsync(INDIVIDUAL)
            summary = await ib.accountSummaryAsync(IRA)
            return ib.positions(INDIVIDUAL), ib.portfolio(INDIVIDUAL), ib.accountValues(INDIVIDUAL), summary
        finally:
            ib.disconnect()

    positions, portfolio, values, summary = run(main())
    aapl = next(p for p in positions if p.contract.conId == AAPL.con_id)
    assert (aapl.account, aapl.contract.symbol, aapl.contract.exchange, aapl.position, aapl.avgCost) == (
        INDIVIDUAL,
        "AAPL",
        "NASDAQ",
        100.0,
        150.25,
    )
    call = next(p for p in portfolio if p.contract.secType == "OPT")
    assert (call.contract.strike, call.contract.right, call.contract.multiplier) == (200.0, "C", "100")
    assert (call.position, call.marketPrice, call.marketValue, call.averageCost) == (2.0, 3.15, 630.0, 512.34)
    assert (call.unrealizedPNL, call.realizedPNL, call.account) == (-394.68, 12.5, INDIVIDUAL)
    assert {(v.tag, v.value, v.currency) for v in values} >= {("CashBalance", "1500", "EUR")}
    assert {(v.tag, v.value, v.currency) for v in summary} == {
        ("AccountType", "IRA", ""),
        ("NetLiquidation", "50210.99", "USD"),
        ("TotalCashValue", "38409.99", "USD"),
        ("BuyingPower", "38409.99", "USD"),
        ("MaintMarginReq", "0", "USD"),
        ("CashBalance", "38409.99", "USD"),
    }


def test_contract_details_layout_and_unknown_symbol(fake_tws: FakeTws) -> None:
    async def main() -> tuple[Any, Any, Any]:
        ib = IB()
        await ib.connectAsync(
            "127.0.0.1", fake_tws.port, 8, timeout=5, readonly=True, fetchFields=StartupFetchNONE
        )
        try:
            details = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
            unknown = await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD"))
            [brk] = await ib.qualifyContractsAsync(Stock("BRK B", "SMART", "USD"))
            return details, unknown, brk
        finally:
            ib.disconnect()

    details, unknown, brk = run(main())
    [d] = details
    assert (d.contract.conId, d.contract.exchange, d.contract.primaryExchange) == (
        AAPL.con_id,
        "SMART",
        "NASDAQ",
    )
    assert (d.longName, d.minTick, d.industry, d.stockType) == ("APPLE INC", 0.01, "Technology", "COMMON")
    assert [(t.tag, t.value) for t in d.secIdList] == [("ISIN", "US0378331005")]
    assert (d.minSize, d.sizeIncrement, d.suggestedSizeIncrement) == (0.0001, 0.0001, 100.0)
    assert unknown == []
    assert brk.conId == BRK_B.con_id
    errors = [m for m in fake_tws.received(9) if m.fields[4] == "NOPE"]
    assert len(errors) == 1 and len(errors[0].fields) == 19  # 9, 8, reqId, 12 contract fields, 3 + issuerId


@pytest.mark.parametrize("client_version_floor", [150])
def test_server_older_than_client_minimum_is_refused(client_version_floor: int) -> None:
    scenario = TwsScenario(accounts=[INDIVIDUAL], server_version=client_version_floor)
    with FakeTws(scenario) as fake:

        async def main() -> None:
            ib = IB()
            await ib.connectAsync(
                "127.0.0.1", fake.port, 9, timeout=1, readonly=True, fetchFields=StartupFetchNONE
            )

        with pytest.raises(TimeoutError):
            run(main())
        assert fake.received(71) == []  # ib_async hung up before startApi
