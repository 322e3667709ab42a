"""Root of the CLI: global options and the command groups."""

from __future__ import annotations

import importlib
import logging

import typer

from foliosync import __version__

app = typer.Typer(
    name="foliosync",
    help="Self-hosted brokerage aggregation: one correct, private ledger of every account you hold.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)

# Each module adds its commands to `app` when imported; a module not written yet is skipped.
COMMAND_MODULES = (
    "foliosync.cli.core",
    "foliosync.cli.imports",
    "foliosync.cli.users",
    "foliosync.cli.vault",
    "foliosync.cli.sync",
    "foliosync.cli.market",
    "foliosync.cli.live",
    "foliosync.cli.demo",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"foliosync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


for _module in COMMAND_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if not (exc.name and exc.name.startswith("foliosync.cli")):
            raise


def main() -> None:
    app()
