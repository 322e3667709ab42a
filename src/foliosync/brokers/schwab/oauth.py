"""Schwab OAuth 2 authorization-code flow: the authorization URL, the code exchange and refresh.

Wire format (shared brokers.md §B.1, verified on the wire against schwab-py):
- authorize: GET `<auth_url>/authorize?response_type=code&client_id=&redirect_uri=&state=`;
- token: POST `<auth_url>/token`, form-encoded, client credentials in HTTP Basic
  (`base64(app_key:app_secret)`), body `grant_type=authorization_code&code=&redirect_uri=`, or
  `grant_type=refresh_token&refresh_token=`;
- answer: `access_token` (30 min, `expires_in` 1800), `refresh_token` (7 days, a hard limit that
  refreshing does not extend), `token_type`, `scope`, `id_token`.

Our own small client rather than schwab-py (hard-coded base URL) or Authlib (its transport switched
from httpx to httpx2 within a year): see docs/decisions/0003-schwab-client.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from foliosync.brokers.base import BrokerAuthError, BrokerDataError, BrokerRateLimited, BrokerUnavailable
from foliosync.config import Settings
from foliosync.errors import FoliosyncError

ACCESS_TOKEN_LIFETIME = timedelta(seconds=1800)
REFRESH_TOKEN_LIFETIME = timedelta(days=7)
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

RELINK_HINT = "Re-link the account: POST /api/v1/aggregator/schwab/link with its account_id, or use Settings."


def utcnow() -> datetime:
    return datetime.now(UTC)


class SchwabNotConfigured(FoliosyncError):
    """The operator has not registered a Schwab app (client id, secret, callback URL)."""

    status_code = 503
    code = "schwab_not_configured"


@dataclass(frozen=True)
class SchwabOAuthConfig:
    client_id: str
    client_secret: SecretStr | None = field(repr=False)
    redirect_uri: str
    auth_url: str

    @classmethod
    def from_settings(cls, settings: Settings, *, need_secret: bool = True) -> SchwabOAuthConfig:
        """The app's registration. Building the authorization URL needs only the client id and the
        callback; talking to the token endpoint needs the secret as well."""
        required: list[tuple[str, object]] = [("SCHWAB_CLIENT_ID", settings.schwab_client_id)]
        if need_secret:
            required.append(("SCHWAB_CLIENT_SECRET", settings.schwab_client_secret))
        required.append(("SCHWAB_REDIRECT_URI", settings.schwab_redirect_uri))
        missing = [name for name, value in required if not value]
        if missing:
            raise SchwabNotConfigured(
                "Linking Schwab accounts is not set up on this server.",
                hint=f"An administrator must set {', '.join(missing)} (from the app at developer.schwab.com).",
            )
        assert settings.schwab_client_id and settings.schwab_redirect_uri
        return cls(
            client_id=settings.schwab_client_id,
            client_secret=settings.schwab_client_secret,
            redirect_uri=settings.schwab_redirect_uri,
            auth_url=settings.schwab_auth_url.rstrip("/"),
        )

    @property
    def authorize_endpoint(self) -> str:
        return f"{self.auth_url}/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.auth_url}/token"


def authorization_url(config: SchwabOAuthConfig, state: str) -> str:
    """Where to send the user's browser; Schwab answers at `redirect_uri?code=&session=&state=`."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "state": state,
        }
    )
    return f"{config.authorize_endpoint}?{query}"


@dataclass(frozen=True)
class TokenSet:
    """One Schwab login's tokens. `refresh_issued_at` is when the user last consented: the
    refresh token dies 7 days later whatever we do (§B.1), so it is never moved by a refresh."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_issued_at: datetime
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    scope: str = "api"

    @property
    def refresh_expires_at(self) -> datetime:
        return self.refresh_issued_at + REFRESH_TOKEN_LIFETIME

    def access_expired(self, now: datetime, leeway: timedelta = timedelta(seconds=60)) -> bool:
        return now + leeway >= self.access_expires_at

    def refresh_expired(self, now: datetime) -> bool:
        return now >= self.refresh_expires_at

    def to_credentials(self) -> dict[str, str]:
        """The vault form: a flat dict of strings (foliosync.vault encrypts it whole)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_issued_at": self.refresh_issued_at.isoformat(),
            "token_type": self.token_type,
            "scope": self.scope,
        }

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, str]) -> TokenSet:
        try:
            return cls(
                access_token=credentials["access_token"],
                refresh_token=credentials["refresh_token"],
                access_expires_at=_aware(datetime.fromisoformat(credentials["access_expires_at"])),
                refresh_issued_at=_aware(datetime.fromisoformat(credentials["refresh_issued_at"])),
                token_type=credentials.get("token_type", "Bearer"),
                scope=credentials.get("scope", "api"),
            )
        except (KeyError, ValueError):
            raise BrokerAuthError(
                "The stored Schwab link is incomplete, so it cannot be used.", hint=RELINK_HINT
            ) from None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SchwabOAuthClient:
    """The token endpoint. No retries here: a code lives ~30 s, and a failed refresh surfaces as a
    transient BrokerError that the sync service retries as a whole."""

    def __init__(
        self,
        config: SchwabOAuthConfig,
        http: httpx.Client | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        # Without an injected client each call opens (and closes) its own: a refresh is rare.
        self._config = config
        self._http = http
        self._clock = clock

    @property
    def config(self) -> SchwabOAuthConfig:
        return self._config

    def exchange_code(self, code: str) -> TokenSet:
        now = self._clock()
        body = self._post(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self._config.redirect_uri},
            refused=lambda error: BrokerAuthError(
                f"Schwab did not accept the authorization code ({error}).",
                hint="Codes are valid for about 30 seconds and only once: start the link again.",
            ),
        )
        refresh = body.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise BrokerDataError("Schwab's token answer has no refresh token.")
        return self._token_set(body, now, refresh_token=refresh, refresh_issued_at=now)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        now = self._clock()
        body = self._post(
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            refused=lambda error: BrokerAuthError(
                f"Schwab no longer accepts this account's link ({error}); refresh tokens last 7 days.",
                hint=RELINK_HINT,
            ),
        )
        # Schwab keeps the refresh token; should it ever rotate it, keep the new one, but the
        # 7-day clock still runs from the user's consent (brokers.md §B.1: not extended).
        refresh = body.get("refresh_token")
        return self._token_set(
            body,
            now,
            refresh_token=refresh if isinstance(refresh, str) and refresh else tokens.refresh_token,
            refresh_issued_at=tokens.refresh_issued_at,
        )

    def _token_set(
        self, body: Mapping[str, Any], now: datetime, *, refresh_token: str, refresh_issued_at: datetime
    ) -> TokenSet:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise BrokerDataError("Schwab's token answer has no access token.")
        try:
            lifetime = timedelta(seconds=int(body.get("expires_in", ACCESS_TOKEN_LIFETIME.total_seconds())))
        except (TypeError, ValueError):
            raise BrokerDataError("Schwab's token answer has an unreadable expires_in.") from None
        return TokenSet(
            access_token=access,
            refresh_token=refresh_token,
            access_expires_at=now + lifetime,
            refresh_issued_at=refresh_issued_at,
            token_type=str(body.get("token_type") or "Bearer"),
            scope=str(body.get("scope") or "api"),
        )

    def _post(self, form: Mapping[str, str], *, refused: Callable[[str], BrokerAuthError]) -> dict[str, Any]:
        try:
            if self._http is not None:
                response = self._send(self._http, form)
            else:
                with httpx.Client(timeout=HTTP_TIMEOUT) as http:
                    response = self._send(http, form)
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(
                f"Schwab's login service could not be reached ({type(exc).__name__}).",
                hint="Try again in a few minutes.",
            ) from None
        if response.status_code == 429:
            raise BrokerRateLimited("Schwab's login service is rate limiting us.", hint="Try again shortly.")
        if response.status_code >= 500:
            raise BrokerUnavailable(
                f"Schwab's login service failed (HTTP {response.status_code}).", hint="Try again later."
            )
        body = _json_object(response)
        if response.status_code >= 400:
            # 400 invalid_grant / invalid_client / refresh_token_authentication_error /
            # unsupported_token_type: the grant is dead (§B.1). Schwab's texts hold no secrets.
            error = str(body.get("error") or f"HTTP {response.status_code}")[:80]
            described = str(body.get("error_description") or "")[:160]
            raise refused(f"{error}: {described}" if described else error)
        return body

    def _send(self, http: httpx.Client, form: Mapping[str, str]) -> httpx.Response:
        secret = self._config.client_secret
        if secret is None:
            raise SchwabNotConfigured(
                "Schwab's token endpoint needs the app secret, which is not set on this server.",
                hint="An administrator must set SCHWAB_CLIENT_SECRET (from the app at developer.schwab.com).",
            )
        return http.post(
            self._config.token_endpoint,
            data=dict(form),
            auth=(self._config.client_id, secret.get_secret_value()),
            headers={"Accept": "application/json"},
        )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        if response.status_code >= 400:
            return {}
        raise BrokerDataError("Schwab's token answer is not JSON.") from None
    if not isinstance(body, dict):
        raise BrokerDataError("Schwab's token answer is not a JSON object.")
    return body
