from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sqlalchemy import BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal


class DailyPrice(Base):
    """One daily OHLCV bar. Symbols use foliosync's one spelling (BRK.B); every bar names its source."""

    __tablename__ = "daily_prices"
    __table_args__ = (UniqueConstraint("symbol", "bar_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(16), nullable=False)
    bar_date: Mapped[date] = mapped_column(Date, nullable=False)
    open: Mapped[D] = mapped_column(Decimal(), nullable=False)
    high: Mapped[D] = mapped_column(Decimal(), nullable=False)
    low: Mapped[D] = mapped_column(Decimal(), nullable=False)
    close: Mapped[D] = mapped_column(Decimal(), nullable=False)
    volume: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
