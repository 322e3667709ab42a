from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from foliosync.models import User


def test_user_round_trips_on_both_engines(session):
    session.add(User(email="a@example.com", password_hash="x"))
    session.commit()
    user = session.scalars(select(User)).one()
    assert user.email == "a@example.com"
    assert user.created_at.tzinfo is UTC
    assert user.created_at <= datetime.now(UTC)
    assert Decimal("1") == 1
