"""Rules for a user's broker accounts. Every lookup is scoped by the owner: another user's account
is indistinguishable from a missing one (404)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from foliosync.brokers.base import Capability
from foliosync.brokers.registry import get_broker
from foliosync.errors import NotFoundError, ValidationFailed
from foliosync.ledger.taxonomy import AccountStatus
from foliosync.models import AccountSync, BrokerAccount, RawPayload, User
from foliosync.vault import CredentialVault
from foliosync.vault.store import save_credentials

REAUTH_WARNING_DAYS = 2


def get_owned_account(session: Session, user: User, account_id: int) -> BrokerAccount:
    account = session.scalar(
        select(BrokerAccount).where(BrokerAccount.id == account_id, BrokerAccount.user_id == user.id)
    )
    if account is None:
        raise NotFoundError("No such account.")
    return account


def list_accounts(session: Session, user: User) -> list[BrokerAccount]:
    return list(
        session.scalars(
            select(BrokerAccount).where(BrokerAccount.user_id == user.id).order_by(BrokerAccount.id)
        )
    )


def add_account(
    session: Session,
    vault: CredentialVault,
    user: User,
    *,
    broker: str,
    alias: str | None,
    credentials: Mapping[str, str],
    external_account_id: str | None = None,
    base_currency: str = "USD",
) -> BrokerAccount:
    """Create an account and store its credentials encrypted; they are never echoed back."""
    manifest = get_broker(broker).manifest
    known = {f.name for f in manifest.credential_fields}
    unknown = sorted(set(credentials) - known)
    if unknown:
        raise ValidationFailed(
            f"{manifest.display_name} takes no credential field(s) {', '.join(unknown)}.",
            hint=f"Fields: {', '.join(sorted(known)) or 'none'}.",
        )
    missing = [f.label for f in manifest.credential_fields if f.required and not credentials.get(f.name)]
    # Import-only accounts (Fidelity; Robinhood without its opt-in API) need no credentials, and
    # OAuth-linked ones get theirs from the broker's login page.
    needs_credentials = (
        Capability.SYNC in manifest.capabilities and Capability.OAUTH_LINK not in manifest.capabilities
    )
    if missing and needs_credentials:
        raise ValidationFailed(f"Missing {', '.join(missing)} for {manifest.display_name}.")
    if external_account_id:
        clash = session.scalar(
            select(BrokerAccount.id).where(
                BrokerAccount.user_id == user.id,
                BrokerAccount.broker == broker,
                BrokerAccount.external_account_id == external_account_id,
            )
        )
        if clash is not None:
            raise ValidationFailed("You already have this account.", hint=f"It is account {clash}.")
    account = BrokerAccount(
        user_id=user.id,
        broker=broker,
        external_account_id=external_account_id or None,
        alias=(alias or manifest.display_name).strip()[:128],
        base_currency=base_currency.upper(),
        status=AccountStatus.PENDING.value,
    )
    session.add(account)
    session.flush()
    if credentials:
        save_credentials(session, vault, account.id, {k: v for k, v in credentials.items() if v})
    return account


def delete_account(session: Session, account: BrokerAccount, *, keep_ledger: bool) -> bool:
    """Delete an account. With keep_ledger the account is disabled instead (its credentials are
    erased, its ledger rows stay). Returns True when ledger rows were deleted."""
    from foliosync.models import AccountCredential

    session.execute(delete(AccountCredential).where(AccountCredential.account_id == account.id))
    if keep_ledger:
        account.status = AccountStatus.DISABLED.value
        session.flush()
        return False
    session.execute(delete(RawPayload).where(RawPayload.account_id == account.id))
    session.delete(account)
    session.flush()
    return True


def reauth_warning(account: BrokerAccount, now: datetime | None = None) -> str | None:
    """What the user must do about the account's link, if anything."""
    now = now or datetime.now(UTC)
    if account.needs_reauth:
        return f"Re-link needed: {account.reauth_reason or 'the broker refused the stored credentials'}."
    if account.reauth_due_at is not None:
        remaining = account.reauth_due_at - now
        days = remaining.days + (1 if remaining.seconds else 0)
        if remaining.total_seconds() <= 0:
            return "The link has expired: re-link the account."
        if days <= REAUTH_WARNING_DAYS:
            return f"Re-link due in {days} day{'s' if days != 1 else ''}."
    return None


def sync_history(session: Session, account: BrokerAccount, limit: int = 50) -> list[AccountSync]:
    return list(
        session.scalars(
            select(AccountSync)
            .where(AccountSync.account_id == account.id)
            .order_by(AccountSync.id.desc())
            .limit(limit)
        )
    )


def flag_expired_links(session: Session, now: datetime | None = None) -> int:
    """Mark every account whose link expired (Schwab refresh tokens live 7 days) as needing re-auth,
    so the settings page says so before a sync trips on it. Returns how many were flagged."""
    now = now or datetime.now(UTC)
    expired = session.scalars(
        select(BrokerAccount).where(
            BrokerAccount.needs_reauth.is_(False),
            BrokerAccount.reauth_due_at.is_not(None),
            BrokerAccount.reauth_due_at <= now,
        )
    ).all()
    for account in expired:
        account.needs_reauth = True
        account.status = AccountStatus.NEEDS_REAUTH.value
        account.reauth_reason = "The link expired: re-link the account to keep it in sync."
    session.flush()
    return len(expired)
