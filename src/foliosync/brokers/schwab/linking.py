"""The Schwab link flow's rules: start a link, finish it after Schwab's redirect.

Start: pick (or create, PENDING) the user's Schwab account, issue a signed single-use state
(state.py) and build the authorization URL. Finish: the state names the user and account; the
code is exchanged for tokens, the login's account numbers and hash values are discovered
(`GET /accounts/accountNumbers`, brokers.md §B.2), the first goes to the account that started the
link and every further account of the same login becomes (or renews) another BrokerAccount with
its own encrypted copy of the tokens. Each is CONNECTED with `reauth_due_at` = consent + 7 days.

The endpoint owns the transaction; these functions only flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.brokers.base import BrokerDataError
from foliosync.brokers.schwab.client import AccountNumber
from foliosync.brokers.schwab.oauth import SchwabOAuthConfig, TokenSet, authorization_url
from foliosync.brokers.schwab.state import LinkGrant, issue_state
from foliosync.brokers.schwab.tokens import reauth_warning, relink_action
from foliosync.config import Settings
from foliosync.errors import ConflictError, NotFoundError, ValidationFailed
from foliosync.ledger.taxonomy import AccountStatus
from foliosync.models import BrokerAccount
from foliosync.vault import CredentialVault
from foliosync.vault.store import save_credentials

BROKER = "schwab"


@dataclass(frozen=True)
class LinkStart:
    authorization_url: str
    state: str
    account_id: int


@dataclass
class LinkResult:
    account_id: int  # the account that started the link (or the first of the login)
    account_ids: list[int] = field(default_factory=list)


def owned_account(session: Session, user_id: int, account_id: int) -> BrokerAccount:
    """The user's account; another user's is indistinguishable from a missing one (404)."""
    account = session.scalar(
        select(BrokerAccount).where(BrokerAccount.id == account_id, BrokerAccount.user_id == user_id)
    )
    if account is None:
        raise NotFoundError("No such account.")
    return account


def start_link(
    session: Session,
    settings: Settings,
    *,
    user_id: int,
    account_id: int | None,
    trading: bool,
    now: datetime,
) -> LinkStart:
    config = SchwabOAuthConfig.from_settings(settings, need_secret=False)
    if account_id is None:
        account = BrokerAccount(
            user_id=user_id,
            broker=BROKER,
            alias="Charles Schwab",
            status=AccountStatus.PENDING.value,
            details={"created_by": "schwab-link"},
        )
        session.add(account)
        session.flush()
    else:
        account = owned_account(session, user_id, account_id)
        if account.broker != BROKER:
            raise ValidationFailed(
                f"Account {account.id} is a {account.broker} account; only Schwab accounts link through Schwab."
            )
    state = issue_state(
        session,
        settings.secret_key.get_secret_value(),
        user_id=user_id,
        account_id=account.id,
        trading=trading,
        now=now,
    )
    return LinkStart(authorization_url(config, state), state, account.id)


def complete_link(
    session: Session,
    vault: CredentialVault,
    grant: LinkGrant,
    tokens: TokenSet,
    numbers: list[AccountNumber],
    *,
    now: datetime,
) -> LinkResult:
    if not numbers:
        raise BrokerDataError(
            "Schwab's login has no account that this app may read.",
            hint="Check the accounts you selected on Schwab's consent page, then link again.",
        )
    account = owned_account(session, grant.user_id, grant.account_id)
    known = {
        a.external_account_id: a
        for a in session.scalars(
            select(BrokerAccount).where(
                BrokerAccount.user_id == grant.user_id,
                BrokerAccount.broker == BROKER,
                BrokerAccount.external_account_id.in_([n.number for n in numbers]),
            )
        )
    }
    target = _target_number(account, numbers, known)
    result = LinkResult(account_id=account.id)
    if target is None:
        # Every account of this login is linked already: renew those and drop the empty placeholder.
        if (account.details or {}).get("created_by") == "schwab-link" and account.external_account_id is None:
            session.delete(account)
            session.flush()
        result.account_id = known[numbers[0].number].id
    for entry in numbers:
        if entry.number == target:
            linked, trading = account, grant.trading
        elif entry.number in known:
            linked = known[entry.number]
            trading = (
                bool((linked.details or {}).get("trading"))
                if linked.id != grant.account_id
                else grant.trading
            )
        else:
            linked = BrokerAccount(
                user_id=grant.user_id,
                broker=BROKER,
                alias=f"Charles Schwab …{entry.number[-4:]}",
                base_currency="USD",
                status=AccountStatus.PENDING.value,
            )
            session.add(linked)
            trading = grant.trading
        _connect(linked, entry, tokens, trading=trading, now=now)
        session.flush()
        save_credentials(session, vault, linked.id, tokens.to_credentials())
        result.account_ids.append(linked.id)
    return result


def _target_number(
    account: BrokerAccount, numbers: list[AccountNumber], known: dict[str | None, BrokerAccount]
) -> str | None:
    if account.external_account_id is not None:
        if account.external_account_id not in {n.number for n in numbers}:
            raise ConflictError(
                f"The Schwab login you used does not hold account …{account.external_account_id[-4:]}.",
                hint="Link again and log in at Schwab with the login that holds this account.",
            )
        return account.external_account_id
    free = [n.number for n in numbers if n.number not in known]
    return free[0] if free else None


def _connect(
    account: BrokerAccount, entry: AccountNumber, tokens: TokenSet, *, trading: bool, now: datetime
) -> None:
    account.external_account_id = entry.number
    account.status = AccountStatus.CONNECTED.value
    account.needs_reauth = False
    account.reauth_reason = None
    account.reauth_due_at = tokens.refresh_expires_at
    details = {k: v for k, v in (account.details or {}).items() if k != "relink"}
    details.update({"account_hash": entry.hash_value, "trading": trading, "linked_at": now.isoformat()})
    account.details = details


def link_status(account: BrokerAccount, now: datetime) -> dict[str, object]:
    """What the UI shows beside a Schwab account: state of the link and how to renew it."""
    return {
        "account_id": account.id,
        "status": account.status,
        "needs_reauth": account.needs_reauth,
        "reauth_reason": account.reauth_reason,
        "reauth_due_at": account.reauth_due_at.isoformat() if account.reauth_due_at else None,
        "warning": reauth_warning(account, now),
        "trading": bool((account.details or {}).get("trading")),
        "link_action": relink_action(account.id),
    }
