"""Store live snapshots in the ledger, and keep doing it while the connection is up.

The statement history stays the system of record: live data is written as `source = live`
position and balance snapshots (one per account and day, replaced by each refresh), which the
overlay reads beside the latest Flex snapshot. Every user who added a managed account gets the
snapshot under their own BrokerAccount.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from foliosync.brokers.ibkr.live import LiveConnection, LiveUnavailable, snapshot_batch
from foliosync.db.session import session_scope
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0


def store_snapshot(session: Session, connection: LiveConnection, *, refresh: bool = True) -> int:
    """Write the current live snapshot for every BrokerAccount that a managed account belongs to.
    Returns the number of rows written (inserted or changed)."""
    managed = connection.managed_accounts()
    if not managed:
        return 0
    owners = session.scalars(
        select(BrokerAccount).where(
            BrokerAccount.broker == "ibkr", BrokerAccount.external_account_id.in_(managed)
        )
    ).all()
    if not owners:
        return 0
    batch = snapshot_batch(
        connection, accounts=sorted({a.external_account_id or "" for a in owners}), refresh=refresh
    )
    written = 0
    for user_id in sorted({a.user_id for a in owners}):
        mine = {a.external_account_id: a.id for a in owners if a.user_id == user_id and a.external_account_id}
        for number, account_id in mine.items():
            part = batch.for_account(number)
            written += write_batch(
                session, part, {number: account_id}, user_id=user_id, archive=False
            ).written
    return written


class SnapshotRefresher:
    """Stores a live snapshot every `interval` seconds while the connection is up."""

    def __init__(self, engine: Engine, connection: LiveConnection, interval: float = REFRESH_SECONDS) -> None:
        self._engine = engine
        self._connection = connection
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="foliosync-live-snapshots", daemon=True)

    def start(self) -> SnapshotRefresher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._connection.status().connected:
                continue
            try:
                with session_scope(self._engine) as session:
                    store_snapshot(session, self._connection)
            except LiveUnavailable:
                continue
            except Exception:
                log.warning("storing the live snapshot failed", exc_info=True)
