"""init, serve, db upgrade, rebuild."""

from __future__ import annotations

import typer
from rich.progress import Progress

from foliosync.cli.context import cli_engine, cli_settings, console, err_console
from foliosync.cli.main import app
from foliosync.db.migrate import current_revision, upgrade
from foliosync.db.session import engine_for

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def init() -> None:
    """Create the data directory and database, and apply every migration."""
    settings = cli_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = cli_engine(settings)
    console.print(
        f"Database ready at [bold]{engine.url.render_as_string(hide_password=True)}[/] "
        f"(schema {current_revision(engine)})."
    )
    if not settings.encryption_key:
        console.print("[yellow]ENCRYPTION_KEY is not set:[/] development mode derives one from SECRET_KEY.")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Web worker processes (needs REDIS_URL for jobs when > 1)."),
) -> None:
    """Run the web UI and the API (and, without REDIS_URL, the sync jobs) in this process."""
    import uvicorn

    from foliosync.app import create_app

    settings = cli_settings()
    if workers > 1 and not settings.uses_redis:
        err_console.print(
            "[red]--workers > 1 needs REDIS_URL[/]: in-process jobs must run in exactly one process."
        )
        raise typer.Exit(2)
    mode = "Celery workers via REDIS_URL" if settings.uses_redis else "in-process jobs"
    console.print(f"foliosync on [bold]http://{host}:{port}/[/] ({mode}); API docs at /docs.")
    log_level = settings.log_level.lower()
    if workers > 1:
        create_app(settings).state.engine.dispose()  # migrate once, and fail here rather than in a worker
        uvicorn.run(
            "foliosync.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = cli_settings()
    engine = engine_for(settings.database_url)
    upgrade(engine, revision)
    console.print(f"Schema at {current_revision(engine)}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    engine = engine_for(cli_settings().database_url)
    console.print(current_revision(engine) or "empty database")


@app.command()
def rebuild(
    user: str | None = typer.Option(None, "--user", help="Rebuild this user's ledger (default: every user)."),
    clean: bool = typer.Option(False, "--clean", help="Delete derived rows first, so stale ones go too."),
) -> None:
    """Re-derive the ledger from every archived raw payload (after a mapping fix, say)."""
    from foliosync.sync.rebuild import rebuild_ledger

    engine = cli_engine()
    with Progress(console=err_console) as progress:
        task = progress.add_task("Re-deriving", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = rebuild_ledger(engine, user_email=user, clean=clean, on_progress=tick)
    console.print(f"Rebuilt from {result.payloads} payloads: {result.report.written} rows written.")
    if result.skipped_kinds:
        console.print(
            f"No parser for payload kinds: {', '.join(sorted(result.skipped_kinds))} (kept, not re-derived)."
        )
    for name, failure in result.failures:
        err_console.print(f"[red]{name}:[/] {failure}")
    if result.failures:
        raise typer.Exit(1)
