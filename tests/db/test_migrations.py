from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from foliosync.db.base import Base
from foliosync.db.migrate import current_revision


def test_fresh_database_is_migrated_to_head_on_both_engines(engine):
    assert current_revision(engine) == "0001"
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models_exactly(engine):
    """A model change without a migration fails here (no drift between ORM and schema)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
