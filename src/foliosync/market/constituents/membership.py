"""index_constituents as a history: a member that leaves is marked inactive, never deleted; one
that comes back is re-activated with its first_seen_at kept (marketdata.md C.6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.market.indices import IndexName
from foliosync.market.providers.base import ConstituentList
from foliosync.models import IndexConstituent

_NAME_MAX = 255
_SECTOR_MAX = 64


@dataclass(frozen=True)
class MembershipChange:
    added: list[str]
    reactivated: list[str]
    removed: list[str]


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


def apply_membership(session: Session, result: ConstituentList, now: datetime) -> MembershipChange:
    """Make the active members of `result.index` equal `result`. Only call with a validated list."""
    existing = {
        row.symbol: row
        for row in session.scalars(
            select(IndexConstituent).where(IndexConstituent.index_name == result.index.value)
        )
    }
    added: list[str] = []
    reactivated: list[str] = []
    for member in result.members:
        row = existing.get(member.symbol)
        if row is None:
            session.add(
                IndexConstituent(
                    index_name=result.index.value,
                    symbol=member.symbol,
                    name=_clip(member.name, _NAME_MAX),
                    sector=_clip(member.sector, _SECTOR_MAX),
                    is_active=True,
                    first_seen_at=now,
                    last_seen_at=now,
                    became_inactive_at=None,
                    provider=result.provider,
                )
            )
            added.append(member.symbol)
            continue
        if not row.is_active:
            row.is_active = True
            row.became_inactive_at = None
            reactivated.append(member.symbol)
        row.last_seen_at = now
        row.provider = result.provider
        row.name = _clip(member.name, _NAME_MAX) or row.name
        row.sector = _clip(member.sector, _SECTOR_MAX) or row.sector
    present = set(result.symbols)
    removed: list[str] = []
    for symbol, row in existing.items():
        if row.is_active and symbol not in present:
            row.is_active = False
            row.became_inactive_at = now
            removed.append(symbol)
    session.flush()
    return MembershipChange(sorted(added), sorted(reactivated), sorted(removed))


def active_members(session: Session, index: IndexName) -> list[IndexConstituent]:
    query = (
        select(IndexConstituent)
        .where(IndexConstituent.index_name == index.value, IndexConstituent.is_active.is_(True))
        .order_by(IndexConstituent.symbol)
    )
    return list(session.scalars(query))
