"""Registering users and checking passwords."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from foliosync.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from foliosync.errors import AuthenticationFailed, ConflictError, ValidationFailed
from foliosync.models import User


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed("That does not look like an email address.")
    return email


def create_user(session: Session, email: str, password: str, *, is_admin: bool = False) -> User:
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ConflictError("A user with that email already exists.", hint="Log in instead.")
    user = User(email=email, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    # Verify even for unknown users so the response time does not reveal which emails exist.
    if user is None:
        verify_password(hash_password("timing-equaliser"), password)
        raise AuthenticationFailed("Wrong email or password.")
    if not user.is_active or not verify_password(user.password_hash, password):
        raise AuthenticationFailed("Wrong email or password.")
    return user


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    user.password_hash = hash_password(password)
    session.flush()
