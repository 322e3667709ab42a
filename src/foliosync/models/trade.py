from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal, UTCDateTime
from foliosync.models._ledger_columns import LedgerRecordColumns


class Trade(LedgerRecordColumns, Base):
    """One execution. Cancelled or corrected fills stay, marked CANCELLED, never deleted.
    Signs: quantity + adds to the holding; amounts + are money in (docs/ledger.md)."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("account_id", "source", "natural_key"),
        Index("ix_trades_account_date", "account_id", "trade_date"),
    )

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    side: Mapped[str] = mapped_column(String(4), nullable=False)  # BUY / SELL
    open_close: Mapped[str | None] = mapped_column(String(4))  # O, C, C;O
    trade_date: Mapped[date] = mapped_column(Date, nullable=False)
    settle_date: Mapped[date | None] = mapped_column(Date)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    quantity: Mapped[D] = mapped_column(Decimal(), nullable=False)
    price: Mapped[D] = mapped_column(Decimal(), nullable=False)
    gross_amount: Mapped[D] = mapped_column(Decimal(), nullable=False)  # proceeds, signed
    commission: Mapped[D] = mapped_column(Decimal(), nullable=False, default=0)
    regulatory_fees: Mapped[D] = mapped_column(Decimal(), nullable=False, default=0)
    other_fees: Mapped[D] = mapped_column(Decimal(), nullable=False, default=0)
    fee_currency: Mapped[str | None] = mapped_column(String(8))
    net_amount: Mapped[D] = mapped_column(Decimal(), nullable=False)
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    fx_rate_to_base: Mapped[D | None] = mapped_column(Decimal())
    cost_basis: Mapped[D | None] = mapped_column(Decimal())
    realized_pnl: Mapped[D | None] = mapped_column(Decimal())  # as the broker reports it
    broker_trade_id: Mapped[str | None] = mapped_column(String(64))
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    broker_exec_id: Mapped[str | None] = mapped_column(String(96))
    # Natural key of the trade a cancel/correction row refers to.
    original_key: Mapped[str | None] = mapped_column(String(160))
    dividend_reinvestment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    forced_liquidation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    notes: Mapped[str | None] = mapped_column(String(64))
