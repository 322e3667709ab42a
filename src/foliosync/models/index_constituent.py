from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base
from foliosync.db.types import UTCDateTime


class IndexConstituent(Base):
    """Membership of a symbol in an index, with history: a member that leaves is marked
    inactive (`became_inactive_at`), never deleted; one that returns is re-activated."""

    __tablename__ = "index_constituents"
    __table_args__ = (UniqueConstraint("index_name", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index_name: Mapped[str] = mapped_column(String(16), nullable=False)  # SP500, NASDAQ100, DOW30
    symbol: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    sector: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    became_inactive_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
