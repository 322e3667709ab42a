from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal
from foliosync.models._ledger_columns import LedgerRecordColumns


class CorporateAction(LedgerRecordColumns, Base):
    """A split, merger, symbol change... `ratio` is new/old (4 for a 4-for-1 split). `effect`
    records what it did to positions and lots, so re-applying it is detectable and refused."""

    __tablename__ = "corporate_actions"
    __table_args__ = (UniqueConstraint("account_id", "source", "natural_key"),)

    instrument_id: Mapped[int | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    action_id: Mapped[str | None] = mapped_column(String(64), index=True)
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    ratio: Mapped[D | None] = mapped_column(Decimal())
    quantity: Mapped[D | None] = mapped_column(Decimal())
    amount: Mapped[D | None] = mapped_column(Decimal())
    currency: Mapped[str | None] = mapped_column(String(8))
    effect: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
