from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal, UTCDateTime


class Position(Base):
    """A holding snapshot at a point in time, from a statement or live. Snapshots are replaced per
    (account, source, as_of_date): an empty snapshot after a non-empty one makes the sync PARTIAL."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("account_id", "source", "as_of_date", "instrument_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("broker_accounts.id", ondelete="CASCADE"), index=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # flex_xml, api, csv, live
    as_of_date: Mapped[date] = mapped_column(Date, nullable=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    quantity: Mapped[D] = mapped_column(Decimal(), nullable=False)
    cost_basis: Mapped[D | None] = mapped_column(Decimal())
    mark_price: Mapped[D | None] = mapped_column(Decimal())
    market_value: Mapped[D | None] = mapped_column(Decimal())
    unrealized_pnl: Mapped[D | None] = mapped_column(Decimal())
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    fx_rate_to_base: Mapped[D | None] = mapped_column(Decimal())
    raw_payload_id: Mapped[int | None] = mapped_column(ForeignKey("raw_payloads.id", ondelete="SET NULL"))
