"""Shared helpers for the IBKR Flex tests: fixture paths, a user, and an import helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from foliosync.brokers.ibkr.flex_format import FORMAT_NAME
from foliosync.importers import get_format
from foliosync.models import User
from foliosync.sync.importing import ImportSummary, import_files

DATA = Path(__file__).resolve().parents[2] / "data" / "ibkr"
FIXTURES = sorted(DATA.glob("*/*.xml"))


@pytest.fixture
def user(session: Session) -> User:
    owner = User(email="investor@example.com", password_hash="x")
    session.add(owner)
    session.commit()
    return owner


def import_flex(session: Session, owner: User, *files: tuple[str, bytes]) -> ImportSummary:
    # reparse: repeated imports here test parsing and the upsert (replays: tests/sync/test_import_replay.py).
    summary = import_files(session, owner, get_format(FORMAT_NAME), list(files), reparse=True)
    session.commit()
    return summary


def written(summary: ImportSummary) -> int:
    return sum(c["inserted"] + c["updated"] for a in summary.accounts for c in a.counts.values())
