"""The broker adapter contract.

`client`: transport only (injected HTTP client and base URL, auth refresh, pagination, retries).
`normalizer`: pure functions from raw payloads to canonical records.
`adapter`: `discover_accounts()` and `fetch()` returning a `Batch`. Adapters never touch the DB;
the sync service loads credentials, runs the adapter, writes the batch in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from foliosync.config import Settings
from foliosync.errors import FoliosyncError
from foliosync.ledger.records import AccountInfo, Batch


class BrokerError(FoliosyncError):
    """A broker call failed. `transient` errors are retried with backoff; the rest are not."""

    status_code = 502
    code = "broker_error"
    transient = False


class BrokerAuthError(BrokerError):
    """Credentials were refused or expired: do not retry, mark the account as needing re-auth."""

    code = "broker_auth"


class BrokerRateLimited(BrokerError):
    code = "broker_rate_limited"
    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class BrokerUnavailable(BrokerError):
    code = "broker_unavailable"
    transient = True


class BrokerDataError(BrokerError):
    """The payload does not match what we know: do not retry; the raw payload is kept."""

    code = "broker_data"


class Capability(StrEnum):
    SYNC = "sync"  # fetch on demand and on a schedule
    FILE_IMPORT = "file_import"
    OAUTH_LINK = "oauth_link"  # user is sent to the broker's login page
    CONNECT_JOB = "connect_job"  # credentials checked and accounts discovered in a background job
    LIVE = "live"
    TRADING = "trading"
    LOTS = "lots"  # the broker reports tax lots itself


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool = True
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class BrokerManifest:
    broker: str
    display_name: str
    credential_fields: tuple[CredentialField, ...] = ()
    capabilities: frozenset[Capability] = frozenset()
    import_formats: tuple[str, ...] = ()
    notes: str = ""


@dataclass
class AccountContext:
    """What an adapter may know about the account it syncs (no secrets here)."""

    account_id: int
    external_account_id: str | None
    cursor: dict[str, object] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class FetchResult:
    batch: Batch
    # Credentials that changed during the fetch (a rotated refresh token, a new access token).
    updated_credentials: dict[str, str] | None = None
    # The cursor to store once the batch has committed.
    next_cursor: dict[str, object] | None = None


class BrokerAdapter(Protocol):
    manifest: BrokerManifest

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]: ...

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult: ...


# Built per sync with the running service's settings, so base URLs and feature flags come from the
# same configuration as the rest of the process (and tests can point them at loopback fakes).
AdapterFactory = Callable[[Settings], BrokerAdapter]
