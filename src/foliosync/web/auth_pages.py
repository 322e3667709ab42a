"""Login, logout and the first-user registration page.

Registration is open only while nobody can log in (a new install, or one whose only user is the
CLI's local user without a password): the first person to register becomes the administrator.
After that, an administrator adds people with `foliosync users create EMAIL`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.api.deps import app_settings, db_session
from foliosync.auth.passwords import MIN_PASSWORD_LENGTH
from foliosync.auth.service import authenticate, create_user
from foliosync.config import Settings
from foliosync.errors import FoliosyncError
from foliosync.models import User
from foliosync.web.routing import PageRoute
from foliosync.web.session import (
    check_csrf,
    end_session,
    flash,
    optional_user,
    redirect,
    safe_next,
    start_session,
)
from foliosync.web.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def registration_open(session: Session) -> bool:
    """True while no active user has a password (the CLI's local user has an unusable one, '!...')."""
    usable = session.scalar(
        select(User.id).where(User.is_active.is_(True), ~User.password_hash.startswith("!")).limit(1)
    )
    return usable is None


@router.get("/login")
def login_page(
    request: Request,
    next: str | None = None,
    user: User | None = Depends(optional_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    if user is not None:
        return redirect(request, safe_next(next))
    if registration_open(session):
        return redirect(request, "/register")
    return render(request, settings, "login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
async def login_submit(
    request: Request, session: Session = Depends(db_session), settings: Settings = Depends(app_settings)
) -> Response:
    form = await check_csrf(request, settings, None)
    email = str(form.get("email", "")).strip()
    target = safe_next(str(form.get("next", "/")))
    try:
        user = authenticate(session, email, str(form.get("password", "")))
    except FoliosyncError as exc:
        context = {"next": target, "email": email, "error": exc.message}
        return render(request, settings, "login.html", context, status_code=401)
    start_session(request, settings, user)
    return redirect(request, target)


@router.post("/logout")
async def logout(
    request: Request, user: User | None = Depends(optional_user), settings: Settings = Depends(app_settings)
) -> Response:
    await check_csrf(request, settings, user)
    end_session(request)
    flash(request, settings, "info", "You are logged out.")
    return redirect(request, "/login")


@router.get("/register")
def register_page(
    request: Request,
    user: User | None = Depends(optional_user),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> Response:
    if user is not None:
        return redirect(request, "/")
    context = {"open": registration_open(session), "email": "", "min_length": MIN_PASSWORD_LENGTH}
    return render(request, settings, "register.html", context)


@router.post("/register")
async def register_submit(
    request: Request, session: Session = Depends(db_session), settings: Settings = Depends(app_settings)
) -> Response:
    form = await check_csrf(request, settings, None)
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    context = {"open": registration_open(session), "email": email, "min_length": MIN_PASSWORD_LENGTH}
    if not context["open"]:
        return render(request, settings, "register.html", context, status_code=403)
    if password != str(form.get("password_confirm", "")):
        context["error"] = "The two passwords are different. Type the same password twice."
        return render(request, settings, "register.html", context, status_code=422)
    try:
        user = create_user(session, email, password, is_admin=True)
    except FoliosyncError as exc:
        context["error"] = str(exc)
        return render(request, settings, "register.html", context, status_code=exc.status_code)
    session.commit()
    start_session(request, settings, user)
    flash(request, settings, "ok", f"Welcome, {user.email}. Add your first account below, or load the demo.")
    return redirect(request, "/settings")
