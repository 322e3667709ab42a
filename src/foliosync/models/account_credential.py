from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from foliosync.db.base import Base, TimestampMixin, utcnow
from foliosync.db.types import UTCDateTime


class AccountCredential(TimestampMixin, Base):
    """A broker credential, Fernet-encrypted. Plaintext exists only inside a sync."""

    __tablename__ = "account_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("broker_accounts.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # Fingerprint of the key that encrypted this row: rotation resumes where it left off.
    key_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
