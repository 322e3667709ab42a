"""CredentialVault: broker credentials encrypted at rest with Fernet (MultiFernet for rotation)."""

from foliosync.vault.vault import CredentialVault, VaultError, vault_from_settings

__all__ = ["CredentialVault", "VaultError", "vault_from_settings"]
