"""The per-request checks of the hottest read endpoints, in one database round trip.

A cached read model (foliosync.portfolio.cache) still has to answer two questions on every request:
is the caller an active user, and which ledger versions do their accounts have now? Through the ORM
that was four round trips (BEGIN, SELECT user, SELECT versions, ROLLBACK) on a thread-pool thread.
Here it is one statement in autocommit on an async PostgreSQL connection, awaited on the event loop,
so a request that hits the cache never leaves the loop. SQLite is local and has no async driver in
our dependencies: there the same statement runs on the thread pool.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass, field

import anyio.to_thread
import psycopg
from fastapi import Request, Response
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, text

from foliosync.api.coalesce import FreshReads

# PostgreSQL: one row, "id:version,id:version" in id order ('' without accounts), for an active
# user; no row for a missing or deactivated one.
_PG_ACCOUNT_VERSIONS = (
    "SELECT coalesce((SELECT string_agg(a.id || ':' || a.ledger_version, ',' ORDER BY a.id) "
    "FROM broker_accounts a WHERE a.user_id = u.id), '') "
    "FROM users u WHERE u.id = %s AND u.is_active"
)
# SQLite (older releases have no ORDER BY inside aggregates): the rows, joined in Python.
_SQLITE_ACCOUNT_VERSIONS = text(
    "SELECT a.id, a.ledger_version FROM users u "
    "LEFT JOIN broker_accounts a ON a.user_id = u.id "
    "WHERE u.id = :user_id AND u.is_active ORDER BY a.id"
)


@dataclass(frozen=True)
class AccountVersions:
    """The caller's accounts and their ledger versions, as "id:version,..." (a cache-key part)."""

    key: str

    def owns(self, account_id: int) -> bool:
        return any(part.partition(":")[0] == str(account_id) for part in self.key.split(",") if part)


@dataclass
class AccessProbe:
    """`await account_versions(user_id)`: None for a user who may not read, else AccountVersions."""

    engine: Engine
    # Opened by the app's lifespan on the serving event loop. Without it (a test client that never
    # ran the lifespan, so each request has a loop of its own) a short-lived connection is used.
    _pool: AsyncConnectionPool | None = field(default=None, init=False)
    _pool_loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _fresh_reads: FreshReads[int, AccountVersions | None] = field(default_factory=FreshReads, init=False)

    @property
    def uses_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def _conninfo(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def open(self) -> None:
        if not self.uses_postgresql or self._pool is not None:
            return
        # Autocommit: a single SELECT needs no BEGIN / ROLLBACK round trips.
        self._pool = AsyncConnectionPool(
            self._conninfo, min_size=8, max_size=8, open=False, kwargs={"autocommit": True}
        )
        await self._pool.open()
        self._pool_loop = asyncio.get_running_loop()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = self._pool_loop = None

    async def account_versions(self, user_id: int) -> AccountVersions | None:
        # Concurrent requests of one user share a read that started after they arrived (coalesce.py).
        return await self._fresh_reads.read(user_id, lambda: self._read_account_versions(user_id))

    async def _read_account_versions(self, user_id: int) -> AccountVersions | None:
        if not self.uses_postgresql:
            return await anyio.to_thread.run_sync(self._sqlite_account_versions, user_id)
        if self._pool is not None and self._pool_loop is asyncio.get_running_loop():
            async with self._pool.connection() as conn:
                return await _pg_account_versions(conn, user_id)
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            return await _pg_account_versions(conn, user_id)

    def _sqlite_account_versions(self, user_id: int) -> AccountVersions | None:
        with self.engine.connect() as conn:
            rows = conn.execute(_SQLITE_ACCOUNT_VERSIONS, {"user_id": user_id}).all()
        if not rows:
            return None
        return AccountVersions(",".join(f"{a}:{v}" for a, v in rows if a is not None))


async def _pg_account_versions(
    conn: psycopg.AsyncConnection[tuple[str]], user_id: int
) -> AccountVersions | None:
    cursor = await conn.execute(_PG_ACCOUNT_VERSIONS, (user_id,), prepare=True)
    row = await cursor.fetchone()
    return None if row is None else AccountVersions(row[0])


@dataclass(frozen=True)
class RenderedBody:
    """A JSON answer rendered once per ledger version, with its gzip form and a strong ETag."""

    raw: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, raw: bytes) -> RenderedBody:
        # mtime=0 keeps the gzip bytes (and so any cache in between) identical across processes.
        return cls(
            raw=raw,
            gzipped=gzip.compress(raw, compresslevel=6, mtime=0),
            etag='"' + hashlib.blake2b(raw, digest_size=16).hexdigest() + '"',
        )


def accepts_gzip(request: Request) -> bool:
    """True when Accept-Encoding lists gzip (or *) without q=0."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=").strip()
            return q not in ("0", "0.0", "0.00", "0.000")
    return False


def cached_json_response(request: Request, body: RenderedBody) -> Response:
    """200 with the body (gzip when accepted), or 304 when the client already holds this ETag."""
    # private: per-user data never sits in a shared cache; no-cache: revalidate with the ETag each time.
    headers = {"ETag": body.etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if_none_match = request.headers.get("if-none-match", "")
    if body.etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(content=body.gzipped, media_type="application/json", headers=headers)
    return Response(content=body.raw, media_type="application/json", headers=headers)
