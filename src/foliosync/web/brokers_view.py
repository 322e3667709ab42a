"""What the settings page shows about brokers and accounts, computed from the registries and the
sync history (no HTML here).

The "add an account" forms are generated from each broker's manifest (`credential_fields`,
capabilities, import formats), so a new adapter gets its form without touching the web package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from foliosync.accounts.service import reauth_warning, sync_history
from foliosync.brokers.base import Capability, CredentialField
from foliosync.brokers.registry import RegisteredBroker, load_all
from foliosync.demo import is_demo
from foliosync.importers import FileFormat, load_formats
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus
from foliosync.models import AccountSync, BrokerAccount
from foliosync.vault.store import has_credentials

# Names for brokers whose adapter is not installed (an account can outlive its plugin).
FALLBACK_NAMES = {
    "ibkr": "Interactive Brokers",
    "tastytrade": "TastyTrade",
    "schwab": "Charles Schwab",
    "fidelity": "Fidelity",
    "robinhood": "Robinhood",
}
HISTORY_LIMIT = 10


def broker_name(broker: str) -> str:
    registered = load_all().get(broker)
    if registered is not None:
        return registered.manifest.display_name
    return FALLBACK_NAMES.get(broker, broker)


@dataclass(frozen=True)
class BrokerCard:
    """One "add an account" card."""

    broker: str
    display_name: str
    notes: str
    fields: tuple[CredentialField, ...]
    oauth_link: bool  # a Link button that opens the broker's login page
    connect_job: bool  # credentials checked by a background job the page follows
    can_sync: bool
    formats: list[FileFormat]


@dataclass
class AccountCard:
    account: BrokerAccount
    display_name: str
    demo: bool
    can_sync: bool
    can_link: bool
    formats: list[FileFormat]
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None  # why the latest sync was PARTIAL or FAILED
    latest: AccountSync | None = None
    history: list[AccountSync] = field(default_factory=list)


def formats_by_broker() -> dict[str, list[FileFormat]]:
    grouped: dict[str, list[FileFormat]] = {}
    for fmt in sorted(load_formats().values(), key=lambda f: f.name):
        grouped.setdefault(fmt.broker.value, []).append(fmt)
    return grouped


def broker_cards() -> list[BrokerCard]:
    formats = formats_by_broker()
    cards = []
    for name, registered in sorted(load_all().items(), key=lambda kv: kv[1].manifest.display_name):
        manifest = registered.manifest
        can_sync = syncs(registered)
        cards.append(
            BrokerCard(
                broker=name,
                display_name=manifest.display_name,
                notes=manifest.notes,
                # Credentials are only asked for where they are used: a sync.
                fields=manifest.credential_fields if can_sync else (),
                oauth_link=Capability.OAUTH_LINK in manifest.capabilities,
                connect_job=Capability.CONNECT_JOB in manifest.capabilities,
                can_sync=can_sync,
                formats=formats.get(name, []),
            )
        )
    return cards


def syncs(registered: RegisteredBroker | None) -> bool:
    return (
        registered is not None
        and registered.factory is not None
        and Capability.SYNC in registered.manifest.capabilities
    )


def sync_problem(sync: AccountSync | None) -> str | None:
    """The reason the latest sync did not fully succeed, in the user's words."""
    if sync is None or sync.status not in (SyncStatus.PARTIAL.value, SyncStatus.FAILED.value):
        return None
    if sync.status == SyncStatus.FAILED.value:
        return f"Last sync failed: {sync.error_message or sync.error_class or 'no reason recorded'}"
    differences = (sync.reconciliation or {}).get("differences") or []
    reasons = [w for w in sync.warnings or [] if not (differences and w.startswith("reconciliation found"))]
    if differences:
        shown = ", ".join(
            f"{d.get('kind')} {d.get('subject')} by {d.get('difference')}" for d in differences[:3]
        )
        more = f" and {len(differences) - 3} more" if len(differences) > 3 else ""
        reasons.append(f"the ledger differs from the broker's own report ({shown}{more})")
    return f"Last sync was partial: {'; '.join(reasons) or 'no reason recorded'}"


def account_cards(
    session: Session, accounts: list[BrokerAccount], now: datetime | None = None
) -> list[AccountCard]:
    brokers = load_all()
    formats = formats_by_broker()
    cards = []
    for account in accounts:
        registered = brokers.get(account.broker)
        demo = is_demo(account)
        history = sync_history(session, account, limit=HISTORY_LIMIT)
        latest = history[0] if history else None
        disabled = account.status == AccountStatus.DISABLED.value
        card = AccountCard(
            account=account,
            display_name=broker_name(account.broker),
            demo=demo,
            can_sync=(
                not demo and not disabled and syncs(registered) and has_credentials(session, account.id)
            ),
            can_link=(
                not demo
                and registered is not None
                and Capability.OAUTH_LINK in registered.manifest.capabilities
            ),
            formats=[] if demo else formats.get(account.broker, []),
            latest=latest,
            history=history,
        )
        warning = reauth_warning(account, now)
        if warning:
            card.warnings.append(warning)
        card.problem = sync_problem(latest)
        cards.append(card)
    return cards
