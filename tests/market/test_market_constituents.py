"""Constituent refresh: provider order, validation bands, membership history, cache, refresh records.
Runs on SQLite and PostgreSQL (the `session` fixture)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from foliosync.kv import MemoryStore, RedisStore
from foliosync.market.constituents.service import current_constituents, refresh_constituents
from foliosync.market.indices import IndexName
from foliosync.market.providers.fmp import CONSTITUENT_PATHS, FmpClient
from foliosync.models import IndexConstituent, IndexRefresh
from tests.fakes.wikipedia_server import PageOptions
from tests.support.api import make_settings

from .conftest import DOW30, NASDAQ100, SP500, fmp_client, wiki_client

T1 = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)
SP500_PATH = CONSTITUENT_PATHS[IndexName.SP500]


@pytest.fixture
def settings():
    return make_settings("sqlite://")


def _members(session, index: IndexName) -> dict[str, IndexConstituent]:
    rows = session.scalars(select(IndexConstituent).where(IndexConstituent.index_name == index.value))
    return {r.symbol: r for r in rows}


def _refreshes(session) -> list[IndexRefresh]:
    return list(session.scalars(select(IndexRefresh).order_by(IndexRefresh.id)))


def test_first_refresh_comes_from_fmp_and_records_it(session, settings, fmp, wiki):
    providers = [fmp_client(fmp), wiki_client(wiki)]
    outcomes = refresh_constituents(session, settings, providers=providers, store=MemoryStore(), now=T1)
    session.commit()
    assert [(o.index, o.provider, o.applied, o.fallback_used) for o in outcomes] == [
        (IndexName.SP500, "fmp", True, False),
        (IndexName.NASDAQ100, "fmp", True, False),
        (IndexName.DOW30, "fmp", True, False),
    ]
    sp = _members(session, IndexName.SP500)
    assert sorted(sp) == sorted(SP500)
    assert all(r.is_active and r.first_seen_at == T1 and r.last_seen_at == T1 for r in sp.values())
    assert sp["BRK.B"].provider == "fmp" and sp["BRK.B"].became_inactive_at is None
    assert len(_members(session, IndexName.NASDAQ100)) == len(NASDAQ100)
    assert sorted(_members(session, IndexName.DOW30)) == sorted(DOW30)
    records = _refreshes(session)
    assert [(r.index_name, r.provider, r.member_count, r.added, r.removed, r.applied) for r in records] == [
        ("SP500", "fmp", 503, 503, 0, True),
        ("NASDAQ100", "fmp", 101, 101, 0, True),
        ("DOW30", "fmp", 30, 30, 0, True),
    ]
    assert wiki.requests == []


def test_leaving_member_is_deactivated_and_a_returning_one_reactivated(session, settings, fmp, wiki):
    store = MemoryStore()
    providers = [fmp_client(fmp), wiki_client(wiki)]
    refresh_constituents(session, settings, [IndexName.DOW30], providers=providers, store=store, now=T1)
    session.commit()
    swapped = [("PLTR" if s == "VZ" else s) for s in DOW30]  # VZ leaves, PLTR joins
    fmp.set_index("DOW30", swapped)
    [second] = refresh_constituents(
        session, settings, [IndexName.DOW30], providers=providers, store=store, now=T2, force=True
    )
    session.commit()
    assert (second.added, second.removed) == (["PLTR"], ["VZ"])
    rows = _members(session, IndexName.DOW30)
    assert len(rows) == 31  # nothing deleted
    assert not rows["VZ"].is_active and rows["VZ"].became_inactive_at == T2 and rows["VZ"].last_seen_at == T1
    assert rows["PLTR"].is_active and rows["PLTR"].first_seen_at == T2
    assert rows["AAPL"].first_seen_at == T1 and rows["AAPL"].last_seen_at == T2

    fmp.set_index("DOW30", DOW30)  # VZ comes back, PLTR leaves
    [third] = refresh_constituents(
        session, settings, [IndexName.DOW30], providers=providers, store=store, now=T3, force=True
    )
    session.commit()
    assert (third.reactivated, third.removed) == (["VZ"], ["PLTR"])
    rows = _members(session, IndexName.DOW30)
    assert rows["VZ"].is_active and rows["VZ"].became_inactive_at is None and rows["VZ"].first_seen_at == T1
    assert not rows["PLTR"].is_active and rows["PLTR"].became_inactive_at == T3
    assert sum(r.is_active for r in rows.values()) == 30
    assert [(r.added, r.removed) for r in _refreshes(session)] == [(30, 0), (1, 1), (1, 1)]


@pytest.mark.parametrize("failure", [402, 403, "empty"])
def test_fmp_plan_error_or_empty_answer_falls_back_to_wikipedia(session, settings, fmp, wiki, failure):
    fmp.script(SP500_PATH, failure)
    [outcome] = refresh_constituents(
        session,
        settings,
        [IndexName.SP500],
        providers=[fmp_client(fmp), wiki_client(wiki)],
        store=MemoryStore(),
        now=T1,
    )
    session.commit()
    assert (outcome.provider, outcome.fallback_used, outcome.applied) == ("wikipedia", True, True)
    assert sorted(_members(session, IndexName.SP500)) == sorted(SP500)
    [record] = _refreshes(session)
    assert record.provider == "wikipedia" and record.fallback_used and record.applied
    expected = "returned no members" if failure == "empty" else f"HTTP {failure}"
    assert expected in record.error and record.error.startswith("fmp: ")


def test_without_an_fmp_key_wikipedia_answers_and_the_reason_is_recorded(session, settings, wiki):
    providers = [FmpClient("http://127.0.0.1:9", None), wiki_client(wiki)]
    [outcome] = refresh_constituents(
        session, settings, [IndexName.NASDAQ100], providers=providers, store=MemoryStore(), now=T1
    )
    assert outcome.provider == "wikipedia" and outcome.fallback_used
    assert outcome.errors == ["fmp: no API key"]


def test_failed_and_implausible_fetches_never_deactivate_anyone(session, settings, fmp, wiki):
    store = MemoryStore()
    providers = [fmp_client(fmp), wiki_client(wiki)]
    refresh_constituents(session, settings, providers=providers, store=store, now=T1)
    session.commit()

    # 429 until retries run out, and Wikipedia's layout changed: no usable answer.
    fmp.script(SP500_PATH, 429, 429, 429)
    wiki.options["SP500"] = PageOptions(ticker_header="Code")
    # A truncated list from both for the NASDAQ-100 (50 of 101) is implausible.
    fmp.set_index("NASDAQ100", NASDAQ100[:50])
    wiki.options["NASDAQ100"] = PageOptions(truncate_to=50)
    # The Dow with 29 members is implausible too (exactly 30 required).
    fmp.set_index("DOW30", DOW30[:29])
    wiki.options["DOW30"] = PageOptions(truncate_to=29)
    outcomes = refresh_constituents(session, settings, providers=providers, store=store, now=T2, force=True)
    session.commit()
    assert [o.applied for o in outcomes] == [False, False, False]
    assert all(o.fallback_used and o.provider is None for o in outcomes)
    for index, expected in (
        (IndexName.SP500, SP500),
        (IndexName.NASDAQ100, NASDAQ100),
        (IndexName.DOW30, DOW30),
    ):
        rows = _members(session, index)
        assert sorted(s for s, r in rows.items() if r.is_active) == sorted(expected)
        assert all(r.became_inactive_at is None and r.last_seen_at == T1 for r in rows.values())
    failed = _refreshes(session)[3:]
    assert [r.applied for r in failed] == [False, False, False]
    assert "fmp: HTTP 429" in failed[0].error and "no table with a Symbol/Ticker column" in failed[0].error
    assert "fmp: returned 50 members; NASDAQ100 must have 98-104" in failed[1].error
    assert "wikipedia: returned 29 members; DOW30 must have 30" in failed[2].error
    # The cache still serves the last good list.
    view = current_constituents(session, store, IndexName.NASDAQ100)
    assert len(view.members) == 101 and view.source == "fmp"


def test_a_fresh_cache_skips_the_providers_unless_forced(session, settings, fmp, wiki):
    store = MemoryStore()
    providers = [fmp_client(fmp), wiki_client(wiki)]
    refresh_constituents(session, settings, [IndexName.DOW30], providers=providers, store=store, now=T1)
    calls = len(fmp.requests)
    [cached] = refresh_constituents(
        session, settings, [IndexName.DOW30], providers=providers, store=store, now=T1 + timedelta(hours=5)
    )
    assert cached.from_cache and cached.provider == "fmp" and cached.member_count == 30
    assert len(fmp.requests) == calls and len(_refreshes(session)) == 1
    [forced] = refresh_constituents(
        session,
        settings,
        [IndexName.DOW30],
        providers=providers,
        store=store,
        now=T1 + timedelta(hours=5),
        force=True,
    )
    assert not forced.from_cache and len(fmp.requests) == calls + 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_down_still_answers_from_providers_and_database(session, fmp, wiki):
    settings = make_settings("sqlite://", redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    providers = [fmp_client(fmp), wiki_client(wiki)]
    outcomes = refresh_constituents(session, settings, providers=providers, now=T1)
    session.commit()
    assert all(o.applied for o in outcomes)
    store = RedisStore(settings.redis_url)
    view = current_constituents(session, store, IndexName.SP500)
    assert not view.from_cache and view.source == "fmp" and view.fetched_at == T1
    assert sorted(m.symbol for m in view.members) == sorted(SP500)


@pytest.mark.redis
def test_real_redis_caches_the_list_for_24_hours(session, redis_url, fmp, wiki):
    import redis

    settings = make_settings("sqlite://", redis_url=redis_url)
    refresh_constituents(
        session, settings, [IndexName.DOW30], providers=[fmp_client(fmp), wiki_client(wiki)], now=T1
    )
    view = current_constituents(session, RedisStore(redis_url), IndexName.DOW30)
    assert view.from_cache and view.source == "fmp" and [m.symbol for m in view.members] == DOW30
    ttl = redis.Redis.from_url(redis_url).ttl("foliosync:market:constituents:DOW30")
    assert 86_000 < ttl <= 86_400
