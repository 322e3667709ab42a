"""The browser session of the web UI: login cookie, CSRF tokens and one-shot flash messages.

Login cookie: `foliosync.api.deps.SESSION_COOKIE` holds the same JWT the API issues, so the pages
and the page scripts' calls to /api/v1 share one login. HttpOnly (scripts cannot read it),
SameSite=Lax (not sent on cross-site POSTs), Secure when the request came over https. It slides:
a page view in the second half of the token's life issues a fresh token.

CSRF (every form that changes state): a random per-browser nonce lives in its own HttpOnly cookie;
the token in each form's hidden field (and in the `X-CSRF-Token` header of script calls) is
HMAC-SHA256(SECRET_KEY, "csrf|nonce|user id"). The server recomputes it and compares in constant
time. Binding to the user id means a token seen while logged in as one user is worthless for
another; binding to the nonce means a token cannot be replayed from another browser; the HMAC
means an attacker who can plant a cookie still cannot mint a matching token. Logging in or out
rotates the nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from foliosync.api.deps import SESSION_COOKIE, app_settings, db_session
from foliosync.auth.tokens import issue_access_token, read_access_token
from foliosync.config import Settings
from foliosync.errors import AuthenticationFailed, FoliosyncError
from foliosync.models import User

CSRF_COOKIE = "foliosync_csrf"
FLASH_COOKIE = "foliosync_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfFailed(FoliosyncError):
    status_code = 403
    code = "csrf_failed"


def _key(settings: Settings) -> bytes:
    return settings.secret_key.get_secret_value().encode()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _pending(request: Request) -> list[tuple[str, str | None, int | None]]:
    """Cookies to set (value) or delete (None) on whatever response this request ends with."""
    if not hasattr(request.state, "cookies"):
        request.state.cookies = []
    cookies: list[tuple[str, str | None, int | None]] = request.state.cookies
    return cookies


def queue_cookie(request: Request, name: str, value: str | None, max_age: int | None = None) -> None:
    _pending(request).append((name, value, max_age))


def apply_cookies(request: Request, response: Response) -> Response:
    for name, value, max_age in _pending(request):
        if value is None:
            response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_secure(request))
        else:
            response.set_cookie(
                name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=_secure(request)
            )
    return response


# --- login ------------------------------------------------------------------------------------


def start_session(request: Request, settings: Settings, user: User) -> None:
    queue_cookie(
        request, SESSION_COOKIE, issue_access_token(settings, user.id), settings.access_token_minutes * 60
    )
    rotate_csrf(request)


def end_session(request: Request) -> None:
    queue_cookie(request, SESSION_COOKIE, None)
    rotate_csrf(request)


def _renew_if_old(request: Request, settings: Settings, token: str, user: User) -> None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        issued, expires = int(claims["iat"]), int(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return
    if time.time() > issued + (expires - issued) / 2:
        queue_cookie(
            request, SESSION_COOKIE, issue_access_token(settings, user.id), settings.access_token_minutes * 60
        )


def optional_user(
    request: Request, session: Session = Depends(db_session), settings: Settings = Depends(app_settings)
) -> User | None:
    """The logged-in user, or None (expired, tampered or missing cookie)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user_id = read_access_token(settings, token)
    except AuthenticationFailed:
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    _renew_if_old(request, settings, token, user)
    request.state.user = user
    return user


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (never `//evil.example` or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def page_user(request: Request, user: User | None = Depends(optional_user)) -> User:
    """The logged-in user; anyone else is sent to the login page and brought back afterwards."""
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(status_code=303, headers={"Location": f"/login?next={quote(target, safe='')}"})
    return user


# --- CSRF -------------------------------------------------------------------------------------


def rotate_csrf(request: Request) -> str:
    nonce = secrets.token_urlsafe(24)
    request.state.csrf_nonce = nonce
    queue_cookie(request, CSRF_COOKIE, nonce)
    return nonce


def _nonce(request: Request) -> str:
    nonce: str | None = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    return nonce or rotate_csrf(request)


def csrf_token(request: Request, settings: Settings, user: User | None) -> str:
    """The token for forms on this page (creating the browser's nonce if it has none)."""
    message = f"csrf|{_nonce(request)}|{user.id if user else 0}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def csrf_header_valid(request: Request, settings: Settings, user: User) -> bool:
    """The X-CSRF-Token header check alone, for API calls that a page's script makes with the
    session cookie (foliosync.api.deps.current_user)."""
    sent = request.headers.get(CSRF_HEADER)
    nonce = request.cookies.get(CSRF_COOKIE)
    if not sent or not nonce:
        return False
    message = f"csrf|{nonce}|{user.id}".encode()
    expected = hmac.new(_key(settings), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sent)


async def check_csrf(request: Request, settings: Settings, user: User | None) -> FormData:
    """Reject a state-changing request whose token does not match; returns the parsed form."""
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    nonce = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not nonce:
        raise CsrfFailed("This form is missing its security token.", hint="Reload the page and try again.")
    message = f"csrf|{nonce}|{user.id if user else 0}".encode()
    expected = hmac.new(_key(settings), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sent):
        raise CsrfFailed("This form has expired.", hint="Reload the page and try again.")
    return form


# --- flash messages -----------------------------------------------------------------------------


def _sign(settings: Settings, payload: bytes) -> str:
    return hmac.new(_key(settings), b"flash|" + payload, hashlib.sha256).hexdigest()[:32]


def flash(request: Request, settings: Settings, kind: str, text: str, hint: str | None = None) -> None:
    """A message shown once on the next page (kind: ok, error, info). Signed, so a crafted cookie
    cannot put words in the UI's mouth."""
    payload = json.dumps({"kind": kind, "text": text[:600], "hint": (hint or "")[:400]}).encode()
    value = base64.urlsafe_b64encode(payload).decode() + "." + _sign(settings, payload)
    queue_cookie(request, FLASH_COOKIE, value, 120)


def take_flash(request: Request, settings: Settings) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    queue_cookie(request, FLASH_COOKIE, None)
    encoded, _, signature = raw.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(_sign(settings, payload), signature):
        return None
    try:
        message: dict[str, Any] = json.loads(payload)
    except ValueError:
        return None
    return message


def redirect(request: Request, url: str) -> Response:
    """303 See Other (the POST-redirect-GET step), carrying any queued cookies."""
    return apply_cookies(request, RedirectResponse(url, status_code=303))
