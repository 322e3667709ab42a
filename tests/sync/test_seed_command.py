"""`foliosync seed` creates accounts from environment variables and never prints their values."""

from sqlalchemy import select
from typer.testing import CliRunner

from foliosync.cli import app
from foliosync.config import get_settings
from foliosync.db.session import engine_for, session_scope
from foliosync.models import BrokerAccount
from foliosync.vault import vault_from_settings
from foliosync.vault.store import open_credentials

TOKEN = "seed-token-1234567890123456789"


def test_seed_adds_an_account_per_configured_broker_once(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/seed.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("IBKR_FLEX_TOKEN", TOKEN)
    monkeypatch.setenv("IBKR_FLEX_QUERY_ID", "987654")
    monkeypatch.delenv("TASTYTRADE_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("TASTYTRADE_REFRESH_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["seed"])
        again = CliRunner().invoke(app, ["seed"])
        settings = get_settings()
        with session_scope(engine_for(url)) as session:
            accounts = session.scalars(select(BrokerAccount)).all()
            credentials = open_credentials(session, vault_from_settings(settings), accounts[0].id)
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "ibkr: added account" in first.output and "already seeded" in again.output
    assert TOKEN not in first.output + again.output
    assert [(a.broker, a.alias, a.external_account_id) for a in accounts] == [("ibkr", "ibkr (seeded)", None)]
    assert credentials == {"flex_token": TOKEN, "flex_query_id": "987654"}
