"""foliosync live: the IBKR live overlay in the terminal (status, positions, account summary)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal

import typer
from rich.table import Table

from foliosync.brokers.ibkr.live import LiveConnection, LiveStatus, LiveUnavailable
from foliosync.brokers.ibkr.live_records import base_currency
from foliosync.cli.context import cli_settings, console, err_console
from foliosync.cli.main import app


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,}"


def _age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _print_status(status: LiveStatus) -> None:
    colour = {"connected": "green", "degraded": "yellow"}.get(status.state.value, "red")
    console.print(f"[{colour}]{status.state.value.upper()}[/] {status.message}")
    for warning in status.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


def _table(*headers: str) -> Table:
    # Fold rather than ellipsize: a truncated amount would be a wrong amount.
    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _print_data(connection: LiveConnection) -> None:
    now = datetime.now(UTC)
    positions = _table(
        "account", "symbol", "type", "quantity", "avg cost", "price", "value", "unrealized", "as of"
    )
    for p in connection.positions():
        positions.add_row(
            p.account,
            p.contract.display_symbol,
            p.contract.sec_type,
            f"{p.quantity:,}",
            _money(p.average_cost),
            _money(p.market_price),
            _money(p.market_value),
            _money(p.unrealized_pnl),
            f"{_age(p.as_of, now)} ago",
        )
    console.print(positions)
    summary = _table("account", "currency", "net liquidation", "total cash", "buying power", "maint. margin")
    rows = connection.account_summary()
    for account in connection.managed_accounts():
        mine = [r for r in rows if r.account == account]
        currency = base_currency(mine)
        values = {r.tag: r.amount for r in mine if r.currency in (currency, "")}
        summary.add_row(
            account,
            currency or "-",
            _money(values.get("NetLiquidation")),
            _money(values.get("TotalCashValue")),
            _money(values.get("BuyingPower")),
            _money(values.get("MaintMarginReq")),
        )
    console.print(summary)


@app.command()
def live(
    once: bool = typer.Option(False, "--once", help="Print one snapshot and exit."),
    interval: float = typer.Option(30.0, "--interval", min=0.1, help="Seconds between refreshes."),
    wait: float = typer.Option(10.0, "--wait", min=0.0, help="Seconds to wait for TWS/IB Gateway."),
    host: str | None = typer.Option(None, "--host", help="TWS/IB Gateway host (default IBKR_TWS_HOST)."),
    port: int | None = typer.Option(None, "--port", help="API port (default IBKR_TWS_PORT)."),
    client_id: int | None = typer.Option(
        None, "--client-id", help="API client id (default IBKR_TWS_CLIENT_ID)."
    ),
    refreshes: int | None = typer.Option(None, "--refreshes", hidden=True, help="Stop after N refreshes."),
) -> None:
    """Show the IBKR live overlay from TWS / IB Gateway: status, positions, account summary.

    Without --once it refreshes every --interval seconds, reconnecting by itself; Ctrl-C exits."""
    settings = cli_settings()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # ib_async logs expected events (error 354, a dropped socket) as errors; the status says it better.
        logging.getLogger("ib_async").setLevel(logging.CRITICAL)
    connection = LiveConnection(
        host or settings.ibkr_tws_host,
        port or settings.ibkr_tws_port,
        settings.ibkr_tws_client_id if client_id is None else client_id,
        readonly=settings.ibkr_tws_readonly,
    ).start()
    try:
        status = connection.wait_connected(wait)
        _print_status(status)
        if status.connected:
            _print_data(connection)
        elif once:
            raise typer.Exit(1)
        if once:
            return
        done = 0
        while refreshes is None or done < refreshes:
            time.sleep(interval)
            done += 1
            previous, status = status, connection.status()
            if status.connected:
                try:
                    connection.refresh()
                except LiveUnavailable as exc:
                    err_console.print(f"[yellow]Refresh failed:[/] {exc}")
                _print_status(connection.status())
                _print_data(connection)
            elif status.message != previous.message or status.state != previous.state:
                _print_status(status)
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        connection.stop()
