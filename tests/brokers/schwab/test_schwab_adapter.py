"""The adapter contract: manifest and registration, fetch with and without the token manager,
re-link warnings, hash discovery, and no secret in any log line."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from foliosync.brokers.base import AccountContext, BrokerAuthError, Capability
from foliosync.brokers.registry import get_broker
from foliosync.brokers.schwab.adapter import SchwabAdapter, manifest_for
from foliosync.brokers.schwab.oauth import TokenSet
from foliosync.models import BrokerAccount
from tests.brokers.schwab.conftest import manager_for, schwab_settings, seed_account, stored_tokens
from tests.fakes.schwab_server import FakeSchwab

HASH = "A1B2C3D4E5F6SYNTHETICHASH0000000000000000000000000000000000000001"
NOW = datetime(2025, 2, 5, 21, 0, tzinfo=UTC)


def test_the_manifest_offers_trading_only_when_the_feature_is_on(fake: FakeSchwab) -> None:
    off = manifest_for(schwab_settings("sqlite://", fake))
    on = manifest_for(schwab_settings("sqlite://", fake, feature_schwab_trading=True))
    assert off.capabilities == {Capability.SYNC, Capability.OAUTH_LINK, Capability.FILE_IMPORT}
    assert on.capabilities == off.capabilities | {Capability.TRADING}
    assert (off.broker, off.display_name, off.credential_fields, off.import_formats) == (
        "schwab",
        "Charles Schwab",
        (),
        ("schwab-csv",),
    )
    assert get_broker("schwab").manifest.display_name == "Charles Schwab"


def context(account_id: int, details: dict | None = None) -> AccountContext:
    return AccountContext(
        account_id, "12345678", details={"account_hash": HASH} if details is None else details
    )


def test_fetch_refreshes_under_the_lock_and_leaves_nothing_for_the_sync_to_save(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=1), access_expires_at=now - timedelta(minutes=5)
    )
    settings = schwab_settings(sqlite_engine.url.render_as_string(hide_password=False), fake)
    adapter = SchwabAdapter(settings, token_manager=manager_for(sqlite_engine, fake), clock=lambda: now)
    # The fixture's activities are from January 2025: a last success then reaches them.
    result = adapter.fetch(known.to_credentials(), context(account_id), datetime(2025, 1, 1, tzinfo=UTC))

    assert fake.token_calls["refresh_token"] == 1
    assert result.updated_credentials is None  # the manager saved them under the lock already
    assert stored_tokens(sqlite_engine, fake, account_id).access_token != known.access_token
    batch = result.batch
    assert len(batch.trades) == 2 and len(batch.cash) == 2 and len(batch.positions) == 2
    assert result.next_cursor == {"transactions_until": now.isoformat(), "account_hash": HASH}
    assert batch.lots == []  # incremental: lots are rebuilt from the ledger, not from a window


def test_without_a_manager_the_refreshed_tokens_come_back_to_the_caller(fake: FakeSchwab) -> None:
    now = datetime.now(UTC)
    issued = fake.issue_tokens(
        consent_at=now - timedelta(days=2), access_expires_at=now - timedelta(minutes=1)
    )
    consent = now - timedelta(days=2)
    credentials = TokenSet(
        issued["access_token"], issued["refresh_token"], now - timedelta(minutes=1), consent
    )
    adapter = SchwabAdapter(schwab_settings("sqlite://", fake), sleep=lambda _s: None)
    result = adapter.fetch(credentials.to_credentials(), context(1), now - timedelta(days=1))
    assert result.updated_credentials is not None
    updated = TokenSet.from_credentials(result.updated_credentials)
    assert updated.access_token != credentials.access_token and fake.access_token_valid(updated.access_token)
    assert updated.refresh_issued_at == consent


def test_a_first_sync_fetches_two_years_in_one_year_windows_and_leaves_lots_to_the_ledger(
    fake: FakeSchwab,
) -> None:
    issued = fake.issue_tokens()
    credentials = TokenSet(
        issued["access_token"], issued["refresh_token"], datetime.now(UTC) + timedelta(minutes=30), NOW
    )
    adapter = SchwabAdapter(schwab_settings("sqlite://", fake), clock=lambda: NOW + timedelta(days=1))
    batch = adapter.fetch(credentials.to_credentials(), context(1), None).batch
    assert fake.calls["transactions"] == 3
    assert (batch.period_start, batch.period_end) == (date(2023, 2, 7), date(2025, 2, 6))
    assert len(batch.trades) == 2 and batch.lots == [] and "lots" not in batch.sections


@pytest.mark.parametrize(("age", "warned"), [(timedelta(days=4), False), (timedelta(days=5, hours=12), True)])
def test_fetch_warns_from_day_five_of_the_link(fake: FakeSchwab, age: timedelta, warned: bool) -> None:
    issued = fake.issue_tokens()
    now = datetime.now(UTC)
    credentials = TokenSet(
        issued["access_token"], issued["refresh_token"], now + timedelta(minutes=30), now - age
    )
    adapter = SchwabAdapter(schwab_settings("sqlite://", fake))
    batch = adapter.fetch(credentials.to_credentials(), context(1), now - timedelta(days=1)).batch
    assert ("Re-link Schwab within 2 days" in batch.warnings) is warned


def test_fetch_on_an_expired_link_fails_with_the_relink_hint_and_marks_the_account(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=8), access_expires_at=now - timedelta(days=1)
    )
    settings = schwab_settings(sqlite_engine.url.render_as_string(hide_password=False), fake)
    adapter = SchwabAdapter(settings, token_manager=manager_for(sqlite_engine, fake))
    with pytest.raises(BrokerAuthError) as raised:
        adapter.fetch(known.to_credentials(), context(account_id), None)
    assert "Re-link the account" in (raised.value.hint or "")
    with Session(sqlite_engine) as session:
        account = session.get(BrokerAccount, account_id)
        assert account is not None and account.needs_reauth and account.status == "NEEDS_REAUTH"
    assert fake.calls["transactions"] == 0


def test_fetch_finds_the_account_hash_when_it_was_not_stored(fake: FakeSchwab) -> None:
    issued = fake.issue_tokens()
    now = datetime.now(UTC)
    credentials = TokenSet(issued["access_token"], issued["refresh_token"], now + timedelta(minutes=30), now)
    result = SchwabAdapter(schwab_settings("sqlite://", fake)).fetch(
        credentials.to_credentials(), context(1, details={}), now - timedelta(days=1)
    )
    assert fake.calls["accountNumbers"] == 1
    assert result.next_cursor is not None and result.next_cursor["account_hash"] == HASH


def test_discover_accounts_lists_numbers_with_their_hashes(fake: FakeSchwab) -> None:
    fake.add_account("87654321", "C" * 64)
    issued = fake.issue_tokens()
    now = datetime.now(UTC)
    credentials = TokenSet(issued["access_token"], issued["refresh_token"], now + timedelta(minutes=30), now)
    accounts = SchwabAdapter(schwab_settings("sqlite://", fake)).discover_accounts(
        credentials.to_credentials()
    )
    assert [(a.external_account_id, a.details["account_hash"]) for a in accounts] == [
        ("12345678", HASH),
        ("87654321", "C" * 64),
    ]


def test_no_token_or_secret_appears_in_the_logs_of_a_fetch_with_refresh(
    sqlite_engine: Engine, fake: FakeSchwab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=1), access_expires_at=now - timedelta(minutes=5)
    )
    settings = schwab_settings(sqlite_engine.url.render_as_string(hide_password=False), fake)
    adapter = SchwabAdapter(settings, token_manager=manager_for(sqlite_engine, fake))
    adapter.fetch(known.to_credentials(), context(account_id), now - timedelta(days=1))
    fresh = stored_tokens(sqlite_engine, fake, account_id)
    logged = caplog.text + repr(known) + repr(fresh)
    for secret in (known.access_token, known.refresh_token, fresh.access_token, fake.client_secret):
        assert secret not in logged


def test_a_stale_stored_hash_is_looked_up_again(fake: FakeSchwab) -> None:
    issued = fake.issue_tokens()
    now = datetime.now(UTC)
    credentials = TokenSet(issued["access_token"], issued["refresh_token"], now + timedelta(minutes=30), now)
    result = SchwabAdapter(schwab_settings("sqlite://", fake)).fetch(
        credentials.to_credentials(), context(1, details={"account_hash": "0" * 64}), now - timedelta(days=1)
    )
    assert result.next_cursor is not None and result.next_cursor["account_hash"] == HASH
    assert fake.calls["accountNumbers"] == 1 and fake.calls["account"] == 1
