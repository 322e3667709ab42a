from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from foliosync.db.base import Base
from foliosync.db.migrate import alembic_config, current_revision, upgrade


def test_fresh_database_is_migrated_to_head_on_both_engines(engine):
    assert current_revision(engine) == "0002"
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models_exactly(engine):
    """A model change without a migration fails here (no drift between ORM and schema)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_0002_upgrades_a_database_holding_syncs_and_downgrades_again(engine):
    """0001 -> 0002 on a database with account_syncs rows (a released install), and back."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (email, password_hash, is_active, is_admin, created_at) "
                    "VALUES ('m@example.com', 'x', true, false, CURRENT_TIMESTAMP)"
                )
            )
            user_id = conn.execute(text("SELECT id FROM users WHERE email = 'm@example.com'")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO broker_accounts (user_id, broker, external_account_id, alias, base_currency, "
                    "status, sync_status, needs_reauth, sync_cursor, ledger_version, details, created_at) "
                    "VALUES (:u, 'ibkr', 'U1', 'a', 'USD', 'CONNECTED', 'SUCCESS', false, '{}', 3, '{}', "
                    "CURRENT_TIMESTAMP)"
                ),
                {"u": user_id},
            )
            account_id = conn.execute(
                text("SELECT id FROM broker_accounts WHERE user_id = :u"), {"u": user_id}
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO account_syncs (account_id, status, trigger, counts, reconciliation, warnings) "
                    "VALUES (:a, 'SUCCESS', 'import', '{}', '{}', '[]')"
                ),
                {"a": account_id},
            )
    finally:
        upgrade(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT import_key, ledger_version_after, details FROM account_syncs")).one()
    assert row[0] is None and row[1] is None and row[2] in ({}, "{}")
