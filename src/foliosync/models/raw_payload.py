from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base, utcnow
from foliosync.db.types import UTCDateTime


class RawPayload(Base):
    """Every payload a sync or import read, zlib-compressed, so `foliosync rebuild` can re-derive
    the ledger and a mapping bug can be fixed after the fact. One row per (user, content)."""

    __tablename__ = "raw_payloads"
    __table_args__ = (UniqueConstraint("user_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("broker_accounts.id", ondelete="CASCADE"))
    broker: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(
        String(48), nullable=False
    )  # flex_xml, fidelity_csv, tt_transactions...
    source_name: Mapped[str | None] = mapped_column(String(255))  # file name or endpoint
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    compressed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
