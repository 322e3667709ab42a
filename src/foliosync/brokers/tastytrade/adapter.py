"""The TastyTrade broker adapter: OAuth credentials in, a canonical batch out (no database).

Incremental sync (shared taxonomy.md §2.2): transaction ids are unique but not monotonic, so the
cursor is a date. Each fetch asks for transactions from `transactions_since` minus a few days of
overlap (late postings, and `transaction-date` can be a day off from `executed-at`); the upsert
on (account, id) makes the overlap free. The first sync takes the whole history. Positions and
balances are snapshots taken on every fetch.

The access token (15 minutes) is returned in `updated_credentials` whenever a new one was minted,
so the sync service stores it (encrypted) and the next sync within those minutes reuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from foliosync.brokers.base import (
    AccountContext,
    BrokerDataError,
    BrokerError,
    BrokerManifest,
    Capability,
    CredentialField,
    FetchResult,
)
from foliosync.brokers.registry import register
from foliosync.brokers.tastytrade.client import (
    API_VERSION,
    DATA_HINT,
    RecordedResponse,
    TastyTradeClient,
    utcnow,
)
from foliosync.brokers.tastytrade.credentials import OAUTH_APPS_PATH, OAuthCredentials
from foliosync.brokers.tastytrade.normalizer import (
    normalize_account,
    normalize_balance,
    normalize_positions,
    normalize_transactions,
    trading_date,
)
from foliosync.config import Settings, get_settings
from foliosync.ledger.records import AccountInfo, RawPayloadRef

CURSOR_KEY = "transactions_since"
OVERLAP_DAYS = 3

MANIFEST = BrokerManifest(
    broker="tastytrade",
    display_name="TastyTrade",
    credential_fields=(
        CredentialField(
            "client_secret",
            "Client secret",
            secret=True,
            help=f"The client secret of your OAuth application ({OAUTH_APPS_PATH}).",
        ),
        CredentialField(
            "refresh_token",
            "Refresh token",
            secret=True,
            help="Create it with 'Create Grant' on your OAuth application; it does not expire.",
        ),
    ),
    capabilities=frozenset({Capability.SYNC, Capability.CONNECT_JOB}),
    notes="OAuth personal grant (client secret + refresh token). TastyTrade reports no tax lots.",
)


@dataclass(frozen=True)
class Login:
    """What a successful login found, and the credentials to store (with the fresh access token)."""

    accounts: list[AccountInfo]
    credentials: dict[str, str]


class TastyTradeAdapter:
    manifest = MANIFEST

    def __init__(
        self,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        overlap_days: int = OVERLAP_DAYS,
    ) -> None:
        self._base_url = base_url or get_settings().tastytrade_api_url
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._overlap = timedelta(days=overlap_days)

    def __repr__(self) -> str:
        return f"TastyTradeAdapter(base_url={self._base_url!r})"

    def _client(self, credentials: OAuthCredentials) -> TastyTradeClient:
        # The sandbox does not accept Accept-Version (brokers.md §A.3).
        sandbox = (urlsplit(self._base_url).hostname or "").startswith("api.cert.")
        return TastyTradeClient(
            self._base_url,
            credentials,
            transport=self._transport,
            sleep=self._sleep,
            clock=self._clock,
            api_version=None if sandbox else API_VERSION,
        )

    def login(self, credentials: Mapping[str, str]) -> Login:
        """Check the credentials and list every account behind them (all of them, not the first)."""
        with self._client(OAuthCredentials.from_mapping(credentials)) as client:
            accounts = [normalize_account(item) for item in client.accounts()]
            return Login(accounts, client.credentials.to_mapping())

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]:
        return self.login(credentials).accounts

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult:
        number = account.external_account_id
        if not number:
            raise BrokerError(
                "This TastyTrade account has no account number yet.",
                hint="Connect TastyTrade again so foliosync can discover the account numbers.",
            )
        now = self._clock()
        start = transactions_window_start(account.cursor, since, self._overlap)
        with self._client(OAuthCredentials.from_mapping(credentials)) as client:
            transactions = client.transactions(number, start_date=start)
            positions = client.positions(number)
            balance = client.balances(number)
            recorded = list(client.recorded)
            updated = client.credentials.to_mapping() if client.token_refreshed else None
        _check_account_numbers(number, [t.account_number for t in transactions], "transactions")
        _check_account_numbers(number, [p.account_number for p in positions], "positions")
        _check_account_numbers(number, [balance.account_number], "balances")

        batch = normalize_transactions(transactions)
        batch.accounts.append(AccountInfo(number))
        batch.positions = normalize_positions(positions, now)
        batch.balances = [normalize_balance(balance, now)]
        batch.sections |= {"positions", "balances"}
        batch.raw_payloads = [_raw_payload(r) for r in recorded]
        batch.covers_until = now
        batch.period_start = start
        batch.period_end = trading_date(now)
        return FetchResult(
            batch=batch,
            updated_credentials=updated,
            next_cursor={**account.cursor, CURSOR_KEY: trading_date(now).isoformat()},
        )


def transactions_window_start(
    cursor: Mapping[str, object], since: datetime | None, overlap: timedelta
) -> date | None:
    """First day to ask for: the cursor's date (else `since`) minus the overlap; None = all history."""
    raw = cursor.get(CURSOR_KEY)
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw) - overlap
        except ValueError:
            pass  # an unreadable cursor costs one full re-fetch, never a gap
    elif since is not None:
        return trading_date(since) - overlap
    return None


def _check_account_numbers(expected: str, found: list[str], what: str) -> None:
    """Rows of another account would make the sync service create or touch a sibling account."""
    strangers = sorted({n for n in found if n != expected})
    if strangers:
        raise BrokerDataError(
            f"TastyTrade returned {what} of account(s) {', '.join(strangers)} when asked for {expected}.",
            hint=DATA_HINT,
        )


def _raw_payload(response: RecordedResponse) -> RawPayloadRef:
    return RawPayloadRef(
        kind=f"tastytrade.{response.kind}",
        content=response.content,
        source_name=response.source_name,
        account=response.account_number,
    )


def _factory(settings: Settings) -> TastyTradeAdapter:
    return TastyTradeAdapter(base_url=settings.tastytrade_api_url)


register(MANIFEST, _factory)
