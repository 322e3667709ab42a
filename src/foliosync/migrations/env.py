"""Alembic environment: runs against the engine handed in by foliosync.db.migrate, or DATABASE_URL."""

from __future__ import annotations

from alembic import context

import foliosync.models  # noqa: F401  (registers every table)
from foliosync.config import get_settings
from foliosync.db.base import Base
from foliosync.db.session import build_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = build_engine(get_settings().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
