"""The TastyTrade client against the loopback fake: OAuth, refresh, pagination, retries, errors."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest

from foliosync import __version__
from foliosync.brokers.base import BrokerAuthError, BrokerDataError, BrokerRateLimited, BrokerUnavailable
from foliosync.brokers.tastytrade.client import TastyTradeClient
from foliosync.brokers.tastytrade.credentials import OAuthCredentials
from tests.brokers.tastytrade.conftest import NOW, SECRETS, Clock
from tests.fakes.tastytrade_server import FakeTastyTrade, load_fixture

ACCOUNT = "5WX00001"
POSITIONS = f"/accounts/{ACCOUNT}/positions"
TRANSACTIONS = f"/accounts/{ACCOUNT}/transactions"


def make_client(
    fake: FakeTastyTrade, credentials: dict[str, str], clock: Clock, sleeps: list[float]
) -> TastyTradeClient:
    return TastyTradeClient(
        fake.url, OAuthCredentials.from_mapping(credentials), sleep=sleeps.append, clock=clock
    )


@pytest.fixture
def client(fake, credentials, clock, sleeps):
    with make_client(fake, credentials, clock, sleeps) as c:
        yield c


class TestOAuth:
    def test_refresh_grant_is_a_json_body_without_authorization(self, client, fake, credentials):
        accounts = client.accounts()

        assert [a.account.account_number for a in accounts] == [ACCOUNT]
        [token_call] = fake.token_requests()
        assert token_call.method == "POST"
        assert token_call.json == {
            "grant_type": "refresh_token",
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["refresh_token"],
        }
        assert token_call.headers["content-type"].startswith("application/json")
        assert "authorization" not in token_call.headers
        [api_call] = fake.api_requests()
        assert api_call.headers["authorization"] == "Bearer fake-access-token-1"
        assert api_call.headers["user-agent"] == f"foliosync/{__version__}"
        assert api_call.headers["accept-version"] == "20251101"

    def test_token_is_reused_until_a_minute_before_expiry(self, client, fake, clock):
        client.positions(ACCOUNT)
        assert client.credentials.access_token_expires_at == NOW + timedelta(seconds=900)

        clock.advance(minutes=13, seconds=59)  # 61 s left
        client.positions(ACCOUNT)
        assert fake.tokens_issued == 1

        clock.advance(seconds=2)  # 59 s left: refresh before calling
        client.positions(ACCOUNT)
        assert fake.tokens_issued == 2
        assert fake.api_requests()[-1].headers["authorization"] == "Bearer fake-access-token-2"

    def test_a_cached_token_from_the_vault_skips_the_login(self, fake, credentials, clock, sleeps):
        with make_client(fake, credentials, clock, sleeps) as first:
            first.authenticate()
            stored = first.credentials.to_mapping()
        with make_client(fake, stored, clock, sleeps) as second:
            second.positions(ACCOUNT)
            assert second.token_refreshed is False
        assert fake.tokens_issued == 1
        assert len(fake.token_requests()) == 1

    def test_a_401_is_cured_by_one_refresh(self, client, fake):
        client.positions(ACCOUNT)
        fake.expire_access_tokens()

        positions = client.positions(ACCOUNT)

        assert len(positions) == 2
        assert fake.tokens_issued == 2
        assert [r.headers["authorization"] for r in fake.api_requests(POSITIONS)] == [
            "Bearer fake-access-token-1",
            "Bearer fake-access-token-1",
            "Bearer fake-access-token-2",
        ]

    def test_a_401_after_the_refresh_is_an_auth_error(self, client, fake):
        fake.fail(POSITIONS, 401, times=2)

        with pytest.raises(BrokerAuthError) as caught:
            client.positions(ACCOUNT)

        assert "Create Grant" in (caught.value.hint or "")
        assert len(fake.api_requests(POSITIONS)) == 2

    def test_revoked_refresh_token_says_how_to_reconnect(self, client, fake):
        fake.revoke_refresh_token()

        with pytest.raises(BrokerAuthError) as caught:
            client.accounts()

        assert "revoked" in caught.value.message
        assert "OAuth Applications" in (caught.value.hint or "")
        assert "Create Grant" in (caught.value.hint or "")
        assert not any(secret in str(caught.value) for secret in SECRETS)
        assert fake.api_requests() == []

    def test_wrong_client_secret_is_named(self, fake, credentials, clock, sleeps):
        bad = {**credentials, "client_secret": "not-the-secret"}
        with make_client(fake, bad, clock, sleeps) as client, pytest.raises(BrokerAuthError) as caught:
            client.accounts()
        assert caught.value.message == "TastyTrade rejected the client secret."
        assert "not-the-secret" not in str(caught.value)

    def test_credentials_never_show_in_reprs(self, client):
        client.authenticate()
        text = repr(client) + repr(client.credentials)
        assert not any(secret in text for secret in (*SECRETS, "fake-access-token-1"))


class TestPagination:
    def test_reads_every_page_in_ascending_order(self, client, fake):
        fake.page_size_cap = 5

        transactions = client.transactions(ACCOUNT)

        expected = (
            load_fixture("transactions_page0.json")["data"]["items"]
            + load_fixture("transactions_page1.json")["data"]["items"]
        )
        assert sorted(t.id for t in transactions) == sorted(t["id"] for t in expected)
        assert len(transactions) == 9
        calls = fake.api_requests(TRANSACTIONS)
        assert [c.param("page-offset") for c in calls] == ["0", "1"]
        assert {c.param("sort") for c in calls} == {"Asc"}
        assert [t.executed_at for t in transactions] == sorted(t.executed_at for t in transactions)

    def test_date_window_is_sent_as_yyyy_mm_dd(self, client, fake):
        from datetime import date

        transactions = client.transactions(ACCOUNT, start_date=date(2025, 1, 31), end_date=date(2025, 2, 3))

        assert sorted(t.id for t in transactions) == [1005, 1006, 1007]
        [call] = fake.api_requests(TRANSACTIONS)
        assert (call.param("start-date"), call.param("end-date")) == ("2025-01-31", "2025-02-03")


class TestRetries:
    def test_429_honours_retry_after(self, client, fake, sleeps):
        fake.fail(POSITIONS, 429, times=2, headers={"Retry-After": "3"})

        assert len(client.positions(ACCOUNT)) == 2
        assert sleeps == [3.0, 3.0]

    def test_429_without_retry_after_backs_off_exponentially(self, client, fake, sleeps):
        fake.fail(POSITIONS, 429, times=2)

        client.positions(ACCOUNT)

        assert len(sleeps) == 2
        assert 1.0 <= sleeps[0] <= 1.5
        assert 2.0 <= sleeps[1] <= 3.0

    def test_a_long_retry_after_is_not_slept_through(self, client, fake, sleeps):
        fake.fail(POSITIONS, 429, headers={"Retry-After": "3600"})

        with pytest.raises(BrokerRateLimited) as caught:
            client.positions(ACCOUNT)

        assert caught.value.retry_after == 3600.0
        assert sleeps == []

    def test_persistent_429_gives_up_rate_limited(self, client, fake, sleeps):
        fake.fail(POSITIONS, 429, times=10, headers={"Retry-After": "1"})

        with pytest.raises(BrokerRateLimited):
            client.positions(ACCOUNT)

        assert len(fake.api_requests(POSITIONS)) == 4
        assert sleeps == [1.0, 1.0, 1.0]

    def test_5xx_is_retried(self, client, fake, sleeps):
        fake.fail(POSITIONS, 502, times=2)

        assert len(client.positions(ACCOUNT)) == 2
        assert len(sleeps) == 2
        assert len(fake.api_requests(POSITIONS)) == 3

    def test_persistent_5xx_is_unavailable(self, client, fake):
        fake.fail(POSITIONS, 503, times=4)

        with pytest.raises(BrokerUnavailable) as caught:
            client.positions(ACCOUNT)

        assert "503" in caught.value.message
        assert "try again" in (caught.value.hint or "")
        assert len(fake.api_requests(POSITIONS)) == 4

    def test_5xx_on_the_token_endpoint_is_retried_too(self, client, fake, sleeps):
        fake.fail("/oauth/token", 500)

        client.accounts()

        assert len(fake.token_requests()) == 2
        assert len(sleeps) == 1

    def test_unreachable_host_is_unavailable(self, credentials, clock, sleeps):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # nothing listens here once the socket closes
        client = TastyTradeClient(
            f"http://127.0.0.1:{port}",
            OAuthCredentials.from_mapping(credentials),
            sleep=sleeps.append,
            clock=clock,
        )
        with client, pytest.raises(BrokerUnavailable) as caught:
            client.accounts()
        assert "Could not reach TastyTrade" in caught.value.message
        assert len(sleeps) == 3


class TestBadPayloads:
    def test_malformed_json_names_the_endpoint(self, client, fake):
        fake.malformed(POSITIONS)

        with pytest.raises(BrokerDataError) as caught:
            client.positions(ACCOUNT)

        assert caught.value.message == (
            f"TastyTrade sent a response that is not valid JSON for GET {POSITIONS} (HTTP 200)."
        )
        assert "Nothing was saved" in (caught.value.hint or "")

    def test_a_payload_of_the_wrong_shape_is_a_data_error(self, client, fake):
        fake.fail(POSITIONS, 200, body=b'{"data": {"items": [{"symbol": "SPY"}]}}')

        with pytest.raises(BrokerDataError) as caught:
            client.positions(ACCOUNT)

        assert f"unexpected payload for GET {POSITIONS}" in caught.value.message
        assert "data.items.0.account-number: Field required" in caught.value.message

    def test_unknown_account_is_a_404_with_a_hint(self, client):
        from foliosync.brokers.base import BrokerError

        with pytest.raises(BrokerError) as caught:
            client.positions("NOPE0000")
        assert "HTTP 404" in caught.value.message
        assert "Account NOPE0000 not found" in caught.value.message


def test_secrets_and_tokens_are_never_logged(client, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.page_size_cap = 5
    fake.fail(TRANSACTIONS, 429, headers={"Retry-After": "1"})

    client.accounts()
    fake.expire_access_tokens()
    client.transactions(ACCOUNT)
    client.positions(ACCOUNT)

    assert fake.tokens_issued == 2
    assert "tastytrade.token_refreshed" in caplog.text
    for secret in (*SECRETS, "fake-access-token-1", "fake-access-token-2"):
        assert secret not in caplog.text
    # The archive never keeps the token response.
    assert all("oauth" not in r.source_name for r in client.recorded)
    assert not any(b"fake-access-token" in r.content for r in client.recorded)
