"""The IBKR adapter: manifest, account discovery and fetch through the Flex Web Service fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from foliosync.brokers.base import AccountContext, BrokerAuthError, BrokerDataError, Capability
from foliosync.brokers.ibkr.adapter import MANIFEST, IbkrFlexAdapter
from foliosync.brokers.ibkr.flex_client import FlexClient
from foliosync.brokers.registry import get_broker
from foliosync.config import Settings
from tests.brokers.ibkr.conftest import DATA
from tests.brokers.ibkr.test_flex_client import QUERY, STATEMENT, TOKEN, FakeTime
from tests.fakes.flex_server import FakeFlexServer, FakeFlexService

CREDENTIALS = {"flex_token": TOKEN, "flex_query_id": QUERY}


@pytest.fixture
def fake() -> Iterator[tuple[FakeFlexServer, FakeFlexService]]:
    service = FakeFlexService(tokens={TOKEN: "valid"}, queries={QUERY: STATEMENT}, polls_before_ready=1)
    with FakeFlexServer(service) as server:
        yield server, service


def _adapter(server: FakeFlexServer) -> IbkrFlexAdapter:
    time = FakeTime()
    return IbkrFlexAdapter(
        settings=Settings(ibkr_flex_url=server.base_url),
        client_factory=lambda url: FlexClient(url, sleep=time.sleep, clock=time.clock),
        today=lambda: date(2025, 12, 8),
    )


def test_manifest_is_registered() -> None:
    registered = get_broker("ibkr")
    assert registered.manifest is MANIFEST
    assert MANIFEST.display_name == "Interactive Brokers"
    assert {(f.name, f.secret) for f in MANIFEST.credential_fields} == {
        ("flex_token", True),
        ("flex_query_id", False),
    }
    assert MANIFEST.capabilities == {
        Capability.SYNC,
        Capability.FILE_IMPORT,
        Capability.LOTS,
        Capability.LIVE,
    }
    assert MANIFEST.import_formats == ("ibkr-flex",)
    assert registered.factory is not None
    assert isinstance(registered.factory(Settings()), IbkrFlexAdapter)


def test_discover_accounts_lists_every_statement(fake) -> None:
    server, _ = fake
    accounts = _adapter(server).discover_accounts(CREDENTIALS)
    assert [(a.external_account_id, a.base_currency) for a in accounts] == [
        ("U1234567", "USD"),
        ("U1234568", "EUR"),
    ]


def test_fetch_returns_every_account_with_the_raw_statement(fake) -> None:
    server, service = fake
    context = AccountContext(account_id=1, external_account_id="U1234568")
    result = _adapter(server).fetch(CREDENTIALS, context, None)
    batch = result.batch
    assert batch.account_numbers() == ["U1234567", "U1234568"]
    assert [(r.kind, r.content) for r in batch.raw_payloads] == [("ibkr-flex", STATEMENT)]
    # A scheduled sync needs positions, cash report, corporate actions... this query lacks them.
    assert "OpenPositions (account U1234568)" in batch.missing_sections
    assert result.next_cursor == {"covered_until": "2025-10-01T03:59:59+00:00"}
    assert "fd" not in service.requests[0].params  # first sync: the query's own period


def test_later_fetches_ask_for_the_days_since_the_last_sync(fake) -> None:
    server, service = fake
    context = AccountContext(account_id=1, external_account_id="U1234567")
    _adapter(server).fetch(CREDENTIALS, context, datetime(2025, 12, 1, 12, tzinfo=UTC))
    assert (service.requests[0].params["fd"], service.requests[0].params["td"]) == ("20251126", "20251208")
    _adapter(server).fetch(CREDENTIALS, context, datetime(2020, 1, 1, tzinfo=UTC))
    last_send = [r for r in service.requests if r.step == "SendRequest"][-1]
    assert last_send.params["fd"] == "20241209"  # never more than IBKR's 365-day window


def test_missing_credentials_are_an_auth_error(fake) -> None:
    server, service = fake
    with pytest.raises(BrokerAuthError):
        _adapter(server).fetch({"flex_token": "", "flex_query_id": QUERY}, AccountContext(1, "U1"), None)
    assert service.requests == []


def test_an_account_missing_from_the_query_is_reported(fake) -> None:
    server, _ = fake
    with pytest.raises(BrokerDataError) as caught:
        _adapter(server).fetch(CREDENTIALS, AccountContext(1, "U9999999"), None)
    assert "U9999999" in caught.value.message


def test_an_unreadable_statement_is_a_data_error(fake) -> None:
    server, service = fake
    service.queries[QUERY] = (
        (DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml")
        .read_bytes()
        .replace(b'dateTime="20250730;202000"', b'dateTime="31/07/2025"')
    )
    with pytest.raises(BrokerDataError) as caught:
        _adapter(server).fetch(CREDENTIALS, AccountContext(1, "U1234567"), None)
    assert "dd/MM" in caught.value.message and "yyyy-MM-dd" in (caught.value.hint or "")
