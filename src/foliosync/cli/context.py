"""What every CLI command needs: settings, an engine on an up-to-date schema, and the acting user."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from foliosync.config import Settings, get_settings
from foliosync.db.migrate import upgrade
from foliosync.db.session import engine_for
from foliosync.models import User

console = Console()
err_console = Console(stderr=True)

LOCAL_USER_EMAIL = "local@foliosync.localhost"


def cli_settings() -> Settings:
    settings = get_settings()
    settings.check_production()
    return settings


def cli_engine(settings: Settings | None = None, *, migrate: bool = True) -> Engine:
    settings = settings or cli_settings()
    engine = engine_for(settings.database_url)
    if migrate:
        upgrade(engine)
    return engine


def resolve_user(session: Session, email: str | None) -> User:
    """The user a CLI command acts for: --user, else FOLIOSYNC_USER, else the only user; on a new
    install a local user is created (give it a password with `foliosync users set-password`)."""
    from foliosync.auth.passwords import unusable_password_hash

    email = email or os.environ.get("FOLIOSYNC_USER")
    if email:
        user = session.scalar(select(User).where(User.email == email.lower()))
        if user is None:
            err_console.print(f"[red]No user {email!r}.[/] Create one with: foliosync users create {email}")
            raise typer.Exit(2)
        return user
    count = session.scalar(select(func.count(User.id))) or 0
    if count == 1:
        return session.scalars(select(User)).one()
    if count == 0:
        user = User(email=LOCAL_USER_EMAIL, password_hash=unusable_password_hash(), is_admin=True)
        session.add(user)
        session.flush()
        return user
    err_console.print("[red]Several users exist:[/] say which with --user EMAIL or FOLIOSYNC_USER.")
    raise typer.Exit(2)
