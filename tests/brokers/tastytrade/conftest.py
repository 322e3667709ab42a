"""Fixtures for the TastyTrade tests: the loopback fake, its credentials, a settable clock and a
sleep that records instead of waiting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.tastytrade_server import CLIENT_SECRET, REFRESH_TOKEN, FakeTastyTrade

# 2025-02-05 10:00 in New York: the day after the fixtures' snapshot date.
NOW = datetime(2025, 2, 5, 15, 0, tzinfo=UTC)
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def fake() -> Iterator[FakeTastyTrade]:
    with FakeTastyTrade() as server:
        yield server


@pytest.fixture
def credentials() -> dict[str, str]:
    return {"client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> list[float]:
    return []
