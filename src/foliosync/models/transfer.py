from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sqlalchemy import Boolean, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal
from foliosync.models._ledger_columns import LedgerRecordColumns


class Transfer(LedgerRecordColumns, Base):
    """Cash or securities moving in or out of the account, internal or external."""

    __tablename__ = "transfers"
    __table_args__ = (UniqueConstraint("account_id", "source", "natural_key"),)

    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)  # IN / OUT
    flow_scope: Mapped[str] = mapped_column(String(8), nullable=False)  # INTERNAL / EXTERNAL
    transfer_type: Mapped[str | None] = mapped_column(String(32))  # ACATS, INTERNAL, FOP ...
    is_cash: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    transfer_date: Mapped[date] = mapped_column(Date, nullable=False)
    quantity: Mapped[D | None] = mapped_column(Decimal())
    value: Mapped[D | None] = mapped_column(Decimal())
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    counterparty: Mapped[str | None] = mapped_column(String(128))
