"""The Trader API client against the fake: one-year windows, the 3,000-row cap, retries, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import httpx
import pytest

from foliosync.brokers.base import BrokerDataError, BrokerRateLimited, BrokerUnavailable
from foliosync.brokers.schwab.client import SchwabRequestRejected, SchwabTraderClient
from foliosync.brokers.schwab.oauth import TokenSet
from foliosync.brokers.schwab.tokens import StaticTokenSource
from foliosync.brokers.schwab.windows import MAX_WINDOW, schwab_time, year_windows
from tests.fakes.schwab_server import FakeSchwab, parse_time

HASH = "A1B2C3D4E5F6SYNTHETICHASH0000000000000000000000000000000000000001"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeSchwab, sleeps: list[float]) -> Iterator[SchwabTraderClient]:
    issued = fake.issue_tokens()
    now = datetime.now(UTC)
    tokens = TokenSet(issued["access_token"], issued["refresh_token"], now + timedelta(minutes=30), now)
    with httpx.Client() as http:
        yield SchwabTraderClient(http, fake.url, StaticTokenSource(tokens), sleep=sleeps.append)


def ach(activity_id: int, at: datetime) -> dict:
    return {
        "activityId": activity_id,
        "time": at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "accountNumber": "12345678",
        "type": "ACH_RECEIPT",
        "status": "VALID",
        "tradeDate": at.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "netAmount": 10.0,
        "description": "ACH",
        "transferItems": [],
    }


def windows_requested(fake: FakeSchwab) -> list[tuple[datetime, datetime]]:
    return [
        (parse_time(r.param("startDate") or ""), parse_time(r.param("endDate") or ""))
        for r in fake.api_requests(f"/trader/v1/accounts/{HASH}/transactions")
    ]


def test_two_and_a_half_years_take_three_calls_of_at_most_a_year_each(
    fake: FakeSchwab, client: SchwabTraderClient
) -> None:
    start = datetime(2022, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=913)
    boundary = start + MAX_WINDOW  # the end of the first window, inside the second's overlap
    fake.account("12345678").transactions = [
        ach(1, start + timedelta(days=10)),
        ach(2, boundary),
        ach(3, end - timedelta(days=1)),
    ]

    fetched = client.transactions(HASH, start, end)

    assert fake.calls["transactions"] == 3 and fetched.calls == 3
    windows = windows_requested(fake)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(stop - begin <= MAX_WINDOW for begin, stop in windows)
    assert all(nxt[0] < prev[1] for prev, nxt in pairwise(windows))  # they overlap
    assert sorted(r["activityId"] for r in fetched.rows) == [
        1,
        2,
        3,
    ]  # the boundary row, twice fetched, once kept
    assert fetched.complete and not fetched.warnings


def test_a_window_that_hits_3000_rows_is_split_until_every_row_arrives(
    fake: FakeSchwab, client: SchwabTraderClient
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [ach(100000 + i, start + timedelta(minutes=25 * i)) for i in range(3500)]  # about 61 days
    fake.account("12345678").transactions = rows
    end = start + timedelta(days=62)

    fetched = client.transactions(HASH, start, end)

    assert sorted(r["activityId"] for r in fetched.rows) == [r["activityId"] for r in rows]
    windows = windows_requested(fake)
    assert windows[0] == (start, end)  # the first answer was capped at 3,000 ...
    assert len(windows) == 3  # ... so the window was split in two halves that each fit
    assert windows[1][0] == start and windows[2][1] == end and windows[1][1] == windows[2][0]
    assert fetched.complete


def test_a_full_window_too_short_to_split_is_reported_not_hidden(
    fake: FakeSchwab, client: SchwabTraderClient
) -> None:
    moment = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    fake.account("12345678").transactions = [ach(500000 + i, moment) for i in range(3001)]
    fetched = client.transactions(HASH, moment - timedelta(seconds=20), moment + timedelta(seconds=20))
    assert not fetched.complete
    assert len(fetched.rows) == 3000
    assert "per-call limit" in fetched.warnings[0]


def test_year_windows_cover_the_range_and_never_exceed_a_year() -> None:
    start = datetime(2020, 2, 29, tzinfo=UTC)
    end = datetime(2024, 3, 1, tzinfo=UTC)
    windows = year_windows(start, end)
    assert len(windows) == 5
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(stop - begin <= MAX_WINDOW for begin, stop in windows)
    assert schwab_time(datetime(2024, 3, 28, 21, 10, 42, 123456, tzinfo=UTC)) == "2024-03-28T21:10:42.123Z"


def test_rate_limits_are_retried_after_the_time_schwab_asks_for(
    fake: FakeSchwab, client: SchwabTraderClient, sleeps: list[float]
) -> None:
    fake.fail("/trader/v1/accounts/accountNumbers", 429, times=2, headers={"Retry-After": "7"})
    assert [n.number for n in client.account_numbers()] == ["12345678"]
    assert sleeps == [7.0, 7.0]


def test_server_errors_back_off_exponentially_then_give_up_as_transient(
    fake: FakeSchwab, client: SchwabTraderClient, sleeps: list[float]
) -> None:
    fake.fail("/trader/v1/accounts/accountNumbers", 503, times=2)
    assert len(client.account_numbers()) == 1
    assert sleeps == [1.0, 2.0]
    sleeps.clear()
    fake.fail("/trader/v1/accounts/accountNumbers", 502, times=4)
    with pytest.raises(BrokerUnavailable) as raised:
        client.account_numbers()
    assert raised.value.transient and "HTTP 502" in raised.value.message
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_rate_limit_that_does_not_end_is_reported_with_its_retry_after(
    fake: FakeSchwab, client: SchwabTraderClient
) -> None:
    fake.fail("/trader/v1/accounts/accountNumbers", 429, times=4, headers={"Retry-After": "30"})
    with pytest.raises(BrokerRateLimited) as raised:
        client.account_numbers()
    assert raised.value.retry_after == 30.0


def test_malformed_json_is_a_data_error(fake: FakeSchwab, client: SchwabTraderClient) -> None:
    fake.malformed(f"/trader/v1/accounts/{HASH}/transactions")
    with pytest.raises(BrokerDataError) as raised:
        client.transactions(HASH, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    assert "not valid JSON" in raised.value.message
    assert not raised.value.transient


def test_a_request_schwab_refuses_says_schwabs_reason(fake: FakeSchwab, client: SchwabTraderClient) -> None:
    with pytest.raises(SchwabRequestRejected) as raised:
        client._transactions_window(
            HASH, (datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
        )
    assert "Date range must be within 1 year" in raised.value.message
    assert raised.value.status_code == 422


def test_the_account_object_comes_with_its_positions(fake: FakeSchwab, client: SchwabTraderClient) -> None:
    account = client.account(HASH)
    assert [p["instrument"]["symbol"] for p in account["securitiesAccount"]["positions"]] == [
        "SPY",
        "SPY   250321C00650000",
    ]
    assert fake.api_requests(f"/trader/v1/accounts/{HASH}")[0].param("fields") == "positions"
