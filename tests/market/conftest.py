"""Fixtures for market-data tests: the three loopback vendors with realistic index sizes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foliosync.market.http import RetryPolicy
from foliosync.market.providers.fmp import FmpClient
from foliosync.market.providers.polygon import PolygonClient
from foliosync.market.providers.wikipedia import WikipediaClient
from tests.fakes.fmp_server import FakeFMP, synthetic_tickers
from tests.fakes.polygon_server import FakePolygon
from tests.fakes.wikipedia_server import DOW_30, FakeWikipedia, real_sp500_rows

# Dual-class members and share classes with a dot (marketdata.md C.4), and the real fragment's rows.
SP500_SPECIAL = (
    "BRK.B",
    "BF.B",
    "GOOGL",
    "GOOG",
    "FOXA",
    "FOX",
    "NWSA",
    "NWS",
    *(s for s, _ in real_sp500_rows()),
)
SP500 = synthetic_tickers(503, seed=500, special=SP500_SPECIAL)
NASDAQ100 = synthetic_tickers(101, seed=100, special=("GOOGL", "GOOG", "AAPL", "MSFT"))
DOW30 = list(DOW_30)

NO_WAIT = RetryPolicy(max_retries=2, backoff_seconds=0.0)


@pytest.fixture
def fmp() -> Iterator[FakeFMP]:
    with FakeFMP() as fake:
        fake.set_index("SP500", SP500)
        fake.set_index("NASDAQ100", NASDAQ100)
        fake.set_index("DOW30", DOW30)
        yield fake


@pytest.fixture
def wiki() -> Iterator[FakeWikipedia]:
    with FakeWikipedia(sp500=list(SP500), nasdaq100=list(NASDAQ100), dow30=list(DOW30)) as fake:
        yield fake


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    with FakePolygon() as fake:
        yield fake


def fmp_client(fake: FakeFMP, key: str | None = None) -> FmpClient:
    return FmpClient(fake.url, key or fake.api_key, calls_per_minute=1e6, retry=NO_WAIT)


def wiki_client(fake: FakeWikipedia) -> WikipediaClient:
    return WikipediaClient(fake.url, retry=NO_WAIT)


def polygon_client(fake: FakePolygon, key: str | None = None) -> PolygonClient:
    return PolygonClient(fake.url, key or fake.api_key, calls_per_minute=1e6, retry=NO_WAIT)
