"""Robinhood in the broker registry.

File import (the Account activity CSV) always works. The API sync is unofficial (robin-stocks,
a reverse-engineered private API; Robinhood's terms restrict automated access and logins can be
challenged), so SYNC is offered only when the operator sets FEATURE_ROBINHOOD_API=true.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from foliosync.brokers.base import AccountContext, BrokerManifest, Capability, CredentialField, FetchResult
from foliosync.brokers.registry import register
from foliosync.brokers.robinhood import api_sync
from foliosync.config import Settings, get_settings
from foliosync.ledger.records import AccountInfo

CREDENTIAL_FIELDS = (
    CredentialField("username", "Robinhood username (email)"),
    CredentialField("password", "Robinhood password"),
    CredentialField(
        "mfa",
        "Current MFA code",
        required=False,
        help="The 6-digit code from your authenticator app, if your login uses one.",
    ),
)
NOTES = (
    "Unofficial API (robin-stocks): read-only, user-initiated, may break or trigger a login challenge "
    "at any time. The Account activity CSV import is the supported path."
)


def build_manifest(settings: Settings) -> BrokerManifest:
    capabilities = {Capability.FILE_IMPORT}
    if settings.feature_robinhood_api:
        capabilities.add(Capability.SYNC)
    return BrokerManifest(
        broker="robinhood",
        display_name="Robinhood",
        credential_fields=CREDENTIAL_FIELDS,
        capabilities=frozenset(capabilities),
        import_formats=("robinhood",),
        notes=NOTES,
    )


class RobinhoodAdapter:
    """Read-only sync; every call runs robin-stocks in its own process (see api_sync)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.manifest = build_manifest(self.settings)

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]:
        api_sync.ensure_available(self.settings)
        return api_sync.to_batch(api_sync.fetch_isolated(credentials)).accounts

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult:
        del account, since  # robin-stocks returns the whole history; upserts make it idempotent
        api_sync.ensure_available(self.settings)
        return FetchResult(batch=api_sync.to_batch(api_sync.fetch_isolated(credentials)))


MANIFEST = build_manifest(get_settings())
register(MANIFEST, RobinhoodAdapter if MANIFEST.capabilities & {Capability.SYNC} else None)
