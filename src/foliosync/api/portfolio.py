"""/api/v1/portfolio: consolidated holdings across the caller's accounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from foliosync.api.coalesce import SingleFlight
from foliosync.api.deps import bearer_token, optional_id_parameter, optional_id_query, read_request_user_id
from foliosync.api.hot_reads import AccessProbe, RenderedBody, cached_json_response
from foliosync.config import Settings
from foliosync.errors import AuthenticationFailed, NotFoundError
from foliosync.portfolio.cache import VersionedCache
from foliosync.portfolio.holdings import consolidated_holdings

router = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])

# Rendered answers keyed on (kind, user, account filter, the user's ledger versions).
holdings_cache: VersionedCache[RenderedBody] = VersionedCache()
_renders: SingleFlight[tuple[object, ...], RenderedBody] = SingleFlight()


class HoldingOut(BaseModel):
    instrument_id: int
    symbol: str
    description: str | None
    asset_category: str
    currency: str
    sector: str | None
    quantity: Decimal
    price: Decimal | None
    price_as_of: datetime | None
    market_value: Decimal
    market_value_base: Decimal
    cost_basis: Decimal | None
    unrealized_pnl: Decimal | None
    cost_basis_base: Decimal | None
    unrealized_pnl_base: Decimal | None
    weight: Decimal
    accounts: int


class HoldingsOut(BaseModel):
    holdings: list[HoldingOut]
    total_market_value_base: Decimal


@router.get(
    "/positions",
    response_model=HoldingsOut,
    # The bearer auth, documented without running the oauth2_scheme dependency on this hot path.
    # FastAPI's parameter machinery is a fifth of this endpoint's time, so the one query parameter
    # is read by hand (same 422 on bad input) and both are documented here.
    openapi_extra={
        "security": [{"OAuth2PasswordBearer": []}],
        "parameters": [optional_id_parameter("account_id", "Only this account (default: all of yours).")],
    },
    responses={304: {"description": "Not modified since the ETag sent in If-None-Match."}},
)
async def positions(request: Request) -> Response:
    """Consolidated holdings from each account's latest snapshot, served from a cache that every
    ledger write invalidates (foliosync.portfolio.cache). Sent gzip-compressed to clients that accept
    it, with an ETag so a client polling for changes gets 304 Not Modified.

    The hottest read of the API: a request that hits the cache costs a token check and one
    database round trip awaited on the event loop (foliosync.api.hot_reads; docs/benchmarks.md)."""
    account_id = optional_id_query(request, "account_id")
    settings: Settings = request.app.state.settings
    user_id = read_request_user_id(request, bearer_token(request), settings)
    probe: AccessProbe = request.app.state.access_probe
    versions = await probe.account_versions(user_id)
    if versions is None:
        raise AuthenticationFailed("This account no longer exists.", hint="Log in again.")
    if account_id is not None and not versions.owns(account_id):
        raise NotFoundError("No such account.")
    key = ("holdings", user_id, account_id, versions.key)
    body = holdings_cache.get(key)
    if body is None:
        # A burst of requests on a cold cache renders once, not once per request.
        body = await _renders.run(key, lambda: _render_and_cache(request, key, user_id, account_id))
    return cached_json_response(request, body)


async def _render_and_cache(
    request: Request, key: tuple[object, ...], user_id: int, account_id: int | None
) -> RenderedBody:
    body = await run_in_threadpool(_render_holdings, request, user_id, account_id)
    holdings_cache.put(key, body)
    return body


def _render_holdings(request: Request, user_id: int, account_id: int | None) -> RenderedBody:
    session: Session = request.app.state.sessionmaker()
    try:
        holdings = consolidated_holdings(session, user_id, account_id)
    finally:
        session.rollback()
        session.close()
    out = HoldingsOut(
        holdings=[HoldingOut(**h.__dict__) for h in holdings],
        total_market_value_base=sum((h.market_value_base for h in holdings), Decimal(0)),
    )
    return RenderedBody.of(out.model_dump_json().encode())
