"""One registry of brokers: manifest (credential fields, capabilities) and adapter factory.

Adapters register themselves from `foliosync.brokers.<name>.adapter`; `load_all()` imports them so
the API, the web forms and the sync service all see the same list.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass

from foliosync.brokers.base import AdapterFactory, BrokerManifest
from foliosync.errors import NotFoundError

log = logging.getLogger(__name__)

ADAPTER_MODULES = (
    "foliosync.brokers.ibkr.adapter",
    "foliosync.brokers.tastytrade.adapter",
    "foliosync.brokers.schwab.adapter",
    "foliosync.brokers.fidelity.adapter",
    "foliosync.brokers.robinhood.adapter",
)


@dataclass(frozen=True)
class RegisteredBroker:
    manifest: BrokerManifest
    factory: AdapterFactory | None  # None for import-only brokers


_REGISTRY: dict[str, RegisteredBroker] = {}


def register(manifest: BrokerManifest, factory: AdapterFactory | None) -> None:
    _REGISTRY[manifest.broker] = RegisteredBroker(manifest, factory)


def plugin_modules() -> list[str]:
    """Extra adapter modules named in FOLIOSYNC_PLUGINS (comma-separated), for third-party brokers."""
    return [m.strip() for m in os.environ.get("FOLIOSYNC_PLUGINS", "").split(",") if m.strip()]


def load_all() -> dict[str, RegisteredBroker]:
    for module in (*ADAPTER_MODULES, *plugin_modules()):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # A broker package that is not written yet simply is not offered.
            if exc.name and exc.name.startswith("foliosync.brokers"):
                continue
            raise
    return dict(_REGISTRY)


def get_broker(name: str) -> RegisteredBroker:
    brokers = load_all()
    if name not in brokers:
        raise NotFoundError(f"Unknown broker {name!r}.", hint=f"Known brokers: {', '.join(sorted(brokers))}.")
    return brokers[name]
