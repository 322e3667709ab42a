"""`foliosync market refresh|presets|holdings` and `foliosync scan PRESET|EXPRESSION`."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import Engine

from foliosync.cli.context import cli_engine, cli_settings, console, err_console, resolve_user
from foliosync.cli.main import app
from foliosync.config import Settings
from foliosync.db.session import session_scope
from foliosync.errors import FoliosyncError

market_app = typer.Typer(help="Index constituents, daily bars and ATR scanners.", no_args_is_help=True)
app.add_typer(market_app, name="market")

PRICE_BATCH = 25  # symbols per committed unit of work during a price refresh


@market_app.command("refresh")
def refresh(
    index: list[str] = typer.Option(
        None, "--index", "-i", help="SP500, NASDAQ100 or DOW30 (repeatable; default: all three)."
    ),
    prices: bool = typer.Option(False, "--prices", help="Also fetch new daily bars for the ATR universe."),
    constituents: bool = typer.Option(
        True, "--constituents/--no-constituents", help="Refresh the index member lists."
    ),
    symbol: list[str] = typer.Option(None, "--symbol", "-s", help="Fetch bars for these symbols only."),
    force: bool = typer.Option(False, "--force", help="Ask the providers even if the 24 h cache is warm."),
) -> None:
    """Refresh index constituents (FMP, else Wikipedia) and, with --prices, daily bars."""
    from foliosync.market.constituents.service import refresh_constituents
    from foliosync.market.indices import IndexName

    settings = cli_settings()
    engine = cli_engine(settings)
    try:
        indices = [IndexName.parse(i) for i in index] if index else None
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if constituents:
        with session_scope(engine) as session:
            outcomes = refresh_constituents(session, settings, indices, force=force)
        table = Table("index", "source", "members", "added", "removed", "note")
        for o in outcomes:
            if o.from_cache:
                note = "cached (younger than 24 h; --force to refetch)"
            elif o.applied:
                note = "fallback: " + "; ".join(o.errors) if o.fallback_used else ""
            else:
                note = "[red]not applied, membership unchanged:[/] " + "; ".join(o.errors)
            table.add_row(
                o.index.value,
                o.provider or "-",
                str(o.member_count),
                str(len(o.added) + len(o.reactivated)),
                str(len(o.removed)),
                note,
            )
        console.print(table)
    if prices:
        _refresh_prices(engine, settings, symbol or None)


def _refresh_prices(engine: Engine, settings: Settings, symbols: list[str] | None) -> None:
    from foliosync.market.prices.chain import default_price_chain
    from foliosync.market.prices.service import refresh_prices
    from foliosync.market.scanners.universe import build_universe

    chain = default_price_chain(settings)
    if symbols is None:
        with session_scope(engine) as session:
            symbols = build_universe(session).symbols
    if not symbols:
        err_console.print("[yellow]No symbols to fetch:[/] refresh constituents first, or pass --symbol.")
        return
    console.print(f"Fetching daily bars for {len(symbols)} symbols via {', '.join(chain.names)}.")
    stored = failed = 0
    by_provider: dict[str, int] = {}
    for start in range(0, len(symbols), PRICE_BATCH):
        with session_scope(engine) as session:
            summary = refresh_prices(session, settings, symbols[start : start + PRICE_BATCH], chain=chain)
        stored += summary.counts.written
        for name, count in summary.by_provider().items():
            by_provider[name] = by_provider.get(name, 0) + count
        for outcome in summary.failed:
            failed += 1
            err_console.print(f"[yellow]{outcome.symbol}:[/] {outcome.error}")
    sources = ", ".join(f"{n}: {c}" for n, c in sorted(by_provider.items())) or "none"
    console.print(f"{stored} bars written; symbols per source: {sources}; {failed} symbols failed.")


@market_app.command("presets")
def presets() -> None:
    """List the scan presets and the liquidity gate in front of them."""
    from foliosync.market.scanners.gate import DEFAULT_GATE
    from foliosync.market.scanners.presets import PRESETS

    table = Table("preset", "what", "filter")
    for p in PRESETS.values():
        rank = f" [top {p.rank.top_fraction:.0%} by {p.rank.field}]" if p.rank else ""
        table.add_row(p.name, p.title, p.expression + rank)
    console.print(table)
    console.print(f"Gate: {DEFAULT_GATE.describe()}")


@market_app.command("holdings")
def holdings(
    user: str | None = typer.Option(None, "--user", help="Whose positions (default: the only user)."),
    multiple: float = typer.Option(2.0, "--multiple", "-k", help="Stop distance in ATRs."),
) -> None:
    """ATR, ATR% and the distance to an ATR stop for each held position."""
    from decimal import Decimal

    from foliosync.market.scanners.holdings import holdings_scan

    engine = cli_engine()
    with session_scope(engine) as session:
        owner = resolve_user(session, user)
        rows = holdings_scan(session, owner.id, multiple=Decimal(str(multiple)))
    table = Table("account", "symbol", "qty", "close", "ATR", "ATR%", "stop", "risk", "note")
    for r in rows:
        table.add_row(
            r.account,
            r.symbol,
            str(r.quantity),
            *(
                str(v) if v is not None else "-"
                for v in (r.close, r.atr_14, r.atr_pct, r.stop, r.risk_amount)
            ),
            r.note or "",
        )
    console.print(table)


def _number(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "-"


@app.command("scan")
def scan_command(
    query: str = typer.Argument(
        ..., help="A preset name (see: foliosync market presets) or a filter expression."
    ),
    universe: str | None = typer.Option(
        None, "--universe", "-u", help="SP500, NASDAQ100, DOW30 or HELD (default: indices + holdings)."
    ),
    no_gate: bool = typer.Option(False, "--no-gate", help="Skip the liquidity gate."),
    sort: str | None = typer.Option(None, "--sort", help="Sort key (a field or arithmetic expression)."),
    ascending: bool = typer.Option(False, "--asc", help="Sort ascending."),
    limit: int = typer.Option(30, "--limit", "-n", help="Rows to show."),
    user: str | None = typer.Option(None, "--user", help="Whose holdings for --universe HELD."),
) -> None:
    """Scan stored bars: `foliosync scan high_atr_movers` or `foliosync scan "atr_pct > 3 and rsi_14 < 35"`."""
    from foliosync.market.scanners.gate import DEFAULT_GATE
    from foliosync.market.scanners.presets import PRESETS
    from foliosync.market.scanners.runner import scan

    is_preset = query.strip().lower() in PRESETS
    engine = cli_engine()
    try:
        with session_scope(engine) as session:
            user_id = (
                resolve_user(session, user).id if (universe or "").upper() in ("HELD", "HOLDINGS") else None
            )
            result = scan(
                session,
                preset=query if is_preset else None,
                expression=None if is_preset else query,
                universe=universe,
                user_id=user_id,
                gate=None if no_gate else DEFAULT_GATE,
                sort=sort,
                descending=False if ascending else (True if sort else None),
                limit=limit,
            )
    except FoliosyncError as exc:
        err_console.print(f"[red]{exc.message}[/]")
        if exc.hint:
            err_console.print(exc.hint)
        raise typer.Exit(2) from None
    table = Table(
        "symbol", "close", "ATR", "ATR%", "RSI", "ADX", "perf 20d", "rel vol", "stop (2 ATR)", "indices"
    )
    for row in result.rows:
        table.add_row(
            str(row["symbol"]),
            *(
                _number(row[k])
                for k in ("close", "atr_14", "atr_pct", "rsi_14", "adx_14", "perf_20d", "rel_volume", "stop")
            ),
            ",".join(str(i) for i in row["indices"]) if isinstance(row["indices"], list) else "",
        )
    console.print(table)
    console.print(
        f"{result.matched} matched of {result.passed_gate} passing the gate "
        f"({result.universe_size} symbols, bars as of {result.as_of or 'n/a'})."
        + (f" No bars for {len(result.no_data)} symbols." if result.no_data else "")
    )
