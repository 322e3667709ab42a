"""Ledger reads, per account (`account_id=`) or across all of the caller's accounts:
/api/v1/ledger/{positions,trades,lots,cash,balances,transfers}."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from foliosync.api.deps import OptionalIdQuery, current_user, db_session
from foliosync.ledger.queries import FAMILIES, list_records
from foliosync.models import User

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def _endpoint(family: str) -> Any:
    def read(
        account_id: OptionalIdQuery = None,
        start: date | None = None,
        end: date | None = None,
        kind: str | None = Query(default=None, max_length=32),
        symbol: str | None = Query(default=None, max_length=64),
        page: int = Query(default=1, ge=1, le=1_000_000),
        page_size: int = Query(default=100, ge=1, le=1000),
        user: User = Depends(current_user),
        session: Session = Depends(db_session),
    ) -> PageOut:
        result = list_records(
            session,
            user.id,
            family,
            account_id=account_id,
            start=start,
            end=end,
            kind=kind,
            symbol=symbol,
            page=page,
            page_size=page_size,
        )
        return PageOut(items=result.items, total=result.total, page=result.page, page_size=result.page_size)

    read.__name__ = f"list_{family}"
    read.__doc__ = f"The caller's {family}, newest first; filter by account, date range, kind and symbol."
    return read


for _family in FAMILIES:
    router.add_api_route(
        f"/{_family}", _endpoint(_family), methods=["GET"], response_model=PageOut, name=f"list_{_family}"
    )
