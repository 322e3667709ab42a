"""A small in-process cache for read models, keyed on the ledger versions of the user's accounts.

Every ledger write bumps `broker_accounts.ledger_version` for the accounts it touched (in the same
transaction), so a cached answer is valid exactly as long as the versions it was computed from:
one indexed query on a handful of rows decides, and a write from any process (a Celery worker, a
CLI import) invalidates it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.models import BrokerAccount

T = TypeVar("T")


def ledger_versions(session: Session, user_id: int) -> tuple[tuple[int, int], ...]:
    rows = session.execute(
        select(BrokerAccount.id, BrokerAccount.ledger_version)
        .where(BrokerAccount.user_id == user_id)
        .order_by(BrokerAccount.id)
    )
    return tuple((int(a), int(v)) for a, v in rows)


class VersionedCache:
    def __init__(self, max_entries: int = 512) -> None:
        self._entries: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get_or_compute(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


holdings_cache = VersionedCache()
