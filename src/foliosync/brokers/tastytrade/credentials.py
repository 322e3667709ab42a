"""TastyTrade OAuth credentials as stored (encrypted) per account, and the re-connect hint.

What the vault holds for a TastyTrade account (shared brokers.md §A.2): the OAuth application's
client secret and a personal-grant refresh token that does not expire, plus the last access token
(15 minutes) and its expiry, so a sync within those minutes does not mint a new one. None of these
ever appears in a repr, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from foliosync.brokers.base import BrokerAuthError

# Where the user gets new credentials (brokers.md §A.2: "Create Grant" gives a refresh token).
OAUTH_APPS_PATH = "my.tastytrade.com → Manage → My Profile → API → OAuth Applications"
RECONNECT_HINT = (
    f"Reconnect TastyTrade: create a new refresh token under {OAUTH_APPS_PATH} → your application → "
    "Create Grant, then connect again with it."
)
CLIENT_SECRET_HINT = (
    f"Copy the client secret of your OAuth application again from {OAUTH_APPS_PATH} and connect again "
    "(sandbox and production secrets are different)."
)

CLIENT_SECRET = "client_secret"  # noqa: S105 (a field name, not a secret)
REFRESH_TOKEN = "refresh_token"  # noqa: S105 (a field name, not a secret)
ACCESS_TOKEN = "access_token"  # noqa: S105 (a field name, not a secret)
ACCESS_TOKEN_EXPIRES_AT = "access_token_expires_at"  # noqa: S105 (a field name, not a secret)


@dataclass(frozen=True)
class OAuthCredentials:
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_token_expires_at: datetime | None = None

    @classmethod
    def from_mapping(cls, credentials: Mapping[str, str]) -> OAuthCredentials:
        """Read the vault's dict; a missing secret means the account was never connected properly."""
        secret = (credentials.get(CLIENT_SECRET) or "").strip()
        refresh = (credentials.get(REFRESH_TOKEN) or "").strip()
        if not secret or not refresh:
            missing = [n for n, v in ((CLIENT_SECRET, secret), (REFRESH_TOKEN, refresh)) if not v]
            raise BrokerAuthError(
                f"The stored TastyTrade credentials lack {' and '.join(missing)}.", hint=RECONNECT_HINT
            )
        access = credentials.get(ACCESS_TOKEN) or None
        expires_at = _parse_expiry(credentials.get(ACCESS_TOKEN_EXPIRES_AT))
        if access is None or expires_at is None:
            access, expires_at = None, None
        return cls(secret, refresh, access, expires_at)

    def to_mapping(self) -> dict[str, str]:
        """The dict the vault encrypts. The cached access token goes along so the next sync reuses it."""
        data = {CLIENT_SECRET: self.client_secret, REFRESH_TOKEN: self.refresh_token}
        if self.access_token and self.access_token_expires_at:
            data[ACCESS_TOKEN] = self.access_token
            data[ACCESS_TOKEN_EXPIRES_AT] = self.access_token_expires_at.isoformat()
        return data

    def with_access_token(self, token: str, expires_at: datetime) -> OAuthCredentials:
        return replace(self, access_token=token, access_token_expires_at=expires_at)

    def without_access_token(self) -> OAuthCredentials:
        return replace(self, access_token=None, access_token_expires_at=None)


def _parse_expiry(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None  # an unreadable cache entry only costs one token refresh
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
