"""Shared fixtures: real SQLite and PostgreSQL engines, real Redis.

Every test that takes `engine` (or `session`) runs once on SQLite and once on PostgreSQL. Each
pytest process migrates its own PostgreSQL database (`foliosync_test_<pid>_<random>`), so parallel
runs never collide, and drops it at the end. With CI=true a missing PostgreSQL or Redis fails the
test instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from foliosync.db.base import Base
from foliosync.db.migrate import upgrade
from foliosync.db.session import build_engine, normalize_database_url, session_factory

PG_ADMIN_URL = os.environ.get("FOLIOSYNC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("FOLIOSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"

# Tests must never reach a real broker or vendor, nor read a developer's .env.
os.environ.setdefault("ENVIRONMENT", "test")


def service_missing(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    name = f"foliosync_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = create_engine(normalize_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        service_missing("PostgreSQL", exc)
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    url = f"{base}/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _pg_engine(pg_database_url: str) -> Iterator[Engine]:
    engine = build_engine(pg_database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "foliosync.db"
    engine = build_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _clean(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            )
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated, empty database; the test runs once per engine."""
    eng: Engine = request.getfixturevalue(f"_{request.param.replace('postgresql', 'pg')}_engine")
    _clean(eng)
    yield eng
    _clean(eng)


@pytest.fixture
def pg_engine(_pg_engine: Engine) -> Iterator[Engine]:
    """PostgreSQL only, for tests about PostgreSQL behaviour or with other processes."""
    _clean(_pg_engine)
    yield _pg_engine
    _clean(_pg_engine)


@pytest.fixture
def sqlite_engine(_sqlite_engine: Engine) -> Iterator[Engine]:
    _clean(_sqlite_engine)
    yield _sqlite_engine
    _clean(_sqlite_engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    s = session_factory(engine)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
        client.flushdb()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    return REDIS_TEST_URL


@pytest.fixture
def shared_dir() -> Path:
    return Path(__file__).resolve().parent / "data"
