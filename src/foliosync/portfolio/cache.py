"""A small in-process cache for read models, keyed on the ledger versions of the user's accounts.

Every ledger write bumps `broker_accounts.ledger_version` for the accounts it touched (in the same
transaction), so a cached answer is valid exactly as long as the versions it was computed from:
one indexed query on a handful of rows decides (foliosync.api.hot_reads reads them per request),
and a write from any process (a Celery worker, a CLI import) invalidates it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class VersionedCache(Generic[T]):
    """A bounded LRU map from (kind, user, ..., ledger versions) to a rendered answer. Thread-safe."""

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: OrderedDict[tuple[object, ...], T] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: tuple[object, ...]) -> T | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: tuple[object, ...], value: T) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
