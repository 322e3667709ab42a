"""`foliosync demo` on a temporary SQLite database.

foliosync.cli.demo is imported here directly: it still has to be added to
foliosync.cli.main.COMMAND_MODULES (reported to the lead)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import foliosync.cli.demo  # noqa: F401  (adds the `demo` command to the app)
from foliosync.cli.context import LOCAL_USER_EMAIL, console, err_console
from foliosync.cli.main import app
from foliosync.config import get_settings
from foliosync.db.session import engine_for, session_factory
from foliosync.models import BrokerAccount, DailyPrice

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("FOLIOSYNC_USER", raising=False)
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _count(url: str, model: type) -> int:
    with session_factory(engine_for(url))() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_demo_loads_for_the_local_user_reloads_idempotently_and_removes(db_url: str):
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert f"Demo data loaded for {LOCAL_USER_EMAIL}" in first.output
    assert "IBKR Individual (demo)" in first.output and "Fidelity Roth IRA (demo)" in first.output
    bars = _count(db_url, DailyPrice)
    assert _count(db_url, BrokerAccount) == 3 and bars > 10_000

    again = runner.invoke(app, ["demo", "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert [a["broker"] for a in summary["accounts"]] == ["ibkr", "schwab", "fidelity"]
    assert all(c["inserted"] == 0 for a in summary["accounts"] for c in a["counts"].values())
    assert _count(db_url, BrokerAccount) == 3 and _count(db_url, DailyPrice) == bars

    removed = runner.invoke(app, ["demo", "--remove"])
    assert removed.exit_code == 0 and "Removed 3 demo accounts" in removed.output
    assert _count(db_url, BrokerAccount) == 0 and _count(db_url, DailyPrice) == 0


def test_demo_for_an_unknown_user_says_how_to_create_it(db_url: str):
    result = runner.invoke(app, ["demo", "--user", "nobody@example.com"])
    assert result.exit_code == 2
    assert "foliosync users create nobody@example.com" in result.output
