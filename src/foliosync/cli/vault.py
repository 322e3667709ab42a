"""foliosync vault rotate."""

from __future__ import annotations

import typer

from foliosync.cli.context import cli_engine, cli_settings, console
from foliosync.cli.main import app
from foliosync.vault import vault_from_settings
from foliosync.vault.store import rotate_all

vault_app = typer.Typer(help="The encrypted credential vault.", no_args_is_help=True)
app.add_typer(vault_app, name="vault")


@vault_app.command("rotate")
def vault_rotate(
    batch_size: int = typer.Option(200, min=1, help="Credentials re-encrypted per transaction."),
) -> None:
    """Re-encrypt every credential under the first key of ENCRYPTION_KEY.

    Put the new key first and keep the old ones after it (comma-separated) until this finishes.
    Interrupted runs resume where they stopped; plaintext is never written anywhere.
    """
    settings = cli_settings()
    vault = vault_from_settings(settings)
    engine = cli_engine(settings)
    result = rotate_all(
        engine,
        vault,
        batch_size=batch_size,
        on_batch=lambda n: console.print(f"re-encrypted {n} credentials", highlight=False),
    )
    console.print(
        f"Done: {result.rotated} re-encrypted under key {vault.current_key_id}; "
        f"{result.remaining} still under an old key."
    )
    if result.remaining:
        raise typer.Exit(1)
