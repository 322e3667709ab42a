"""Fidelity in the broker registry: import-only (no public API), no credentials."""

from __future__ import annotations

from foliosync.brokers.base import BrokerManifest, Capability
from foliosync.brokers.registry import register

MANIFEST = BrokerManifest(
    broker="fidelity",
    display_name="Fidelity",
    credential_fields=(),
    capabilities=frozenset({Capability.FILE_IMPORT}),
    import_formats=("fidelity",),
    notes="Fidelity has no public API: download Activity & Orders (history) or Positions as CSV and import it.",
)
register(MANIFEST, None)
