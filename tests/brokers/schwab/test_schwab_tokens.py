"""Token lifecycle: refresh serialised per account, re-read after the lock, 7-day expiry, warnings."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from foliosync.brokers.base import BrokerAuthError
from foliosync.brokers.schwab.client import SchwabTraderClient
from foliosync.brokers.schwab.oauth import TokenSet
from foliosync.brokers.schwab.tokens import SchwabTokenManager, mark_expired_links, reauth_warning
from foliosync.models import BrokerAccount
from tests.brokers.schwab.conftest import manager_for, seed_account, stored_tokens
from tests.fakes.schwab_server import FakeSchwab


def wait_until(condition, what: str, deadline: float = 15.0) -> None:
    """Poll a condition; a deadline only guards against a hung test, it asserts nothing about speed."""
    stop = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > stop:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def race_two_workers(
    engine: Engine, fake: FakeSchwab, account_id: int, known: TokenSet, extra_wait
) -> list[str]:
    """Two workers, each with its own manager, both holding the expired token. The one that gets
    the lock is held at the token endpoint until the other has decided to refresh too (and, on
    PostgreSQL, is blocked on the row lock); then both finish."""
    deciding: list[int] = []
    managers = [manager_for(engine, fake, before_lock=deciding.append) for _ in range(2)]

    def hold_refresh() -> None:
        wait_until(lambda: len(deciding) == 2, "both workers to decide to refresh")
        extra_wait()

    fake.on_refresh = hold_refresh
    results: list[str] = []
    errors: list[BaseException] = []

    def worker(manager: SchwabTokenManager) -> None:
        try:
            results.append(manager.source(account_id, known).access_token())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(m,)) for m in managers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres
def test_two_workers_refreshing_at_once_send_one_token_request_on_postgresql(
    pg_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        pg_engine, fake, consent_at=now - timedelta(days=1), access_expires_at=now - timedelta(minutes=1)
    )

    def a_backend_waits_on_the_row_lock() -> None:
        def waiting() -> bool:
            with pg_engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    ).scalar()
                )

        wait_until(waiting, "the second worker to block on SELECT ... FOR UPDATE")

    results = race_two_workers(pg_engine, fake, account_id, known, a_backend_waits_on_the_row_lock)

    assert fake.token_calls["refresh_token"] == 1
    assert len(results) == 2 and results[0] == results[1]
    assert results[0] != known.access_token
    assert fake.access_token_valid(results[0])
    assert stored_tokens(pg_engine, fake, account_id).access_token == results[0]


def test_two_workers_refreshing_at_once_send_one_token_request_on_sqlite(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=1), access_expires_at=now - timedelta(minutes=1)
    )
    results = race_two_workers(sqlite_engine, fake, account_id, known, lambda: None)
    assert fake.token_calls["refresh_token"] == 1
    assert results[0] == results[1] and fake.access_token_valid(results[0])
    assert stored_tokens(sqlite_engine, fake, account_id).access_token == results[0]


def test_a_valid_token_is_used_without_any_refresh(sqlite_engine: Engine, fake: FakeSchwab) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now, access_expires_at=now + timedelta(minutes=20)
    )
    assert manager_for(sqlite_engine, fake).source(account_id, known).access_token() == known.access_token
    assert fake.token_calls["refresh_token"] == 0


def test_a_refresh_keeps_the_consent_time_so_the_seven_days_are_not_extended(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    consent = now - timedelta(days=3)
    account_id, known = seed_account(sqlite_engine, fake, consent_at=consent, access_expires_at=now)
    manager_for(sqlite_engine, fake).source(account_id, known).access_token()
    stored = stored_tokens(sqlite_engine, fake, account_id)
    assert stored.refresh_issued_at == consent
    assert stored.refresh_token == known.refresh_token
    assert stored.access_expires_at > now + timedelta(minutes=29)


def test_a_401_gets_one_refresh_and_the_call_is_retried(sqlite_engine: Engine, fake: FakeSchwab) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now, access_expires_at=now + timedelta(minutes=20)
    )
    fake.expire_access_tokens()  # Schwab stops accepting a token our clock still believes in
    source = manager_for(sqlite_engine, fake).source(account_id, known)
    with httpx.Client() as http:
        numbers = SchwabTraderClient(http, fake.url, source).account_numbers()
    assert [n.number for n in numbers] == ["12345678"]
    assert fake.token_calls["refresh_token"] == 1
    assert fake.calls["unauthorized"] == 1 and fake.calls["accountNumbers"] == 1


def _account(engine: Engine, account_id: int) -> BrokerAccount:
    with Session(engine) as session:
        account = session.get(BrokerAccount, account_id)
        assert account is not None
        session.expunge(account)
        return account


def test_an_expired_refresh_token_marks_the_account_for_relinking_without_asking_schwab(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=7, minutes=1), access_expires_at=now
    )
    with pytest.raises(BrokerAuthError) as raised:
        manager_for(sqlite_engine, fake).source(account_id, known).access_token()
    assert "expired after 7 days" in raised.value.message
    assert "/api/v1/aggregator/schwab/link" in (raised.value.hint or "")
    assert fake.token_calls["refresh_token"] == 0
    account = _account(sqlite_engine, account_id)
    assert (account.needs_reauth, account.status) == (True, "NEEDS_REAUTH")
    assert account.reauth_reason == "The Schwab link expired after 7 days."
    assert account.details["relink"] == {
        "method": "POST",
        "path": "/api/v1/aggregator/schwab/link",
        "body": {"account_id": account_id},
    }
    assert account.details["account_hash"]  # the rest of details is kept
    assert reauth_warning(account, now) == "Re-link Schwab now: The Schwab link expired after 7 days."


@pytest.mark.parametrize("answer", ["invalid_grant", "refresh_token_authentication_error"])
def test_schwab_refusing_the_refresh_token_marks_the_account_for_relinking(
    sqlite_engine: Engine, fake: FakeSchwab, answer: str
) -> None:
    now = datetime.now(UTC)
    account_id, known = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=2), access_expires_at=now
    )
    fake.refresh_error = answer
    fake.revoke_refresh_tokens()
    with pytest.raises(BrokerAuthError) as raised:
        manager_for(sqlite_engine, fake).source(account_id, known).access_token()
    assert answer in raised.value.message
    assert fake.token_calls["refresh_token"] == 1
    account = _account(sqlite_engine, account_id)
    assert account.needs_reauth and account.status == "NEEDS_REAUTH"
    assert answer in (account.reauth_reason or "")


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(days=4, hours=23), None),
        (timedelta(days=5), "Re-link Schwab within 2 days"),
        (timedelta(days=5, hours=1), "Re-link Schwab within 2 days"),
        (timedelta(days=6), "Re-link Schwab within 1 day"),
        (timedelta(days=6, hours=23), "Re-link Schwab within 1 day"),
        (timedelta(days=7), "Re-link Schwab now: the 7-day link has expired."),
    ],
)
def test_from_day_five_the_account_says_how_many_days_remain(age: timedelta, expected: str | None) -> None:
    consent = datetime(2025, 3, 1, 12, tzinfo=UTC)
    account = BrokerAccount(broker="schwab", needs_reauth=False, reauth_due_at=consent + timedelta(days=7))
    assert reauth_warning(account, consent + age) == expected


def test_the_periodic_check_flags_links_past_their_seven_days(
    sqlite_engine: Engine, fake: FakeSchwab
) -> None:
    now = datetime.now(UTC)
    expired_id, _ = seed_account(
        sqlite_engine, fake, consent_at=now - timedelta(days=8), access_expires_at=now
    )
    with Session(sqlite_engine) as session:
        assert mark_expired_links(session, now) == 1
        session.commit()
        assert mark_expired_links(session, now) == 0
    account = _account(sqlite_engine, expired_id)
    assert account.needs_reauth and account.status == "NEEDS_REAUTH"
