from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal, UTCDateTime
from foliosync.ledger.taxonomy import FlowScope
from foliosync.models._ledger_columns import LedgerRecordColumns


class CashTransaction(LedgerRecordColumns, Base):
    """Money that moved without a fill: dividends, withholding, fees, interest, deposits...
    `amount` > 0 is money in. Withholding links to its dividend through `related_key`."""

    __tablename__ = "cash_transactions"
    __table_args__ = (
        UniqueConstraint("account_id", "source", "natural_key"),
        Index("ix_cash_transactions_account_date", "account_id", "posted_date"),
    )

    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subkind: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[D] = mapped_column(Decimal(), nullable=False)
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    fx_rate_to_base: Mapped[D | None] = mapped_column(Decimal())
    posted_date: Mapped[date] = mapped_column(Date, nullable=False)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settle_date: Mapped[date | None] = mapped_column(Date)
    ex_date: Mapped[date | None] = mapped_column(Date)
    pay_date: Mapped[date | None] = mapped_column(Date)
    flow_scope: Mapped[str] = mapped_column(String(8), nullable=False, default=FlowScope.NONE.value)
    action_id: Mapped[str | None] = mapped_column(String(64))
    # Natural key of the record this one belongs to (withholding -> dividend, reversal -> original).
    related_key: Mapped[str | None] = mapped_column(String(160))
