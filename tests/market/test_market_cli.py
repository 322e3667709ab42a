"""`foliosync market refresh`, `foliosync scan` and friends against the loopback vendors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from foliosync.cli.context import console, err_console
from foliosync.cli.main import app
from foliosync.config import get_settings
from foliosync.db.session import engine_for, session_factory
from foliosync.models import DailyPrice, IndexConstituent, IndexRefresh
from tests.fakes.fmp_server import make_bars

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path, monkeypatch, fmp, wiki) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FMP_API_KEY", fmp.api_key)
    monkeypatch.setenv("FMP_API_URL", fmp.url)
    monkeypatch.setenv("WIKIPEDIA_URL", wiki.url)
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _table_rows(output: str) -> list[list[str]]:
    """Body rows of a rich table, as cell texts."""
    return [
        [c.strip() for c in line.strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_refresh_then_prices_then_scan(cli_env, fmp):
    fmp.script("/stable/nasdaq-constituent", 402)  # the NASDAQ-100 comes from Wikipedia instead
    result = runner.invoke(app, ["market", "refresh", "--force"])
    assert result.exit_code == 0, result.output
    rows = {cells[0]: cells[1:5] for cells in _table_rows(result.output) if cells[0]}
    assert rows["SP500"] == ["fmp", "503", "503", "0"]
    assert rows["NASDAQ100"] == ["wikipedia", "101", "101", "0"]
    assert rows["DOW30"] == ["fmp", "30", "30", "0"]
    assert "fallback: fmp: HTTP 402" in result.output
    with session_factory(engine_for(cli_env))() as session:
        assert session.scalar(select(func.count(IndexConstituent.id))) == 503 + 101 + 30
        assert session.scalar(select(func.count(IndexRefresh.id))) == 3

    today = datetime.now(UTC).date()
    for symbol in ("AAPL", "BRK.B"):
        fmp.set_bars(symbol, make_bars(symbol, today - timedelta(days=420), 290, seed=len(symbol)))
    result = runner.invoke(
        app, ["market", "refresh", "--no-constituents", "--prices", "--symbol", "AAPL", "--symbol", "BRK-B"]
    )
    assert result.exit_code == 0, result.output
    with session_factory(engine_for(cli_env))() as session:
        stored = session.scalar(select(func.count(DailyPrice.id)))
        assert stored > 250
    assert f"{stored} bars written; symbols per source: fmp: 2; 0 symbols failed." in result.output

    result = runner.invoke(app, ["scan", "bars >= 250 and atr_14 > 0", "--no-gate", "--universe", "sp500"])
    assert result.exit_code == 0, result.output
    assert [cells[0] for cells in _table_rows(result.output)] == ["BRK.B"]  # AAPL is not in the fake S&P
    assert "matched of" in result.output and "No bars for 502 symbols." in result.output

    result = runner.invoke(app, ["scan", "squeeze"])
    assert result.exit_code == 0, result.output
    assert "passing the gate" in result.output


def test_scan_errors_and_presets(cli_env):
    result = runner.invoke(app, ["scan", "atr_pc > 3"])
    assert result.exit_code == 2
    assert "unknown field 'atr_pc'" in result.output and "did you mean atr_pct" in result.output
    result = runner.invoke(app, ["market", "presets"])
    assert result.exit_code == 0
    for name in ("high_atr_movers", "trend_pullback", "atr_breakout", "golden_cross", "gaps"):
        assert name in result.output
    result = runner.invoke(app, ["market", "refresh", "--index", "FTSE"])
    assert result.exit_code == 2 and "unknown index 'FTSE'" in result.output
