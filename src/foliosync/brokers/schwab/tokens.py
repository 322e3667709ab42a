"""Schwab token lifecycle: refresh access tokens, serialised per account; warn, then demand re-link.

Access tokens live 30 minutes and are refreshed on demand. Two workers syncing the same account
(or a sync and a trading call) must not both refresh and then overwrite each other's tokens
(brokers.md §B.5, concurrency caveat), so a refresh happens only while holding a lock on the
account's credential row: `SELECT ... FOR UPDATE` on PostgreSQL, a `BEGIN IMMEDIATE` write
transaction on SQLite. After taking the lock the row is read again: when another worker refreshed
meanwhile, its token is used and no second token request is sent.

Refresh tokens die 7 days after the user's consent, whatever we do (§B.1). `reauth_due_at` on the
account says when; from day 5 `reauth_warning()` tells the user how many days remain, and at
expiry (or when Schwab answers invalid_grant) the account is marked NEEDS_REAUTH with the reason.
Nothing fails silently: each of those paths raises BrokerAuthError with the re-link hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from foliosync.brokers.base import BrokerAuthError
from foliosync.brokers.schwab.oauth import (
    REFRESH_TOKEN_LIFETIME,
    RELINK_HINT,
    SchwabOAuthClient,
    TokenSet,
    utcnow,
)
from foliosync.ledger.taxonomy import AccountStatus
from foliosync.models import AccountCredential, BrokerAccount
from foliosync.vault import CredentialVault

WARN_AFTER = timedelta(days=5)
ACCESS_LEEWAY = timedelta(seconds=60)


def relink_action(account_id: int) -> dict[str, Any]:
    """The API call that renews a link; shown beside a NEEDS_REAUTH account."""
    return {"method": "POST", "path": "/api/v1/aggregator/schwab/link", "body": {"account_id": account_id}}


def link_expiry_warning(due_at: datetime, now: datetime) -> str | None:
    """From day 5 of the 7: "Re-link Schwab within 2 days"; None before that."""
    remaining = due_at - now
    if remaining <= timedelta(0):
        return "Re-link Schwab now: the 7-day link has expired."
    if remaining > REFRESH_TOKEN_LIFETIME - WARN_AFTER:
        return None
    days = math.ceil(remaining / timedelta(days=1))
    return f"Re-link Schwab within {days} day{'s' if days != 1 else ''}"


def reauth_warning(account: BrokerAccount, now: datetime) -> str | None:
    """What the user must do about a Schwab link, or None while it has more than 2 days to run."""
    if account.needs_reauth:
        return f"Re-link Schwab now: {account.reauth_reason or 'Schwab no longer accepts this link.'}"
    if account.reauth_due_at is None:
        return None
    return link_expiry_warning(account.reauth_due_at, now)


def mark_needs_reauth(account: BrokerAccount, reason: str) -> None:
    account.needs_reauth = True
    account.status = AccountStatus.NEEDS_REAUTH.value
    account.reauth_reason = reason
    details = dict(account.details or {})
    details["relink"] = relink_action(account.id)
    account.details = details


def mark_expired_links(session: Session, now: datetime) -> int:
    """For a periodic job: flag every Schwab link whose 7 days are over, before a sync trips on it."""
    expired = session.scalars(
        select(BrokerAccount).where(
            BrokerAccount.broker == "schwab",
            BrokerAccount.needs_reauth.is_(False),
            BrokerAccount.reauth_due_at.is_not(None),
            BrokerAccount.reauth_due_at <= now,
        )
    ).all()
    for account in expired:
        mark_needs_reauth(account, "The Schwab link expired after 7 days.")
    session.flush()
    return len(expired)


class TokenSource(Protocol):
    """What the Trader API client asks for a bearer token."""

    def access_token(self) -> str: ...

    def after_rejection(self, rejected: str) -> str:
        """A new token after Schwab answered 401 to `rejected` (one refresh, then retry)."""
        ...


class StaticTokenSource:
    """The token just obtained in the link callback: used once, never refreshed."""

    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def access_token(self) -> str:
        return self._tokens.access_token

    def after_rejection(self, rejected: str) -> str:
        raise BrokerAuthError("Schwab rejected the access token it has just issued.", hint=RELINK_HINT)


class InMemoryTokenSource:
    """Refreshes without a database; the caller persists `updated` (FetchResult.updated_credentials).
    Only for callers that own the credential exclusively (a CLI run against one account)."""

    def __init__(
        self, tokens: TokenSet, oauth: SchwabOAuthClient, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._tokens = tokens
        self._oauth = oauth
        self._clock = clock
        self.updated: TokenSet | None = None

    def access_token(self) -> str:
        now = self._clock()
        if self._tokens.refresh_expired(now):
            raise BrokerAuthError("The Schwab link expired after 7 days.", hint=RELINK_HINT)
        if self._tokens.access_expired(now, ACCESS_LEEWAY):
            self._refresh()
        return self._tokens.access_token

    def after_rejection(self, rejected: str) -> str:
        if rejected == self._tokens.access_token:
            self._refresh()
        return self._tokens.access_token

    def _refresh(self) -> None:
        self._tokens = self.updated = self._oauth.refresh(self._tokens)


class SchwabTokenManager:
    """Per-account token refresh under a database row lock (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        vault: CredentialVault,
        oauth: SchwabOAuthClient,
        *,
        clock: Callable[[], datetime] = utcnow,
        before_lock: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._oauth = oauth
        self._clock = clock
        # Test hook: called just before a worker waits for the lock.
        self._before_lock = before_lock

    def now(self) -> datetime:
        return self._clock()

    def source(self, account_id: int, known: TokenSet | None = None) -> ManagedTokenSource:
        return ManagedTokenSource(self, account_id, known)

    def current(self, account_id: int) -> TokenSet:
        with Session(self._engine) as session:
            row = session.scalar(select(AccountCredential).where(AccountCredential.account_id == account_id))
            if row is None:
                raise BrokerAuthError("This Schwab account has no stored link.", hint=RELINK_HINT)
            return TokenSet.from_credentials(self._vault.decrypt(row.ciphertext))

    def refresh(self, account_id: int, stale_access_token: str, *, rejected: bool) -> TokenSet:
        """A valid token for the account. `stale_access_token` is the one the caller found expired
        (or Schwab rejected); if the stored token differs and is valid, someone refreshed already."""
        if self._before_lock is not None:
            self._before_lock(account_id)
        with self._locked(account_id) as (session, row):
            now = self._clock()
            stored = TokenSet.from_credentials(self._vault.decrypt(row.ciphertext))
            if stored.refresh_expired(now):
                self._give_up(session, account_id, "The Schwab link expired after 7 days.")
            someone_refreshed = stored.access_token != stale_access_token
            if someone_refreshed and not stored.access_expired(now, ACCESS_LEEWAY):
                return stored
            if not someone_refreshed and not rejected and not stored.access_expired(now, ACCESS_LEEWAY):
                return stored
            try:
                fresh = self._oauth.refresh(stored)
            except BrokerAuthError as exc:
                self._give_up(session, account_id, exc.message)
            row.ciphertext, row.key_id = self._vault.encrypt(fresh.to_credentials())
            session.commit()
            return fresh

    def _give_up(self, session: Session, account_id: int, reason: str) -> NoReturn:
        account = session.get(BrokerAccount, account_id)
        if account is not None:
            mark_needs_reauth(account, reason)
        session.commit()
        raise BrokerAuthError(reason, hint=RELINK_HINT)

    @contextmanager
    def _locked(self, account_id: int) -> Iterator[tuple[Session, AccountCredential]]:
        with Session(self._engine, expire_on_commit=False) as session:
            query = select(AccountCredential).where(AccountCredential.account_id == account_id)
            if self._engine.dialect.name == "sqlite":
                # The first statement of the transaction: pysqlite has not begun one yet, and a
                # write lock taken up front makes a second worker wait here (busy_timeout).
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            else:
                query = query.with_for_update()
            row = session.scalar(query)
            if row is None:
                session.rollback()
                raise BrokerAuthError("This Schwab account has no stored link.", hint=RELINK_HINT)
            try:
                yield session, row
            finally:
                session.rollback()  # a no-op after commit; releases the lock on any error


class ManagedTokenSource:
    """The token source of one account backed by SchwabTokenManager. `known` is the credential the
    caller already decrypted (the sync passes it), which saves a read while it is still valid."""

    def __init__(self, manager: SchwabTokenManager, account_id: int, known: TokenSet | None) -> None:
        self._manager = manager
        self._account_id = account_id
        self._tokens = known

    @property
    def tokens(self) -> TokenSet:
        if self._tokens is None:
            self._tokens = self._manager.current(self._account_id)
        return self._tokens

    def access_token(self) -> str:
        tokens = self.tokens
        now = self._manager.now()
        if tokens.access_expired(now, ACCESS_LEEWAY) or tokens.refresh_expired(now):
            self._tokens = self._manager.refresh(self._account_id, tokens.access_token, rejected=False)
        return self.tokens.access_token

    def after_rejection(self, rejected: str) -> str:
        self._tokens = self._manager.refresh(self._account_id, rejected, rejected=True)
        return self.tokens.access_token
