from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal


class Instrument(Base):
    """A tradable thing, shared by every account. `key` is its canonical identity
    (see foliosync.ledger.instruments.instrument_key): the OCC symbol for a US option, the
    symbol and currency for a stock, so two brokers holding AAPL point at one row."""

    __tablename__ = "instruments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)
    asset_category: Mapped[str] = mapped_column(String(8), nullable=False)
    symbol: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    description: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(8), nullable=False, default="USD")
    exchange: Mapped[str | None] = mapped_column(String(32))
    conid: Mapped[str | None] = mapped_column(String(32), index=True)
    isin: Mapped[str | None] = mapped_column(String(12))
    cusip: Mapped[str | None] = mapped_column(String(9))
    figi: Mapped[str | None] = mapped_column(String(12))
    underlying_symbol: Mapped[str | None] = mapped_column(String(64))
    underlying_conid: Mapped[str | None] = mapped_column(String(32))
    strike: Mapped[D | None] = mapped_column(Decimal())
    expiry: Mapped[date | None] = mapped_column(Date)
    put_call: Mapped[str | None] = mapped_column(String(1))
    multiplier: Mapped[D] = mapped_column(Decimal(), nullable=False, default=1)
    sector: Mapped[str | None] = mapped_column(String(64))
