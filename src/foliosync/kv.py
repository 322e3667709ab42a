"""A small key-value store with TTLs: Redis when `REDIS_URL` is set, else in-process.

Used for the 24 h market-data cache and for connect-job state (600 s). Every Redis call is
guarded: if Redis goes away, reads miss and writes are dropped, so callers still get answers
(from the provider or the database), only slower.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Protocol

import redis

log = logging.getLogger(__name__)


class KeyValueStore(Protocol):
    def get_json(self, key: str) -> Any | None: ...
    def set_json(self, key: str, value: Any, ttl_seconds: int) -> None: ...
    def delete(self, key: str) -> None: ...


class MemoryStore:
    """Thread-safe in-process store; entries expire lazily."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            expires, payload = entry
            if expires < time.monotonic():
                del self._data[key]
                return None
        return json.loads(payload)

    def set_json(self, key: str, value: Any, ttl_seconds: int) -> None:
        payload = json.dumps(value, default=str)
        with self._lock:
            self._data[key] = (time.monotonic() + ttl_seconds, payload)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "foliosync:") -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    def get_json(self, key: str) -> Any | None:
        try:
            raw = self._client.get(self._prefix + key)
        except redis.RedisError as exc:
            log.warning("Redis unavailable for read of %s: %s", key, type(exc).__name__)
            return None
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any, ttl_seconds: int) -> None:
        try:
            self._client.set(self._prefix + key, json.dumps(value, default=str), ex=ttl_seconds)
        except redis.RedisError as exc:
            log.warning("Redis unavailable for write of %s: %s", key, type(exc).__name__)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self._prefix + key)
        except redis.RedisError as exc:
            log.warning("Redis unavailable for delete of %s: %s", key, type(exc).__name__)


_memory_singleton = MemoryStore()


def store_for(redis_url: str | None) -> KeyValueStore:
    """Redis when configured, else the process-wide in-memory store."""
    if redis_url:
        return RedisStore(redis_url)
    return _memory_singleton
