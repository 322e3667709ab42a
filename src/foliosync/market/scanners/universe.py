"""The ATR universe: the active members of the three indices plus every symbol anybody holds.

"Held" means an instrument with a non-zero position in the *latest* snapshot of an account (the
newest as_of_date of that account's positions, whatever the source). Stocks and funds count by
their own symbol; equity options count by their underlying, whose ATR sizes their risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from foliosync.ledger.taxonomy import AssetCategory
from foliosync.market.indices import IndexName
from foliosync.market.symbols import is_valid_ticker, normalize_ticker
from foliosync.models import BrokerAccount, IndexConstituent, Instrument, Position

_OWN_SYMBOL = frozenset({AssetCategory.STK.value, AssetCategory.FUND.value})
_BY_UNDERLYING = frozenset({AssetCategory.OPT.value})

HELD = "HELD"


@dataclass(frozen=True)
class HeldPosition:
    account_id: int
    account_label: str
    instrument_symbol: str
    bar_symbol: str | None  # whose bars measure this position's risk (None: no daily bars apply)
    asset_category: str
    quantity: Decimal
    multiplier: Decimal
    as_of_date: date


def bar_symbol_for(instrument: Instrument) -> str | None:
    if instrument.asset_category in _OWN_SYMBOL:
        candidate = normalize_ticker(instrument.symbol)
    elif instrument.asset_category in _BY_UNDERLYING and instrument.underlying_symbol:
        candidate = normalize_ticker(instrument.underlying_symbol)
    else:
        return None
    return candidate if is_valid_ticker(candidate) else None


def _latest_positions(user_id: int | None) -> Select[Position, Instrument, BrokerAccount]:
    latest = select(Position.account_id, func.max(Position.as_of_date).label("as_of_date")).group_by(
        Position.account_id
    )
    if user_id is not None:
        latest = latest.join(BrokerAccount, BrokerAccount.id == Position.account_id).where(
            BrokerAccount.user_id == user_id
        )
    snapshot = latest.subquery()
    return (
        select(Position, Instrument, BrokerAccount)
        .join(
            snapshot,
            and_(Position.account_id == snapshot.c.account_id, Position.as_of_date == snapshot.c.as_of_date),
        )
        .join(Instrument, Instrument.id == Position.instrument_id)
        .join(BrokerAccount, BrokerAccount.id == Position.account_id)
        .where(Position.quantity != 0)
        .order_by(BrokerAccount.id, Instrument.symbol, Position.id)
    )


def held_positions(session: Session, user_id: int | None = None) -> list[HeldPosition]:
    """Positions of the latest snapshot of each account (of `user_id`, or of everybody)."""
    result: list[HeldPosition] = []
    seen: set[tuple[int, int]] = set()
    for position, instrument, account in session.execute(_latest_positions(user_id)):
        # Two sources can report the same day's snapshot; count each instrument once per account.
        if (account.id, instrument.id) in seen:
            continue
        seen.add((account.id, instrument.id))
        result.append(
            HeldPosition(
                account_id=account.id,
                account_label=account.alias
                or account.external_account_id
                or f"{account.broker} #{account.id}",
                instrument_symbol=instrument.symbol,
                bar_symbol=bar_symbol_for(instrument),
                asset_category=instrument.asset_category,
                quantity=position.quantity,
                multiplier=instrument.multiplier,
                as_of_date=position.as_of_date,
            )
        )
    return result


def held_symbols(session: Session) -> set[str]:
    return {p.bar_symbol for p in held_positions(session) if p.bar_symbol}


@dataclass
class Universe:
    """Symbols to refresh and scan, and why each is there (index names and/or HELD)."""

    memberships: dict[str, list[str]] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        return sorted(self.memberships)

    def add(self, symbol: str, reason: str) -> None:
        reasons = self.memberships.setdefault(symbol, [])
        if reason not in reasons:
            reasons.append(reason)


def index_memberships(session: Session, indices: list[IndexName] | None = None) -> Universe:
    universe = Universe()
    names = [i.value for i in (indices or list(IndexName))]
    query = (
        select(IndexConstituent.symbol, IndexConstituent.index_name)
        .where(IndexConstituent.is_active.is_(True), IndexConstituent.index_name.in_(names))
        .order_by(IndexConstituent.symbol, IndexConstituent.index_name)
    )
    for symbol, index_name in session.execute(query):
        universe.add(symbol, index_name)
    return universe


def build_universe(session: Session) -> Universe:
    """Union of the three indices' active members and every held symbol."""
    universe = index_memberships(session)
    for symbol in sorted(held_symbols(session)):
        universe.add(symbol, HELD)
    return universe
