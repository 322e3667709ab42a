"""Interactive Brokers adapter: Flex Web Service statements as the system of record.

One Flex token and query id can cover many accounts (a FlexStatement per account), so a fetch
returns a batch with every account of the response; the sync service maps siblings itself.
Adapters never touch the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from foliosync.brokers.base import (
    AccountContext,
    BrokerAuthError,
    BrokerDataError,
    BrokerManifest,
    Capability,
    CredentialField,
    FetchResult,
)
from foliosync.brokers.ibkr.flex_client import RENEW_ACCESS_HINT, FlexClient
from foliosync.brokers.ibkr.flex_format import FORMAT_NAME
from foliosync.brokers.ibkr.flex_values import EASTERN
from foliosync.brokers.ibkr.normalizer import SYNC_REQUIRED_SECTIONS, parse_flex
from foliosync.brokers.registry import register
from foliosync.config import Settings, get_settings
from foliosync.errors import ImportFileError
from foliosync.ledger.records import AccountInfo, Batch, RawPayloadRef

MANIFEST = BrokerManifest(
    broker="ibkr",
    display_name="Interactive Brokers",
    credential_fields=(
        CredentialField(
            "flex_token",
            "Flex Web Service token",
            secret=True,
            help="Client Portal > Settings > Flex Web Service (newer menus: Reporting > Flex Queries > "
            "Flex Web Service Configuration). Choose a long expiry; a new token replaces the old one.",
        ),
        CredentialField(
            "flex_query_id",
            "Flex query id",
            secret=False,
            help="The number shown next to your saved Activity Flex Query (format XML), see docs/mappings/ibkr.md.",
        ),
    ),
    capabilities=frozenset({Capability.SYNC, Capability.FILE_IMPORT, Capability.LOTS, Capability.LIVE}),
    import_formats=(FORMAT_NAME,),
    notes="Flex statements update once a day after the close; TWS / IB Gateway adds live marks.",
)

# Each sync asks for the days since the last success plus a few of overlap (late bookings),
# within IBKR's 365-day limit for one request (ibkr.md §A.1 fd/td override).
OVERLAP_DAYS = 5
MAX_WINDOW_DAYS = 364


class IbkrFlexAdapter:
    manifest = MANIFEST

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        client_factory: Callable[[str], FlexClient] | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self._settings = settings
        self._client_factory = client_factory or (lambda base_url: FlexClient(base_url))
        self._today = today or (lambda: datetime.now(EASTERN).date())

    def _download(
        self, credentials: Mapping[str, str], from_date: date | None = None, to_date: date | None = None
    ) -> tuple[bytes, str]:
        token = (credentials.get("flex_token") or "").strip()
        query_id = (credentials.get("flex_query_id") or "").strip()
        if not token or not query_id:
            raise BrokerAuthError("The IBKR Flex token or query id is missing.", hint=RENEW_ACCESS_HINT)
        settings = self._settings or get_settings()
        with self._client_factory(settings.ibkr_flex_url) as client:
            content = client.fetch_statement(token, query_id, from_date=from_date, to_date=to_date)
        return content, f"flex-query-{query_id}.xml"

    def _parse(self, content: bytes, name: str) -> Batch:
        try:
            batch = parse_flex(content, name, expected_sections=SYNC_REQUIRED_SECTIONS)
        except ImportFileError as exc:
            raise BrokerDataError(
                f"The Flex statement could not be read: {exc.message}", hint=exc.hint
            ) from None
        batch.raw_payloads.append(RawPayloadRef(kind=FORMAT_NAME, content=content, source_name=name))
        return batch

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]:
        content, name = self._download(credentials)
        return self._parse(content, name).accounts

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult:
        from_date = to_date = None
        if since is not None:
            to_date = self._today()
            from_date = max(
                since.astimezone(EASTERN).date() - timedelta(days=OVERLAP_DAYS),
                to_date - timedelta(days=MAX_WINDOW_DAYS),
            )
        content, name = self._download(credentials, from_date, to_date)
        batch = self._parse(content, name)
        if account.external_account_id and account.external_account_id not in batch.account_numbers():
            raise BrokerDataError(
                f"The Flex query returned no statement for account {account.external_account_id}.",
                hint="Select the account in the Flex query's account list (Reporting > Flex Queries).",
            )
        cursor: dict[str, object] | None = (
            {"covered_until": batch.covers_until.isoformat()} if batch.covers_until else None
        )
        return FetchResult(batch=batch, next_cursor=cursor)


def _factory(settings: Settings) -> IbkrFlexAdapter:
    return IbkrFlexAdapter(settings=settings)


register(MANIFEST, _factory)
