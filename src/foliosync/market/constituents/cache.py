"""The 24 h constituents cache (marketdata.md C.6): `{symbols, members, source, fetched_at}` per index,
in Redis when configured, else in process. Redis failures read as misses (foliosync.kv)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foliosync.kv import KeyValueStore
from foliosync.market.indices import IndexName
from foliosync.market.providers.base import Constituent, ConstituentList

TTL_SECONDS = 86_400


def cache_key(index: IndexName) -> str:
    return f"market:constituents:{index.value}"


@dataclass(frozen=True)
class CachedList:
    index: IndexName
    source: str
    fetched_at: datetime
    members: tuple[Constituent, ...]


def write(store: KeyValueStore, result: ConstituentList, fetched_at: datetime) -> None:
    payload = {
        "index": result.index.value,
        "source": result.provider,
        "fetched_at": fetched_at.isoformat(),
        "symbols": result.symbols,
        "members": [{"symbol": m.symbol, "name": m.name, "sector": m.sector} for m in result.members],
    }
    store.set_json(cache_key(result.index), payload, TTL_SECONDS)


def read(store: KeyValueStore, index: IndexName) -> CachedList | None:
    payload: Any = store.get_json(cache_key(index))
    if not isinstance(payload, dict):
        return None
    try:
        members = tuple(
            Constituent(symbol=str(m["symbol"]), name=m.get("name"), sector=m.get("sector"))
            for m in payload["members"]
        )
        return CachedList(
            index, str(payload["source"]), datetime.fromisoformat(payload["fetched_at"]), members
        )
    except (KeyError, TypeError, ValueError):
        return None  # an entry from another version: treat as a miss


def drop(store: KeyValueStore, index: IndexName) -> None:
    store.delete(cache_key(index))
