"""/api/v1/portfolio: consolidated holdings across the caller's accounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from foliosync.api.deps import (
    OptionalIdQuery,
    app_settings,
    authenticate_request,
    bearer_token,
    oauth2_scheme,
)
from foliosync.config import Settings
from foliosync.ledger.queries import owned_account_ids
from foliosync.portfolio.cache import holdings_cache, ledger_versions
from foliosync.portfolio.holdings import consolidated_holdings

router = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])


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
    dependencies=[Depends(oauth2_scheme)],  # documents the bearer auth in OpenAPI
)
async def positions(
    request: Request,
    account_id: OptionalIdQuery = None,
    settings: Settings = Depends(app_settings),
) -> Response:
    """Consolidated holdings from each account's latest snapshot, served from a cache that every
    ledger write invalidates (foliosync.portfolio.cache).

    The hottest read of the API: authentication, the version check and the cache lookup run in ONE
    thread-pool call instead of one hop per dependency (docs/benchmarks.md)."""
    token = bearer_token(request)
    body = await run_in_threadpool(_holdings_json, request, token, settings, account_id)
    return Response(content=body, media_type="application/json")


def _holdings_json(request: Request, token: str | None, settings: Settings, account_id: int | None) -> bytes:
    session: Session = request.app.state.sessionmaker()
    try:
        user = authenticate_request(request, token, session, settings)
        if account_id is not None:
            owned_account_ids(session, user.id, account_id)  # 404 for an account that is not the caller's

        def render() -> bytes:
            holdings = consolidated_holdings(session, user.id, account_id)
            out = HoldingsOut(
                holdings=[HoldingOut(**h.__dict__) for h in holdings],
                total_market_value_base=sum((h.market_value_base for h in holdings), Decimal(0)),
            )
            return out.model_dump_json().encode()

        key = ("holdings", user.id, account_id, ledger_versions(session, user.id))
        return holdings_cache.get_or_compute(key, render)
    finally:
        session.rollback()
        session.close()
