"""Schwab: the OAuth link (start, callback, status) and, behind FEATURE_SCHWAB_TRADING, orders.

- POST /api/v1/aggregator/schwab/link (login required) -> {authorization_url, state, account_id}
- GET  /api/v1/aggregator/schwab/callback?code=&state= (no login: the signed state names the user)
- GET  /api/v1/aggregator/schwab/accounts/{id}/link -> the link's status and the re-link action
- POST /api/v1/accounts/{id}/orders/preview, POST /api/v1/accounts/{id}/orders,
  DELETE /api/v1/accounts/{id}/orders/{order_id} -> 403 with the reason unless trading is allowed

The callback answers a browser with a small HTML page and an API client with JSON (by Accept).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from foliosync.api.deps import (
    MAX_ID,
    SESSION_COOKIE,
    IdPath,
    app_settings,
    current_user,
    db_session,
    oauth2_scheme,
)
from foliosync.auth.tokens import read_access_token
from foliosync.brokers.base import BrokerError
from foliosync.brokers.schwab.client import SchwabTraderClient
from foliosync.brokers.schwab.linking import complete_link, link_status, owned_account, start_link
from foliosync.brokers.schwab.oauth import HTTP_TIMEOUT, SchwabOAuthClient, SchwabOAuthConfig
from foliosync.brokers.schwab.state import consume_state
from foliosync.brokers.schwab.tokens import StaticTokenSource
from foliosync.brokers.schwab.trading import OrderRequest, trading_for
from foliosync.config import Settings
from foliosync.errors import AuthenticationFailed, FoliosyncError, ValidationFailed
from foliosync.models import User
from foliosync.vault import vault_from_settings

router = APIRouter(tags=["schwab"])


def utcnow() -> datetime:
    return datetime.now(UTC)


class LinkIn(BaseModel):
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    trading: bool = False


class LinkOut(BaseModel):
    authorization_url: str
    state: str
    account_id: int


@router.post("/api/v1/aggregator/schwab/link", response_model=LinkOut)
def link(
    body: LinkIn,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> LinkOut:
    started = start_link(
        session, settings, user_id=user.id, account_id=body.account_id, trading=body.trading, now=utcnow()
    )
    session.commit()
    return LinkOut(
        authorization_url=started.authorization_url, state=started.state, account_id=started.account_id
    )


def _acting_user_id(
    request: Request, token: str | None = Depends(oauth2_scheme), settings: Settings = Depends(app_settings)
) -> int | None:
    """The login that came with the callback, if any (a web session cookie, a bearer token).
    Schwab's redirect usually carries the cookie; an expired one is simply no login."""
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return read_access_token(settings, token)
    except AuthenticationFailed:
        return None


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(title: str, message: str, hint: str | None, status: int, link: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        + (f"<p>{html.escape(hint)}</p>" if hint else "")
        + f'<p><a href="{html.escape(link)}">Back to settings</a></p></html>'
    )
    return HTMLResponse(body, status_code=status)


def _failure(request: Request, status: int, code: str, message: str, hint: str | None) -> Response:
    if _wants_html(request):
        return _page("Schwab account not connected", message, hint, status, "/settings")
    body = {"error": code, "message": message}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)


@router.get("/api/v1/aggregator/schwab/callback", response_model=None)
def callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    acting_user_id: int | None = Depends(_acting_user_id),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    if error:
        if state:
            try:
                consume_state(session, settings.secret_key.get_secret_value(), state, now=utcnow())
                session.commit()  # a declined link is finished: its state cannot be reused
            except FoliosyncError:
                session.rollback()
        if error == "access_denied":
            message = "You declined access at Schwab, so no account was linked."
        else:
            described = f" ({error_description[:160]})" if error_description else ""
            message = f"Schwab ended the link with the error {error[:60]!r}{described}."
        return _failure(
            request,
            400,
            "schwab_link_failed",
            message,
            "Start the link again from Settings when you are ready.",
        )
    if not code or not state:
        return _failure(
            request,
            400,
            "schwab_link_failed",
            "Schwab's answer is missing the code or the state.",
            "Start the link again from Settings.",
        )
    try:
        grant = consume_state(
            session,
            settings.secret_key.get_secret_value(),
            state,
            now=utcnow(),
            acting_user_id=acting_user_id,
        )
        session.commit()  # used up even if what follows fails: a state works once
        vault = vault_from_settings(settings)
        with httpx.Client(timeout=HTTP_TIMEOUT) as http:
            tokens = SchwabOAuthClient(SchwabOAuthConfig.from_settings(settings), http).exchange_code(code)
            numbers = SchwabTraderClient(
                http, settings.schwab_api_url, StaticTokenSource(tokens)
            ).account_numbers()
        result = complete_link(session, vault, grant, tokens, numbers, now=utcnow())
        session.commit()
    except FoliosyncError as exc:
        session.rollback()
        status = 400 if isinstance(exc, BrokerError) and not exc.transient else exc.status_code
        return _failure(request, status, exc.code, exc.message, exc.hint)
    settings_url = f"/settings?linked={result.account_id}"
    if _wants_html(request):
        return _page(
            "Schwab account connected",
            f"Schwab account connected: {len(result.account_ids)} account(s) linked. "
            "foliosync will keep them in sync; Schwab asks you to re-link every 7 days.",
            None,
            200,
            settings_url,
        )
    return JSONResponse(
        {
            "status": "connected",
            "account_id": result.account_id,
            "account_ids": result.account_ids,
            "settings_url": settings_url,
        }
    )


@router.get("/api/v1/aggregator/schwab/accounts/{account_id}/link")
def get_link_status(
    account_id: IdPath, user: User = Depends(current_user), session: Session = Depends(db_session)
) -> dict[str, Any]:
    account = owned_account(session, user.id, account_id)
    if account.broker != "schwab":
        raise ValidationFailed(f"Account {account.id} is not a Schwab account.")
    return link_status(account, utcnow())


class OrderPlacedOut(BaseModel):
    order_id: str
    status: str = "accepted"


@router.post("/api/v1/accounts/{account_id}/orders/preview")
def preview_order(
    account_id: IdPath,
    body: OrderRequest,
    request: Request,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> dict[str, Any]:
    account = owned_account(session, user.id, account_id)
    with trading_for(settings, request.app.state.engine, account) as trading:
        return {"preview": trading.preview(account, body)}


@router.post("/api/v1/accounts/{account_id}/orders", status_code=201, response_model=OrderPlacedOut)
def place_order(
    account_id: IdPath,
    body: OrderRequest,
    request: Request,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> OrderPlacedOut:
    account = owned_account(session, user.id, account_id)
    with trading_for(settings, request.app.state.engine, account) as trading:
        return OrderPlacedOut(order_id=trading.place(account, body))


@router.delete("/api/v1/accounts/{account_id}/orders/{order_id}")
def cancel_order(
    account_id: IdPath,
    order_id: Annotated[str, PathParam(min_length=1, max_length=20)],
    request: Request,
    user: User = Depends(current_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> dict[str, str]:
    account = owned_account(session, user.id, account_id)
    with trading_for(settings, request.app.state.engine, account) as trading:
        trading.cancel(account, order_id)
    return {"order_id": order_id, "status": "cancel_requested"}
