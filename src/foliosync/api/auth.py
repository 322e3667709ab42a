"""POST /api/v1/auth/register, POST /api/v1/auth/login (OAuth2 password form), GET /api/v1/auth/me."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foliosync.api.deps import app_settings, current_user, db_session
from foliosync.auth.service import authenticate, create_user
from foliosync.auth.tokens import issue_access_token
from foliosync.config import Settings
from foliosync.errors import PermissionDenied
from foliosync.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class RegisterIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    email: str
    is_admin: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int


@router.post("/register", status_code=201, response_model=UserOut)
def register(
    body: RegisterIn, session: Session = Depends(db_session), settings: Settings = Depends(app_settings)
) -> UserOut:
    """Create a user. The first user becomes the administrator; after that, registration is open only
    with OPEN_REGISTRATION=true (otherwise an administrator runs `foliosync users create`)."""
    first = session.scalar(select(func.count(User.id))) == 0
    if not first and not settings.open_registration:
        raise PermissionDenied(
            "Registration is closed on this foliosync.",
            hint="Ask the administrator to add you (foliosync users create), or set OPEN_REGISTRATION=true.",
        )
    user = create_user(session, body.email, body.password, is_admin=first)
    session.commit()
    return UserOut(id=user.id, email=user.email, is_admin=user.is_admin)


@router.post("/login", response_model=TokenOut)
def login(
    form: OAuth2PasswordRequestForm = Depends(),
    session: Session = Depends(db_session),
    settings: Settings = Depends(app_settings),
) -> TokenOut:
    user = authenticate(session, form.username, form.password)
    return TokenOut(
        access_token=issue_access_token(settings, user.id), expires_in=settings.access_token_minutes * 60
    )


@router.get("/me", response_model=UserOut)
def me(user: User = Depends(current_user)) -> UserOut:
    return UserOut(id=user.id, email=user.email, is_admin=user.is_admin)
