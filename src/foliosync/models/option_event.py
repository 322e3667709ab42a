from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal
from foliosync.models._ledger_columns import LedgerRecordColumns


class OptionEvent(LedgerRecordColumns, Base):
    """Exercise, assignment or expiration of an option, linked to the option and to the trade it
    produced in the underlying. Positions and cash move through the linked trades only."""

    __tablename__ = "option_events"
    __table_args__ = (UniqueConstraint("account_id", "source", "natural_key"),)

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    event_date: Mapped[date] = mapped_column(Date, nullable=False)
    quantity: Mapped[D] = mapped_column(Decimal(), nullable=False)
    underlying_symbol: Mapped[str | None] = mapped_column(String(64))
    option_trade_key: Mapped[str | None] = mapped_column(String(160))
    underlying_trade_key: Mapped[str | None] = mapped_column(String(160))
    realized_pnl: Mapped[D | None] = mapped_column(Decimal())
