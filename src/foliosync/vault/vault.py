"""Fernet through MultiFernet. `ENCRYPTION_KEY` holds one or more keys, comma-separated: the first
encrypts, every one decrypts, so a new key can be put in front and old rows still read until
`foliosync vault rotate` re-encrypts them.

Without ENCRYPTION_KEY, development mode derives a key from SECRET_KEY (HKDF-SHA256) and warns
loudly; production refuses to start (see Settings.check_production).

Plaintext credentials exist only in memory, inside a sync: `open_credentials` returns a plain dict
to the adapter and nothing else ever decrypts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from foliosync.config import Settings
from foliosync.errors import FoliosyncError

log = logging.getLogger(__name__)


class VaultError(FoliosyncError):
    status_code = 500
    code = "vault_error"


def key_id(key: bytes) -> str:
    """A short, non-reversible fingerprint of a key, stored beside each ciphertext."""
    return hashlib.sha256(b"foliosync-key-id:" + key).hexdigest()[:12]


def derive_development_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"foliosync-vault-v1", info=b"credentials")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


class CredentialVault:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise VaultError("No encryption key configured.", hint="Set ENCRYPTION_KEY.")
        try:
            self._fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise VaultError(
                "ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes).",
                hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"',
            ) from None
        self._multi = MultiFernet(self._fernets)
        self.current_key_id = key_id(keys[0])
        self.key_ids = [key_id(k) for k in keys]

    def encrypt(self, credentials: Mapping[str, str]) -> tuple[bytes, str]:
        """Encrypt a credential dict under the first key; returns (ciphertext, key id)."""
        plaintext = json.dumps(dict(credentials), sort_keys=True).encode()
        return self._multi.encrypt(plaintext), self.current_key_id

    def decrypt(self, ciphertext: bytes) -> dict[str, str]:
        try:
            plaintext = self._multi.decrypt(ciphertext)
        except InvalidToken:
            raise VaultError(
                "A stored credential cannot be decrypted with the configured keys.",
                hint="Keep the old key in ENCRYPTION_KEY (after the new one) until `foliosync vault rotate` ran.",
            ) from None
        data = json.loads(plaintext)
        if not isinstance(data, dict):
            raise VaultError("A stored credential is not a mapping.")
        return {str(k): str(v) for k, v in data.items()}

    def rotate(self, ciphertext: bytes) -> tuple[bytes, str]:
        """Re-encrypt under the first key without exposing plaintext to the caller."""
        try:
            return self._multi.rotate(ciphertext), self.current_key_id
        except InvalidToken:
            raise VaultError("A stored credential cannot be decrypted with the configured keys.") from None

    def __repr__(self) -> str:
        return f"CredentialVault(keys={len(self._fernets)}, current={self.current_key_id})"


def vault_from_settings(settings: Settings) -> CredentialVault:
    if settings.encryption_key and settings.encryption_key.get_secret_value().strip():
        keys = [
            k.strip().encode() for k in settings.encryption_key.get_secret_value().split(",") if k.strip()
        ]
        return CredentialVault(keys)
    if settings.is_production:
        raise VaultError("ENCRYPTION_KEY is required in production.")
    log.warning(
        "ENCRYPTION_KEY is not set: deriving the credential key from SECRET_KEY. This is for development "
        "only; set ENCRYPTION_KEY before storing real broker credentials."
    )
    return CredentialVault([derive_development_key(settings.secret_key.get_secret_value())])
