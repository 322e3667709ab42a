"""When to recompute FIFO lots: after every write to an account whose broker reports no lots.

Lots depend on an account's whole history, so they are rebuilt from the stored ledger rows
(`ledger.lot_store`), never from one fetch window or one file: an incremental sync whose window
starts after a position was opened must not invent lots for its sells.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from foliosync.brokers.base import Capability
from foliosync.brokers.registry import load_all
from foliosync.ledger.lot_store import rebuild_computed_lots
from foliosync.ledger.taxonomy import Broker
from foliosync.models import BrokerAccount


def broker_reports_lots(broker: str) -> bool:
    registered = load_all().get(broker)
    # Brokers outside foliosync's own set (plugins) keep whatever lots they deliver themselves.
    if registered is None or broker not in {b.value for b in Broker}:
        return True
    return Capability.LOTS in registered.manifest.capabilities


def refresh_computed_lots(session: Session, account: BrokerAccount, source: str) -> dict[str, int] | None:
    """Rebuild the account's computed lots; returns the tax_lots counts, or None when the broker
    reports its own lots."""
    if broker_reports_lots(account.broker):
        return None
    _result, report = rebuild_computed_lots(session, account, source)
    counts = report.by_table.get("tax_lots")
    return counts.as_dict() if counts else {"inserted": 0, "updated": 0, "unchanged": 0}
