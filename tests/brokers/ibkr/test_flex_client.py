"""The Flex Web Service client against a loopback fake that speaks the real protocol (ibkr.md §A)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from foliosync.brokers.base import BrokerAuthError, BrokerDataError, BrokerRateLimited, BrokerUnavailable
from foliosync.brokers.ibkr.flex_client import FlexClient, FlexPolicy, redact
from tests.brokers.ibkr.conftest import DATA
from tests.fakes.flex_server import FakeFlexServer, FakeFlexService

TOKEN = "871245521901234567890123"
QUERY = "654321"
STATEMENT = (DATA / "portfolio-performance" / "testIBFlexStatementFile26.xml").read_bytes()


class FakeTime:
    """Injected sleep and clock: the protocol's waits happen instantly and are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def service() -> FakeFlexService:
    return FakeFlexService(
        tokens={TOKEN: "valid", "old-token": "expired", "ip-token": "ip"}, queries={QUERY: STATEMENT}
    )


@pytest.fixture
def server(service: FakeFlexService) -> Iterator[FakeFlexServer]:
    with FakeFlexServer(service) as running:
        yield running


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def _client(server: FakeFlexServer, clock: FakeTime, **policy: object) -> FlexClient:
    return FlexClient(server.base_url, sleep=clock.sleep, clock=clock.clock, policy=FlexPolicy(**policy))


def test_statement_that_needs_several_polls(server, service, clock) -> None:
    service.polls_before_ready = 3
    with _client(server, clock) as client:
        body = client.fetch_statement(TOKEN, QUERY)
    assert body == STATEMENT
    steps = [r.step for r in service.requests]
    assert steps == ["SendRequest"] + ["GetStatement"] * 4
    assert clock.sleeps == [2.0, 2.0, 4.0, 8.0]  # first wait, then backoff while 1019
    send, *polls = service.requests
    assert send.params == {"t": TOKEN, "q": QUERY, "v": "3"}
    assert {p.params["t"] for p in polls} == {TOKEN} and len({p.params["q"] for p in polls}) == 1
    assert all(r.user_agent and r.user_agent.startswith("Python/") for r in service.requests)


def test_date_override_is_sent_on_step_one(server, service, clock) -> None:
    with _client(server, clock) as client:
        client.fetch_statement(TOKEN, QUERY, from_date=date(2025, 1, 2), to_date=date(2025, 3, 4))
    assert service.requests[0].params["fd"] == "20250102"
    assert service.requests[0].params["td"] == "20250304"


def test_polling_gives_up_after_its_budget(server, service, clock) -> None:
    service.polls_before_ready = 10_000
    with _client(server, clock, poll_budget=60.0) as client, pytest.raises(BrokerUnavailable) as caught:
        client.fetch_statement(TOKEN, QUERY)
    assert "not ready after 60 s" in str(caught.value)
    assert sum(clock.sleeps) <= 60.0


@pytest.mark.parametrize("code", ["1001", "1009", "1021"])
def test_temporary_errors_on_step_one_are_retried_with_backoff(server, service, clock, code) -> None:
    service.send_script = deque([code, code])
    with _client(server, clock) as client:
        assert client.fetch_statement(TOKEN, QUERY) == STATEMENT
    assert clock.sleeps[:2] == [10.0, 30.0]


def test_temporary_errors_give_up_as_unavailable(server, service, clock) -> None:
    service.send_script = deque(["1001"] * 4)
    with _client(server, clock) as client, pytest.raises(BrokerUnavailable) as caught:
        client.fetch_statement(TOKEN, QUERY)
    assert "error 1001" in caught.value.message
    assert clock.sleeps == [10.0, 30.0, 90.0]


@pytest.mark.parametrize("code", ["1004", "1005", "1006", "1007", "1008", "1009", "1021"])
def test_not_ready_codes_on_step_two_keep_polling(server, service, clock, code) -> None:
    service.get_script = deque([code, code])
    with _client(server, clock) as client:
        assert client.fetch_statement(TOKEN, QUERY) == STATEMENT


def test_rate_limit_backs_off_a_minute_then_succeeds(server, service, clock) -> None:
    service.send_script = deque(["1018"])
    service.get_script = deque(["1018"])
    with _client(server, clock) as client:
        assert client.fetch_statement(TOKEN, QUERY) == STATEMENT
    assert clock.sleeps.count(60.0) == 2


def test_persistent_rate_limit_is_reported_with_retry_after(server, service, clock) -> None:
    service.rate_limit_per_minute = 0
    with _client(server, clock) as client, pytest.raises(BrokerRateLimited) as caught:
        client.fetch_statement(TOKEN, QUERY)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 60
    assert "1018" in caught.value.message
    assert len(service.requests) == 3  # one try and two patient retries, never a tight loop


@pytest.mark.parametrize(("token", "code"), [("old-token", "1012"), ("unknown-token", "1015")])
def test_expired_or_invalid_token_says_where_to_make_a_new_one(server, clock, token, code) -> None:
    with _client(server, clock) as client, pytest.raises(BrokerAuthError) as caught:
        client.fetch_statement(token, QUERY)
    assert f"error {code}" in caught.value.message
    assert "Settings > Flex Web Service" in (caught.value.hint or "")
    assert "Reporting > Flex Queries" in (caught.value.hint or "")
    assert token not in str(caught.value)


def test_ip_restriction_says_so(server, clock) -> None:
    with _client(server, clock) as client, pytest.raises(BrokerAuthError) as caught:
        client.fetch_statement("ip-token", QUERY)
    assert "IP" in caught.value.message and "1013" in caught.value.message


def test_unknown_query_is_an_auth_problem_with_a_hint(server, clock) -> None:
    with _client(server, clock) as client, pytest.raises(BrokerAuthError) as caught:
        client.fetch_statement(TOKEN, "999")
    assert "1014" in caught.value.message and "flex_query_id" in (caught.value.hint or "")


def test_expired_reference_starts_over_once(server, service, clock) -> None:
    service.get_script = deque(["1017"])
    with _client(server, clock) as client:
        assert client.fetch_statement(TOKEN, QUERY) == STATEMENT
    assert [r.step for r in service.requests] == [
        "SendRequest",
        "GetStatement",
        "SendRequest",
        "GetStatement",
    ]


def test_truncated_statement_is_a_data_error(server, service, clock) -> None:
    service.get_script = deque(["truncated"])
    with _client(server, clock) as client, pytest.raises(BrokerDataError) as caught:
        client.fetch_statement(TOKEN, QUERY)
    assert "cut short" in caught.value.message


def test_non_xml_body_is_a_data_error(server, service, clock) -> None:
    service.send_script = deque(["garbage"])
    with _client(server, clock) as client, pytest.raises(BrokerDataError):
        client.fetch_statement(TOKEN, QUERY)


def test_server_errors_are_retried_then_unavailable(server, service, clock) -> None:
    service.send_script = deque(["503", "503"])
    with _client(server, clock) as client:
        assert client.fetch_statement(TOKEN, QUERY) == STATEMENT
    service.send_script = deque(["503"] * 4)
    with _client(server, clock) as client, pytest.raises(BrokerUnavailable) as caught:
        client.fetch_statement(TOKEN, QUERY)
    assert "HTTP 503" in caught.value.message


def test_timeouts_are_retried_then_unavailable(server, service, clock) -> None:
    service.slow_seconds = 0.5
    service.send_script = deque(["slow"] * 2)
    with (
        _client(server, clock, timeout=0.1, transport_retry_delays=(0.0,)) as client,
        pytest.raises(BrokerUnavailable) as caught,
    ):
        client.fetch_statement(TOKEN, QUERY)
    assert "timed out" in caught.value.message


def test_connection_refused_is_unavailable(clock) -> None:
    client = FlexClient(
        "http://127.0.0.1:9/AccountManagement/FlexWebService", sleep=clock.sleep, clock=clock.clock
    )
    with client, pytest.raises(BrokerUnavailable):
        client.fetch_statement(TOKEN, QUERY)


def test_token_is_never_sent_to_an_unexpected_host(server, service, clock) -> None:
    client = _client(server, clock)
    with client, pytest.raises(BrokerDataError) as caught:
        client._poll_url("https://evil.example.com/GetStatement")
    assert "evil.example.com" in caught.value.message
    assert client._poll_url("https://gdcdyn.interactivebrokers.com/x/GetStatement").startswith(
        "https://gdcdyn"
    )


def test_the_token_never_reaches_the_logs(server, service, clock, caplog) -> None:
    service.polls_before_ready = 1
    service.send_script = deque(["503"])
    caplog.set_level(logging.DEBUG)
    with _client(server, clock) as client:
        client.fetch_statement(TOKEN, QUERY)
    assert TOKEN not in caplog.text
    assert "httpx" in {r.name for r in caplog.records}  # the request log was there, redacted


def test_redact_masks_only_the_token_parameter() -> None:
    url = f"https://x/SendRequest?t={TOKEN}&q={QUERY}&v=3"
    assert redact(url) == f"https://x/SendRequest?t=***&q={QUERY}&v=3"
    assert redact(str(httpx.URL(url))) == redact(url)
