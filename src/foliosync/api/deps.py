"""FastAPI dependencies: the request's database session, settings and the authenticated user.

The endpoint owns the unit of work and commits explicitly; the session is rolled back and closed
when the request ends. The user comes from a bearer token, or from the web UI's session cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from foliosync.auth.tokens import read_access_token
from foliosync.config import Settings
from foliosync.errors import AuthenticationFailed, PermissionDenied
from foliosync.models import User

SESSION_COOKIE = "foliosync_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


async def app_settings(request: Request) -> Settings:
    # async: FastAPI runs sync dependencies on the thread pool, a needless hop for an attribute read.
    settings: Settings = request.app.state.settings
    return settings


def db_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def current_user(
    request: Request,
    token: str | None = Depends(oauth2_scheme),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> User:
    return authenticate_request(request, token, session, settings)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, as OAuth2PasswordBearer reads it."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value if scheme.lower() == "bearer" and value else None


def read_request_user_id(request: Request, token: str | None, settings: Settings) -> int:
    """The user id in the request's bearer token or session cookie, for safe (read-only) methods:
    whether that user is still active is the caller's check (foliosync.api.hot_reads)."""
    if request.method not in SAFE_METHODS:
        raise PermissionDenied("Read-only helper used for a write.", hint="Use authenticate_request.")
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationFailed("Not logged in.", hint="Log in at POST /api/v1/auth/login.")
    return read_access_token(settings, token)


def authenticate_request(request: Request, token: str | None, session: Session, settings: Settings) -> User:
    """The user behind a bearer token or the session cookie (CSRF-checked for cookie writes)."""
    from_cookie = not token
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthenticationFailed("Not logged in.", hint="Log in at POST /api/v1/auth/login.")
    user = session.get(User, read_access_token(settings, token))
    if user is None or not user.is_active:
        raise AuthenticationFailed("This account no longer exists.", hint="Log in again.")
    if from_cookie and request.method not in SAFE_METHODS:
        # A browser sends the cookie on any site's request: state changes also need the page's
        # CSRF token (bearer tokens are not sent automatically, so they need none).
        from foliosync.web.session import csrf_header_valid

        if not csrf_header_valid(request, settings, user):
            raise PermissionDenied("Missing or stale security token.", hint="Reload the page and try again.")
    return user


# Ids are 32-bit positive integers everywhere (SQLite and PostgreSQL INTEGER); anything else is a 422.
MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def optional_id_query(request: Request, name: str) -> int | None:
    """An OptionalIdQuery read without FastAPI's dependency machinery, for the hottest endpoints:
    the same bounds and the same 422 answer."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    loc = ("query", name)
    try:
        value = int(raw)
    except ValueError:
        msg = "Input should be a valid integer, unable to parse string as an integer"
        raise RequestValidationError(
            [{"type": "int_parsing", "loc": loc, "msg": msg, "input": raw}]
        ) from None
    if value < 1:
        msg, ctx = "Input should be greater than or equal to 1", {"ge": 1}
        raise RequestValidationError(
            [{"type": "greater_than_equal", "loc": loc, "msg": msg, "input": raw, "ctx": ctx}]
        )
    if value > MAX_ID:
        msg, ctx = f"Input should be less than or equal to {MAX_ID}", {"le": MAX_ID}
        raise RequestValidationError(
            [{"type": "less_than_equal", "loc": loc, "msg": msg, "input": raw, "ctx": ctx}]
        )
    return value


def optional_id_parameter(name: str, description: str) -> dict[str, object]:
    """The OpenAPI description of an optional_id_query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "null"}]},
    }
