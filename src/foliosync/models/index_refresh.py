from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base, utcnow
from foliosync.db.types import UTCDateTime


class IndexRefresh(Base):
    """One constituents refresh: which provider answered, whether a fallback was used, and
    whether the result was trusted enough to change membership."""

    __tablename__ = "index_refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index_name: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    provider: Mapped[str | None] = mapped_column(String(16))
    fallback_used: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    member_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    added: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    removed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
