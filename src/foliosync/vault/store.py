"""Reading and writing AccountCredential rows through the vault, and key rotation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from foliosync.db.session import session_scope
from foliosync.models import AccountCredential
from foliosync.vault.vault import CredentialVault


def save_credentials(
    session: Session, vault: CredentialVault, account_id: int, credentials: Mapping[str, str]
) -> None:
    ciphertext, kid = vault.encrypt(credentials)
    row = session.scalar(select(AccountCredential).where(AccountCredential.account_id == account_id))
    if row is None:
        session.add(AccountCredential(account_id=account_id, ciphertext=ciphertext, key_id=kid))
    else:
        row.ciphertext = ciphertext
        row.key_id = kid
    session.flush()


def open_credentials(session: Session, vault: CredentialVault, account_id: int) -> dict[str, str] | None:
    """Decrypt an account's credentials. Call only inside a sync; never log or return the result."""
    row = session.scalar(select(AccountCredential).where(AccountCredential.account_id == account_id))
    return None if row is None else vault.decrypt(row.ciphertext)


def has_credentials(session: Session, account_id: int) -> bool:
    return (
        session.scalar(select(AccountCredential.id).where(AccountCredential.account_id == account_id))
        is not None
    )


@dataclass
class RotationResult:
    rotated: int
    remaining: int


def rotate_all(
    engine: Engine,
    vault: CredentialVault,
    *,
    batch_size: int = 200,
    on_batch: Callable[[int], None] | None = None,
) -> RotationResult:
    """Re-encrypt every credential not yet under the first key, one committed batch at a time.

    Resumable: each row records the key that encrypted it, so an interrupted run picks up the rows
    still under an old key. Plaintext never leaves MultiFernet.rotate.
    """
    rotated = 0
    while True:
        with session_scope(engine) as session:
            rows = session.scalars(
                select(AccountCredential)
                .where(AccountCredential.key_id != vault.current_key_id)
                .order_by(AccountCredential.id)
                .limit(batch_size)
            ).all()
            for row in rows:
                row.ciphertext, row.key_id = vault.rotate(row.ciphertext)
            rotated += len(rows)
        if on_batch:
            on_batch(rotated)
        if len(rows) < batch_size:
            break
    with session_scope(engine) as session:
        remaining = (
            session.scalar(
                select(func.count(AccountCredential.id)).where(
                    AccountCredential.key_id != vault.current_key_id
                )
            )
            or 0
        )
    return RotationResult(rotated=rotated, remaining=remaining)
