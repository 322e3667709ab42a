"""foliosync sync / seed / worker / beat / accounts."""

from __future__ import annotations

import os

import typer
from rich.table import Table
from sqlalchemy import select

from foliosync.accounts.service import add_account, list_accounts, reauth_warning
from foliosync.cli.context import cli_engine, cli_settings, console, err_console, resolve_user
from foliosync.cli.main import app
from foliosync.db.session import session_scope
from foliosync.errors import FoliosyncError
from foliosync.models import BrokerAccount
from foliosync.sync.service import request_sync, run_sync
from foliosync.vault import vault_from_settings

accounts_app = typer.Typer(help="Your broker accounts.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")


@accounts_app.command("list")
def accounts_list(user: str | None = typer.Option(None, "--user")) -> None:
    """List accounts with their sync status."""
    engine = cli_engine()
    with session_scope(engine) as session:
        owner = resolve_user(session, user)
        table = Table("id", "broker", "alias", "account", "status", "last sync", "last success", "warning")
        for a in list_accounts(session, owner):
            table.add_row(
                str(a.id),
                a.broker,
                a.alias,
                a.external_account_id or "-",
                a.sync_status,
                f"{a.last_sync_at:%Y-%m-%d %H:%M}" if a.last_sync_at else "never",
                f"{a.last_successful_sync:%Y-%m-%d %H:%M}" if a.last_successful_sync else "never",
                reauth_warning(a) or "",
            )
        console.print(table)


@app.command()
def sync(
    account: list[int] = typer.Option(
        None, "--account", help="Account id(s); default: every syncable account."
    ),
    user: str | None = typer.Option(None, "--user"),
) -> None:
    """Fetch new data now for accounts with stored credentials, in this process."""
    settings = cli_settings()
    engine = cli_engine(settings)
    with session_scope(engine) as session:
        owner = resolve_user(session, user)
        targets = [a for a in list_accounts(session, owner) if not account or a.id in account]
        queued: list[tuple[int, str]] = []
        for target in targets:
            try:
                sync_row, _ = request_sync(session, settings, target, trigger="cli")
                queued.append((sync_row.id, target.alias))
            except FoliosyncError as exc:
                console.print(f"[yellow]{target.alias}:[/] {exc}")
    failed = False
    for sync_id, alias in queued:
        with console.status(f"Syncing {alias}..."):
            outcome = run_sync(engine, settings, sync_id)
        with session_scope(engine) as session:
            from foliosync.models import AccountSync

            row = session.get(AccountSync, sync_id)
            assert row is not None
            colour = {"SUCCESS": "green", "PARTIAL": "yellow"}.get(outcome.status, "red")
            console.print(f"[{colour}]{alias}: {outcome.status}[/] {row.error_message or ''}")
            for table, counts in sorted((row.counts or {}).items()):
                console.print(f"  {table}: {counts}")
            for warning in row.warnings or []:
                console.print(f"  [yellow]{warning}[/]")
            failed |= outcome.status == "FAILED"
    if not queued:
        console.print(
            "Nothing to sync: add an account with credentials first (foliosync seed, or the web UI)."
        )
    if failed:
        raise typer.Exit(1)


# Which environment variable seeds which credential field of a development account, as
# (field, variable) pairs. Only the variables' NAMES live here; their values are never printed.
SEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "ibkr": (("flex_token", "IBKR_FLEX_TOKEN"), ("flex_query_id", "IBKR_FLEX_QUERY_ID")),
    "tastytrade": (
        ("client_secret", "TASTYTRADE_CLIENT_SECRET"),
        ("refresh_token", "TASTYTRADE_REFRESH_TOKEN"),
    ),
}


@app.command()
def seed(user: str | None = typer.Option(None, "--user")) -> None:
    """Create accounts from environment variables (IBKR_FLEX_TOKEN + IBKR_FLEX_QUERY_ID,
    TASTYTRADE_CLIENT_SECRET + TASTYTRADE_REFRESH_TOKEN). Every account behind each credential is
    added on its first sync. No account number ever lives in code or config files."""
    settings = cli_settings()
    engine = cli_engine(settings)
    vault = vault_from_settings(settings)
    created = 0
    with session_scope(engine) as session:
        owner = resolve_user(session, user)
        for broker, fields in SEEDS.items():
            values = {field: os.environ.get(variable, "") for field, variable in fields}
            if not all(values.values()):
                continue
            existing = session.scalar(
                select(BrokerAccount).where(
                    BrokerAccount.user_id == owner.id,
                    BrokerAccount.broker == broker,
                    BrokerAccount.alias == f"{broker} (seeded)",
                )
            )
            if existing is not None:
                console.print(f"{broker}: already seeded (account {existing.id}).")
                continue
            try:
                account = add_account(
                    session, vault, owner, broker=broker, alias=f"{broker} (seeded)", credentials=values
                )
            except FoliosyncError as exc:
                err_console.print(f"[red]{broker}:[/] {exc}")
                continue
            console.print(f"{broker}: added account {account.id}; run `foliosync sync` to fetch it.")
            created += 1
    if not created:
        console.print("Nothing seeded. Set IBKR_FLEX_TOKEN and IBKR_FLEX_QUERY_ID (or the TastyTrade pair).")


@app.command()
def worker(concurrency: int = typer.Option(2, help="Worker processes.")) -> None:
    """Run a Celery worker for sync and market-data jobs (needs REDIS_URL)."""
    settings = cli_settings()
    if not settings.uses_redis:
        err_console.print("[red]REDIS_URL is not set:[/] without it `foliosync serve` runs jobs itself.")
        raise typer.Exit(2)
    from foliosync.worker import celery_app

    celery_app.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}"])


@app.command()
def beat() -> None:
    """Run the Celery beat scheduler: queues due syncs every minute (needs REDIS_URL)."""
    settings = cli_settings()
    if not settings.uses_redis:
        err_console.print(
            "[red]REDIS_URL is not set:[/] without it `foliosync serve` schedules syncs itself."
        )
        raise typer.Exit(2)
    from foliosync.worker import celery_app

    celery_app.start(["beat", "--loglevel=INFO"])
