from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import Decimal


class Balance(Base):
    """Balances per account, date and currency as the broker reports them. `currency` 'BASE'
    marks the base-currency summary row (IBKR EquitySummaryInBase)."""

    __tablename__ = "balances"
    __table_args__ = (UniqueConstraint("account_id", "source", "as_of_date", "currency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("broker_accounts.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    as_of_date: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(8), nullable=False)
    cash: Mapped[D | None] = mapped_column(Decimal())
    net_liquidation: Mapped[D | None] = mapped_column(Decimal())
    buying_power: Mapped[D | None] = mapped_column(Decimal())
    maintenance_margin: Mapped[D | None] = mapped_column(Decimal())
    # Equity by asset class as reported, e.g. {"stock": "1000.5", "options": "-20"} (decimal strings).
    components: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    raw_payload_id: Mapped[int | None] = mapped_column(ForeignKey("raw_payloads.id", ondelete="SET NULL"))
