"""Share one database read among concurrent requests without ever answering from the past.

Many requests of one user arriving together each ask the same question (which ledger versions do
this user's accounts have?). `FreshReads.read(key, fetch)` lets them share a fetch, under one rule
that keeps every answer as fresh as a query of its own: a caller only shares a fetch that STARTED
AFTER the caller arrived. So a caller that arrives while a fetch is in flight does not join it (it
may predate a commit the caller has seen); it waits for the next fetch, which starts as soon as the
current one ends and serves everybody who queued meanwhile. Under load that is one fetch per
round trip per key instead of one per request; with no concurrency it is exactly one fetch per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Slot(Generic[V]):
    running: asyncio.Future[V]
    queued: asyncio.Future[V] | None = None
    fetch: Callable[[], Awaitable[V]] | None = field(default=None, repr=False)


class FreshReads(Generic[K, V]):
    def __init__(self) -> None:
        self._slots: dict[K, _Slot[V]] = {}

    async def read(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        slot = self._slots.get(key)
        if slot is None:
            future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
            self._slots[key] = _Slot(running=future)
            self._start(key, future, fetch)
        else:
            if slot.queued is None:
                slot.queued = asyncio.get_running_loop().create_future()
                slot.fetch = fetch
            future = slot.queued
        # shield: a caller that gives up (client gone) must not cancel the fetch others wait for.
        return await asyncio.shield(future)

    def _start(self, key: K, future: asyncio.Future[V], fetch: Callable[[], Awaitable[V]]) -> None:
        task = asyncio.ensure_future(fetch())
        task.add_done_callback(lambda done: self._finished(key, future, done))

    def _finished(self, key: K, future: asyncio.Future[V], done: asyncio.Future[V]) -> None:
        if not future.done():
            if done.cancelled():
                future.cancel()
            elif (error := done.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())
        slot = self._slots[key]
        if slot.queued is None or slot.fetch is None:
            del self._slots[key]
            return
        slot.running, slot.queued = slot.queued, None
        fetch, slot.fetch = slot.fetch, None
        self._start(key, slot.running, fetch)


class SingleFlight(Generic[K, V]):
    """Concurrent callers with the same key share one computation that is already running.

    For computations whose key pins down the result (a rendering keyed on ledger versions): joining a
    run that started earlier is then as good as starting a new one. Unlike FreshReads, never use it
    for reads whose answer can change under the same key."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._running[key] = future
            future.add_done_callback(lambda _done: self._running.pop(key, None))
        return await asyncio.shield(future)
