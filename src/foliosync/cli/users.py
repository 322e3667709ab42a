"""foliosync users create / set-password / list."""

from __future__ import annotations

import typer
from sqlalchemy import select

from foliosync.auth.service import create_user, set_password
from foliosync.cli.context import cli_engine, console, err_console
from foliosync.cli.main import app
from foliosync.db.session import session_scope
from foliosync.errors import FoliosyncError
from foliosync.models import User

users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _ask_password() -> str:
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def users_create(
    email: str,
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    password: str | None = typer.Option(None, envvar="FOLIOSYNC_NEW_PASSWORD", hidden=True),
) -> None:
    """Create a user (asks for the password)."""
    engine = cli_engine()
    try:
        with session_scope(engine) as session:
            user = create_user(session, email, password or _ask_password(), is_admin=admin)
            console.print(f"Created user {user.email} (id {user.id}{', admin' if admin else ''}).")
    except FoliosyncError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


@users_app.command("set-password")
def users_set_password(
    email: str, password: str | None = typer.Option(None, envvar="FOLIOSYNC_NEW_PASSWORD", hidden=True)
) -> None:
    """Set a user's password."""
    engine = cli_engine()
    with session_scope(engine) as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            err_console.print(f"[red]No user {email!r}.[/]")
            raise typer.Exit(2)
        try:
            set_password(session, user, password or _ask_password())
        except FoliosyncError as exc:
            err_console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None
    console.print(f"Password set for {email}.")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    engine = cli_engine()
    with session_scope(engine) as session:
        for user in session.scalars(select(User).order_by(User.id)):
            console.print(f"{user.id:>4}  {user.email}{'  (admin)' if user.is_admin else ''}")
