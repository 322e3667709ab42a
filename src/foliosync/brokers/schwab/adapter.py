"""The Schwab broker adapter: manifest, account discovery and `fetch` for the sync service.

Credentials are the OAuth tokens the link flow stored (nothing is typed by the user). Tokens and
the database: adapters do not touch the database, but a Schwab access token must be refreshed
under a row lock so two workers never overwrite each other's tokens (tokens.py). So the adapter
takes an injected `SchwabTokenManager`, the one component allowed to lock and rewrite the
credential row; it persists a refresh itself, and `fetch` then returns
`updated_credentials=None` (handing the same tokens back for the sync service to save after its
own commit could overwrite a newer refresh by another worker). Without a manager (a one-off
caller owning the credential), refreshes happen in memory and come back in
`FetchResult.updated_credentials`.

The registry's factory takes no arguments, so it builds the manager from `get_settings()` and
that database (`engine_for`).

Lots: Schwab's API reports averages, not lots (taxonomy.md §6.4), and a fetch window is not the
account's history, so the adapter returns none: the sync service rebuilds the computed lots from
the stored ledger after every write (`foliosync.ledger.lot_store`, the shared FIFO engine over the
stored trades and the stored set of corporate actions).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx

from foliosync.brokers.base import (
    AccountContext,
    BrokerAuthError,
    BrokerDataError,
    BrokerManifest,
    Capability,
    FetchResult,
)
from foliosync.brokers.registry import register
from foliosync.brokers.schwab.client import SchwabRequestRejected, SchwabTraderClient
from foliosync.brokers.schwab.normalizer import account_info, build_batch
from foliosync.brokers.schwab.oauth import (
    HTTP_TIMEOUT,
    RELINK_HINT,
    SchwabOAuthClient,
    SchwabOAuthConfig,
    TokenSet,
    utcnow,
)
from foliosync.brokers.schwab.tokens import (
    InMemoryTokenSource,
    SchwabTokenManager,
    TokenSource,
    link_expiry_warning,
)
from foliosync.config import Settings, get_settings
from foliosync.ledger.records import AccountInfo, Batch

# First sync: as far back as Schwab reliably answers (brokers.md §B.2: ~1-2 years).
INITIAL_HISTORY = timedelta(days=730)
# Later syncs start this long before the last success: PENDING rows settle, late rows appear.
SYNC_OVERLAP = timedelta(days=7)


def manifest_for(settings: Settings) -> BrokerManifest:
    capabilities = {Capability.SYNC, Capability.OAUTH_LINK, Capability.FILE_IMPORT}
    if settings.feature_schwab_trading:
        capabilities.add(Capability.TRADING)
    return BrokerManifest(
        broker="schwab",
        display_name="Charles Schwab",
        credential_fields=(),  # the OAuth link supplies the tokens
        capabilities=frozenset(capabilities),
        import_formats=("schwab-csv",),
        notes=(
            "Link through Schwab's login page (POST /api/v1/aggregator/schwab/link). Schwab ends "
            "every link after 7 days: re-link when the account asks for it."
        ),
    )


class SchwabAdapter:
    def __init__(
        self,
        settings: Settings,
        *,
        token_manager: SchwabTokenManager | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        initial_history: timedelta = INITIAL_HISTORY,
    ) -> None:
        self.manifest = manifest_for(settings)
        self._settings = settings
        self._token_manager = token_manager
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._initial_history = initial_history

    @classmethod
    def from_settings(cls, settings: Settings) -> SchwabAdapter:
        from foliosync.db.session import engine_for
        from foliosync.vault import vault_from_settings

        oauth = SchwabOAuthClient(SchwabOAuthConfig.from_settings(settings))
        manager = SchwabTokenManager(engine_for(settings.database_url), vault_from_settings(settings), oauth)
        return cls(settings, token_manager=manager)

    @contextmanager
    def _client(self, tokens: TokenSource) -> Iterator[SchwabTraderClient]:
        if self._http is not None:
            yield SchwabTraderClient(self._http, self._settings.schwab_api_url, tokens, sleep=self._sleep)
            return
        with httpx.Client(timeout=HTTP_TIMEOUT) as http:
            yield SchwabTraderClient(http, self._settings.schwab_api_url, tokens, sleep=self._sleep)

    def _oauth(self) -> SchwabOAuthClient:
        return SchwabOAuthClient(
            SchwabOAuthConfig.from_settings(self._settings), self._http, clock=self._clock
        )

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]:
        tokens = InMemoryTokenSource(TokenSet.from_credentials(credentials), self._oauth(), clock=self._clock)
        with self._client(tokens) as client:
            hashes = {n.number: n.hash_value for n in client.account_numbers()}
            payloads = client.accounts()
        infos = [account_info(payload) for payload in payloads]
        return [
            account_info(payload, hashes.get(info.external_account_id))
            for payload, info in zip(payloads, infos, strict=True)
        ]

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult:
        if not account.external_account_id:
            raise BrokerAuthError("This Schwab account has not finished linking.", hint=RELINK_HINT)
        known = TokenSet.from_credentials(credentials)
        now = self._clock()
        in_memory: InMemoryTokenSource | None = None
        tokens: TokenSource
        if self._token_manager is not None:
            tokens = self._token_manager.source(account.account_id, known)
        else:
            tokens = in_memory = InMemoryTokenSource(known, self._oauth(), clock=self._clock)
        start = self._window_start(account, since, now)
        with self._client(tokens) as client:
            hash_value = self._hash_value(client, account)
            try:
                account_payload = client.account(hash_value)
            except SchwabRequestRejected:
                # A stored hash Schwab no longer knows: look the number up once more.
                hash_value = self._hash_value(client, account, use_stored=False)
                account_payload = client.account(hash_value)
            fetched = client.transactions(hash_value, start, now)
        batch = build_batch(account_payload, fetched.rows, as_of=now, hash_value=hash_value)
        self._check_number(batch, account.external_account_id)
        batch.period_start, batch.period_end = start.date(), now.date()
        batch.warnings.extend(fetched.warnings)
        if not fetched.complete:
            batch.missing_sections.add("transactions")
        warning = link_expiry_warning(known.refresh_expires_at, now)
        if warning:
            batch.warnings.append(warning)
        updated = in_memory.updated.to_credentials() if in_memory and in_memory.updated else None
        return FetchResult(
            batch=batch,
            updated_credentials=updated,
            next_cursor={**account.cursor, "transactions_until": now.isoformat(), "account_hash": hash_value},
        )

    def _window_start(self, account: AccountContext, since: datetime | None, now: datetime) -> datetime:
        if since is not None:
            return since - SYNC_OVERLAP
        until = account.cursor.get("transactions_until")
        if isinstance(until, str):
            try:
                return datetime.fromisoformat(until) - SYNC_OVERLAP
            except ValueError:
                pass
        return now - self._initial_history

    @staticmethod
    def _hash_value(client: SchwabTraderClient, account: AccountContext, *, use_stored: bool = True) -> str:
        """Account URLs take Schwab's hash, never the number (§B.2); the link stored it in details."""
        stored = account.details.get("account_hash")
        if use_stored and isinstance(stored, str) and stored:
            return stored
        for entry in client.account_numbers():
            if entry.number == account.external_account_id:
                return entry.hash_value
        raise BrokerAuthError(
            f"The linked Schwab login no longer includes account …{(account.external_account_id or '')[-4:]}.",
            hint=RELINK_HINT,
        )

    @staticmethod
    def _check_number(batch: Batch, expected: str) -> None:
        numbers = [a.external_account_id for a in batch.accounts]
        if numbers != [expected]:
            raise BrokerDataError(
                f"Schwab answered for account …{numbers[0][-4:] if numbers else '?'} instead of …{expected[-4:]}."
            )


def _factory(settings: Settings) -> SchwabAdapter:
    return SchwabAdapter.from_settings(settings)


register(manifest_for(get_settings()), _factory)
