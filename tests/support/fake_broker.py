"""A broker adapter for orchestration tests, registered as 'testbroker' (via FOLIOSYNC_PLUGINS in
worker processes). Its behaviour is driven by the credentials it receives, so a test controls a
sync running in another process: `mode` = ok | auth | transient | slow; `accounts` = comma list.
`slow` blocks until the file named by `gate` exists, so a test can kill the worker mid-fetch."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from foliosync.brokers.base import (
    AccountContext,
    BrokerAuthError,
    BrokerManifest,
    BrokerUnavailable,
    Capability,
    CredentialField,
    FetchResult,
)
from foliosync.brokers.registry import register
from foliosync.ledger.records import (
    AccountInfo,
    Batch,
    CashRecord,
    InstrumentRef,
    PositionRecord,
    TradeRecord,
)
from foliosync.ledger.taxonomy import AssetCategory, Broker, CashKind, SourceFormat, TradeKind

MANIFEST = BrokerManifest(
    broker="testbroker",
    display_name="Test Broker",
    credential_fields=(
        CredentialField("api_key", "API key"),
        CredentialField("mode", "Mode", secret=False, required=False),
        CredentialField("accounts", "Accounts", secret=False, required=False),
        CredentialField("gate", "Gate file", secret=False, required=False),
    ),
    capabilities=frozenset({Capability.SYNC}),
)


def sample_batch(numbers: list[str]) -> Batch:
    batch = Batch(broker=Broker.IBKR, source=SourceFormat.API, sections={"trades", "cash", "positions"})
    aapl = InstrumentRef(AssetCategory.STK, "AAPL", "USD")
    for n in numbers:
        batch.accounts.append(AccountInfo(n))
        batch.trades.append(
            TradeRecord(
                account=n,
                natural_key=f"T-{n}-1",
                instrument=aapl,
                kind=TradeKind.BUY,
                side="BUY",
                trade_date=date(2025, 1, 2),
                quantity=Decimal(10),
                price=Decimal("150.25"),
                gross_amount=Decimal("-1502.5"),
                net_amount=Decimal("-1503.5"),
                currency="USD",
                commission=Decimal(-1),
            )
        )
        batch.cash.append(
            CashRecord(
                account=n,
                natural_key=f"C-{n}-1",
                kind=CashKind.DIVIDEND,
                amount=Decimal("2.40"),
                currency="USD",
                posted_date=date(2025, 2, 14),
                instrument=aapl,
            )
        )
        batch.positions.append(
            PositionRecord(
                account=n,
                instrument=aapl,
                as_of_date=date(2025, 3, 1),
                as_of=datetime(2025, 3, 1, 21, tzinfo=UTC),
                quantity=Decimal(10),
                currency="USD",
                mark_price=Decimal("160"),
                market_value=Decimal("1600"),
                cost_basis=Decimal("1503.5"),
            )
        )
    return batch


class TestBrokerAdapter:
    manifest = MANIFEST

    def __init__(self, settings: object = None) -> None:
        self.settings = settings

    def discover_accounts(self, credentials: Mapping[str, str]) -> list[AccountInfo]:
        return [AccountInfo(n) for n in credentials.get("accounts", "TB001").split(",")]

    def fetch(
        self, credentials: Mapping[str, str], account: AccountContext, since: datetime | None
    ) -> FetchResult:
        mode = credentials.get("mode", "ok")
        if mode == "auth":
            raise BrokerAuthError("Test Broker refused the API key.", hint="Create a new key.")
        if mode == "transient":
            raise BrokerUnavailable("Test Broker is down.")
        if mode == "slow":
            gate = credentials["gate"]
            with open(gate + ".started", "w") as f:
                f.write(str(os.getpid()))
            deadline = time.monotonic() + 60
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.05)
        numbers = credentials.get("accounts", "TB001").split(",")
        return FetchResult(batch=sample_batch(numbers), next_cursor={"fetched": len(numbers)})


register(MANIFEST, TestBrokerAdapter)
