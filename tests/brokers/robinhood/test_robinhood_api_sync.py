"""The optional robin-stocks sync: feature flag, lazy import, and one process per login.

robin-stocks is not installed; a stand-in package with the same module layout is written to a
temporary directory and put on sys.path, which 'spawn' children inherit. The stand-in keeps its
login in a module global like the real one and refuses a second user in the same process, so the
test fails if two syncs ever share a process. No network is used.
"""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from foliosync.brokers.base import BrokerAuthError, Capability
from foliosync.brokers.robinhood import api_sync
from foliosync.brokers.robinhood.adapter import RobinhoodAdapter, build_manifest
from foliosync.config import Settings
from foliosync.ledger.taxonomy import RecordStatus

STAND_IN = '''
"""Stand-in for robin_stocks.robinhood: module-global login, like the real package."""
import os
from types import SimpleNamespace

LOGGED_IN = None
DATA = {
    "alice": {"account_number": "5QR11111", "qty": "3.5", "avg": "100.00"},
    "bob": {"account_number": "5QR22222", "qty": "10", "avg": "20.50"},
}

def login(username, password, mfa_code=None, store_session=True):
    global LOGGED_IN
    if LOGGED_IN is not None and LOGGED_IN != username:
        raise RuntimeError("another user is already logged in in this process")
    if password != "right-" + username:
        raise Exception("Authentication failed: unable to login")
    assert store_session is False
    LOGGED_IN = username

def logout():
    pass  # the real logout clears the session; keeping it shows the process is thrown away

def _user():
    return DATA[LOGGED_IN]

profiles = SimpleNamespace(load_account_profile=lambda: {"account_number": _user()["account_number"], "pid": os.getpid()})
account = SimpleNamespace(
    get_open_stock_positions=lambda: [
        {"instrument": "https://api.robinhood.com/instruments/abc/", "quantity": _user()["qty"],
         "average_buy_price": _user()["avg"]}
    ],
    get_dividends=lambda: [
        {"id": "div-1-" + LOGGED_IN, "amount": "1.76", "state": "paid", "payable_date": "2025-01-31",
         "instrument": "https://api.robinhood.com/instruments/abc/"},
        {"id": "div-2-" + LOGGED_IN, "amount": "2.00", "state": "pending", "payable_date": "2025-04-30",
         "instrument": "https://api.robinhood.com/instruments/abc/"},
    ],
)
stocks = SimpleNamespace(get_symbol_by_url=lambda url: "SPY")
'''


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    package = tmp_path / "robin_stocks" / "robinhood"
    package.mkdir(parents=True)
    (tmp_path / "robin_stocks" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(textwrap.dedent(STAND_IN))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_disabled_by_default_with_a_clear_way_to_enable() -> None:
    with pytest.raises(api_sync.RobinhoodApiDisabled) as caught:
        api_sync.ensure_available(Settings(feature_robinhood_api=False))
    assert "FEATURE_ROBINHOOD_API=true" in str(caught.value)
    assert "foliosync[robinhood]" in str(caught.value)


def test_flag_on_but_package_missing() -> None:
    with pytest.raises(api_sync.RobinhoodApiDisabled, match="robin-stocks package is not installed"):
        api_sync.ensure_available(Settings(feature_robinhood_api=True))


def test_manifest_offers_sync_only_behind_the_flag() -> None:
    off = build_manifest(Settings(feature_robinhood_api=False))
    on = build_manifest(Settings(feature_robinhood_api=True))
    assert off.capabilities == frozenset({Capability.FILE_IMPORT})
    assert on.capabilities == frozenset({Capability.FILE_IMPORT, Capability.SYNC})
    assert [f.name for f in on.credential_fields] == ["username", "password", "mfa"]
    assert all(f.secret for f in on.credential_fields)
    assert on.import_formats == ("robinhood",)


def test_each_sync_runs_in_its_own_process(stand_in: Path) -> None:
    alice = api_sync.fetch_isolated({"username": "alice", "password": "right-alice"}, timeout=60)
    bob = api_sync.fetch_isolated({"username": "bob", "password": "right-bob"}, timeout=60)

    assert alice["profile"]["account_number"] == "5QR11111"
    assert bob["profile"]["account_number"] == "5QR22222"
    assert alice["profile"]["pid"] != bob["profile"]["pid"]
    assert "robin_stocks" not in sys.modules  # the parent never imported (nor logged into) it

    batch = api_sync.to_batch(alice, now=datetime(2025, 2, 1, 15, tzinfo=UTC))
    assert [a.external_account_id for a in batch.accounts] == ["5QR11111"]
    position = batch.positions[0]
    assert (position.instrument.symbol, position.quantity, position.cost_basis) == (
        "SPY",
        Decimal("3.5"),
        Decimal(350),
    )
    assert [(c.natural_key, c.amount, c.posted_date, c.status) for c in batch.cash] == [
        ("div-1-alice", Decimal("1.76"), date(2025, 1, 31), RecordStatus.POSTED),
        ("div-2-alice", Decimal("2.00"), date(2025, 4, 30), RecordStatus.PENDING),
    ]


def test_refused_login_is_an_auth_error_without_the_password(stand_in: Path) -> None:
    adapter = RobinhoodAdapter(Settings(feature_robinhood_api=True))
    with pytest.raises(BrokerAuthError) as caught:
        adapter.discover_accounts({"username": "alice", "password": "hunter2-wrong"})
    assert "hunter2-wrong" not in str(caught.value)
    assert "reconnect" in str(caught.value)
