"""Short-lived JWT bearer tokens (HS256, signed with SECRET_KEY)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import jwt

from foliosync.config import Settings
from foliosync.errors import AuthenticationFailed

ALGORITHM = "HS256"


def issue_access_token(settings: Settings, user_id: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=settings.access_token_minutes)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def read_access_token(settings: Settings, token: str) -> int:
    """The user id in a valid token; AuthenticationFailed for anything else."""
    user_id, expires = _verified_claims(settings.secret_key.get_secret_value(), token)
    if expires <= datetime.now(UTC).timestamp():
        raise AuthenticationFailed("Your session expired.", hint="Log in again.")
    return user_id


# Verifying a signature (and PyJWT's key-format checks) costs more than serving a cached answer, and a
# client sends the same token for 30 minutes: the verified claims are kept. The cache is keyed on the
# secret too, so a new SECRET_KEY verifies afresh; expiry is checked on every call above.
@functools.lru_cache(maxsize=4096)
def _verified_claims(secret: str, token: str) -> tuple[int, float]:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("Your session expired.", hint="Log in again.") from None
    except jwt.PyJWTError:
        raise AuthenticationFailed("Invalid credentials token.", hint="Log in again.") from None
    if claims.get("typ") != "access":
        raise AuthenticationFailed("Not an access token.", hint="Log in again.")
    try:
        return int(claims["sub"]), float(claims["exp"])
    except (TypeError, ValueError):
        raise AuthenticationFailed("Invalid credentials token.", hint="Log in again.") from None
