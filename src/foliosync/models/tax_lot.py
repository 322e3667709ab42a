from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal, UTCDateTime
from foliosync.models._ledger_columns import LedgerRecordColumns


class TaxLot(LedgerRecordColumns, Base):
    """An open or closed tax lot, as the broker reports it (origin BROKER) or as the lot engine
    computes it from the trades (origin COMPUTED). Quantity is signed: a short lot is negative."""

    __tablename__ = "tax_lots"
    __table_args__ = (UniqueConstraint("account_id", "source", "natural_key"),)

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), nullable=False, index=True)
    lot_status: Mapped[str] = mapped_column(String(8), nullable=False)  # OPEN / CLOSED
    origin: Mapped[str] = mapped_column(String(8), nullable=False)  # BROKER / COMPUTED
    as_of_date: Mapped[date | None] = mapped_column(Date)  # for open-lot snapshots
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    open_date: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[D] = mapped_column(Decimal(), nullable=False)
    cost_basis: Mapped[D | None] = mapped_column(Decimal())
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_date: Mapped[date | None] = mapped_column(Date)
    proceeds: Mapped[D | None] = mapped_column(Decimal())
    realized_pnl: Mapped[D | None] = mapped_column(Decimal())
    closing_trade_key: Mapped[str | None] = mapped_column(String(160))
    opening_trade_key: Mapped[str | None] = mapped_column(String(160))
