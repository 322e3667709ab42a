"""The OAuth `state` of a Schwab link: signed, bound to one user and account, single use, 10 minutes.

The callback carries no login (Schwab redirects the browser to it), so the state is what
authenticates it. It is `v1.<payload>.<mac>`: the payload names the nonce, user, account, purpose
and expiry; the MAC is HMAC-SHA256 under a key derived from SECRET_KEY. The nonce's row in
`oauth_states` makes it single use: consuming it is an UPDATE ... WHERE used_at IS NULL, so of two
concurrent callbacks with the same state exactly one wins. A tampered state fails the MAC, a
replayed one finds used_at set, a late one finds expires_at passed, and a state presented with
another user's login (web cookie or bearer) is refused as foreign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from foliosync.errors import FoliosyncError
from foliosync.models import BrokerAccount, OAuthState

STATE_LIFETIME = timedelta(minutes=10)
PURPOSE_LINK = "schwab_link"
PURPOSE_LINK_TRADING = "schwab_link_trading"
_VERSION = "v1"
_RESTART_HINT = "Start the link again from Settings (POST /api/v1/aggregator/schwab/link)."


class OAuthStateError(FoliosyncError):
    """The callback's state cannot be honoured; `reason` says why (forged, foreign, replayed, expired)."""

    status_code = 400
    code = "oauth_state_invalid"

    def __init__(self, reason: str, message: str, *, hint: str | None = _RESTART_HINT) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class ForeignStateError(OAuthStateError):
    status_code = 403


@dataclass(frozen=True)
class LinkGrant:
    """What a valid state authorises: finish linking `account_id` for `user_id`."""

    user_id: int
    account_id: int
    trading: bool


def _mac_key(secret_key: str) -> bytes:
    # A key of its own, so a state MAC can never be confused with a JWT or a vault key.
    return hashlib.sha256(b"foliosync/schwab-oauth-state/v1:" + secret_key.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret_key: str, signed_part: str) -> str:
    return _b64(hmac.new(_mac_key(secret_key), signed_part.encode(), hashlib.sha256).digest())


def issue_state(
    session: Session, secret_key: str, *, user_id: int, account_id: int, trading: bool, now: datetime
) -> str:
    nonce = secrets.token_urlsafe(32)
    purpose = PURPOSE_LINK_TRADING if trading else PURPOSE_LINK
    expires_at = now + STATE_LIFETIME
    session.add(
        OAuthState(
            nonce=nonce, user_id=user_id, account_id=account_id, purpose=purpose, expires_at=expires_at
        )
    )
    session.flush()
    payload = {"n": nonce, "u": user_id, "a": account_id, "p": purpose, "e": int(expires_at.timestamp())}
    signed_part = f"{_VERSION}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed_part}.{_sign(secret_key, signed_part)}"


def _forged() -> OAuthStateError:
    return OAuthStateError(
        "forged", "This Schwab link answer was not issued by this server (its state does not verify)."
    )


def _verified_payload(secret_key: str, state: str) -> dict[str, Any]:
    version, _, rest = state.partition(".")
    encoded, _, mac = rest.partition(".")
    if version != _VERSION or not encoded or not mac:
        raise _forged()
    if not hmac.compare_digest(_sign(secret_key, f"{version}.{encoded}"), mac):
        raise _forged()
    try:
        payload = json.loads(_unb64(encoded))
    except (binascii.Error, ValueError):
        raise _forged() from None
    if not isinstance(payload, dict):
        raise _forged()
    return payload


def consume_state(
    session: Session, secret_key: str, state: str, *, now: datetime, acting_user_id: int | None = None
) -> LinkGrant:
    """Check and use up a state. `acting_user_id` is the login that came with the callback, if any."""
    payload = _verified_payload(secret_key, state)
    row = session.scalar(select(OAuthState).where(OAuthState.nonce == str(payload.get("n"))))
    if row is None or (row.user_id, row.account_id, row.purpose) != (
        payload.get("u"),
        payload.get("a"),
        payload.get("p"),
    ):
        raise _forged()
    if acting_user_id is not None and acting_user_id != row.user_id:
        raise ForeignStateError(
            "foreign",
            "This Schwab link was started by another foliosync user, so it cannot finish here.",
            hint="Log in as the user who started it, or start a new link.",
        )
    if row.used_at is not None:
        raise OAuthStateError("replayed", "This Schwab link was already used; a link works once.")
    if now >= row.expires_at:
        raise OAuthStateError("expired", "This Schwab link expired: links are valid for 10 minutes.")
    claimed = session.execute(
        update(OAuthState).where(OAuthState.id == row.id, OAuthState.used_at.is_(None)).values(used_at=now)
    )
    if (claimed.rowcount or 0) != 1:  # type: ignore[attr-defined]
        raise OAuthStateError("replayed", "This Schwab link was already used; a link works once.")
    owner = session.scalar(select(BrokerAccount.user_id).where(BrokerAccount.id == row.account_id))
    if owner != row.user_id:
        raise ForeignStateError("foreign", "The account this Schwab link was started for is not yours.")
    return LinkGrant(
        user_id=row.user_id, account_id=row.account_id, trading=row.purpose == PURPOSE_LINK_TRADING
    )
