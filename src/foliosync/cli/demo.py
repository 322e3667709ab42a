"""foliosync demo: load (or remove) the demo data set for the CLI's user.

Listed in foliosync.cli.main.COMMAND_MODULES as "foliosync.cli.demo".
"""

from __future__ import annotations

import json

import typer

from foliosync.cli.context import cli_engine, console, resolve_user
from foliosync.cli.main import app
from foliosync.db.session import session_scope
from foliosync.demo import load_demo, remove_demo


@app.command()
def demo(
    user: str | None = typer.Option(None, "--user", help="Load it for this user (default: the only user)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the demo accounts instead."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Load a demo data set: three invented accounts (IBKR, Schwab, Fidelity), a year of activity
    and daily prices, so every page and scan has something to show. Loading twice changes nothing."""
    engine = cli_engine()
    with session_scope(engine) as session:
        acting = resolve_user(session, user)
        if remove:
            removed = remove_demo(session, acting)
            console.print(f"Removed {removed} demo account{'s' if removed != 1 else ''} of {acting.email}.")
            return
        summary = load_demo(session, acting)
        email = acting.email
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    console.print(f"Demo data loaded for [bold]{email}[/] (activity up to {summary.end.isoformat()}):")
    for account in summary.accounts:
        console.print(f"  account {account.account_id}: {account.alias} ({account.records} records)")
    console.print(
        f"  daily prices: {summary.price_symbols} symbols, {summary.price_bars_written} bars written"
        + (
            f", {summary.price_bars_skipped} days kept from a real provider"
            if summary.price_bars_skipped
            else ""
        )
    )
    console.print(
        "Open the web UI with [bold]foliosync serve[/], or remove it with [bold]foliosync demo --remove[/]."
    )
