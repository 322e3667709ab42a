"""Read queries over the ledger, always scoped to one user's accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from foliosync.errors import NotFoundError, ValidationFailed
from foliosync.models import (
    Balance,
    BrokerAccount,
    CashTransaction,
    Instrument,
    Position,
    TaxLot,
    Trade,
    Transfer,
)


@dataclass(frozen=True)
class Family:
    model: Any
    date_column: str
    kind_column: str | None


FAMILIES: dict[str, Family] = {
    "trades": Family(Trade, "trade_date", "kind"),
    "cash": Family(CashTransaction, "posted_date", "kind"),
    "lots": Family(TaxLot, "open_date", "lot_status"),
    "transfers": Family(Transfer, "transfer_date", "direction"),
    "balances": Family(Balance, "as_of_date", None),
    "positions": Family(Position, "as_of_date", None),
}


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def owned_account_ids(session: Session, user_id: int, account_id: int | None) -> list[int]:
    query = select(BrokerAccount.id).where(BrokerAccount.user_id == user_id)
    if account_id is not None:
        query = query.where(BrokerAccount.id == account_id)
    ids = list(session.scalars(query))
    if account_id is not None and not ids:
        raise NotFoundError("No such account.")
    return ids


def _latest_positions_filter(query: Select[Any], account_ids: list[int]) -> Select[Any]:
    """Only each account's most recent snapshot per source."""
    latest = (
        select(Position.account_id, Position.source, func.max(Position.as_of_date).label("d"))
        .where(Position.account_id.in_(account_ids))
        .group_by(Position.account_id, Position.source)
        .subquery()
    )
    return query.join(
        latest,
        (latest.c.account_id == Position.account_id)
        & (latest.c.source == Position.source)
        & (latest.c.d == Position.as_of_date),
    )


def list_records(
    session: Session,
    user_id: int,
    family_name: str,
    *,
    account_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    kind: str | None = None,
    symbol: str | None = None,
    page: int = 1,
    page_size: int = 100,
    latest_only: bool = True,
) -> Page:
    family = FAMILIES.get(family_name)
    if family is None:
        raise ValidationFailed(
            f"Unknown ledger family {family_name!r}.", hint=f"One of {', '.join(FAMILIES)}."
        )
    if page < 1 or not 1 <= page_size <= 1000:
        raise ValidationFailed("page must be >= 1 and page_size between 1 and 1000.")
    model = family.model
    account_ids = owned_account_ids(session, user_id, account_id)
    columns = [c for c in model.__table__.columns]
    has_instrument = "instrument_id" in model.__table__.columns
    base = select(*columns, *([Instrument.symbol, Instrument.asset_category] if has_instrument else []))
    if has_instrument:
        base = base.outerjoin(Instrument, Instrument.id == model.instrument_id)
    base = base.where(model.account_id.in_(account_ids))
    date_col = getattr(model, family.date_column)
    if start is not None:
        base = base.where(date_col >= start)
    if end is not None:
        base = base.where(date_col <= end)
    if kind and family.kind_column:
        base = base.where(getattr(model, family.kind_column) == kind.upper())
    if symbol:
        if not has_instrument:
            raise ValidationFailed(f"{family_name} have no symbol to filter on.")
        base = base.where(Instrument.symbol == symbol.upper())
    if family_name == "positions" and latest_only and start is None and end is None:
        base = _latest_positions_filter(base, account_ids)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.order_by(date_col.desc(), model.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).mappings()
    items = [dict(row) for row in rows]
    for item in items:
        item.pop("raw_payload_id", None)
    return Page(items=items, total=total, page=page, page_size=page_size)
