"""Write the demo data set into a user's ledger, and take it out again.

The demo goes through the same path as a real import: canonical Batches written by
`foliosync.ledger.writer.write_batch` into BrokerAccounts created for the user (marked
`details["demo"] = True`), with an AccountSync row each. Loading twice changes nothing (every write
is an upsert by natural key). The caller commits.

Daily prices are shared by every user, so demo bars never overwrite a bar from a real provider:
a (symbol, day) that already has a non-demo bar is skipped, and demo bars carry `source="demo"` so
that they can be told apart and removed (`remove_demo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from foliosync.accounts.service import delete_account
from foliosync.db.upsert import bulk_upsert
from foliosync.demo.dataset import ACCOUNTS, DemoAccount, build_dataset, demo_end
from foliosync.demo.prices import SOURCE, DemoBar
from foliosync.ledger.taxonomy import AccountStatus, SyncStatus
from foliosync.ledger.writer import write_batch
from foliosync.models import AccountSync, BrokerAccount, DailyPrice, User

DEMO_FLAG = "demo"


@dataclass
class DemoAccountSummary:
    account_id: int
    broker: str
    alias: str
    records: int
    counts: dict[str, dict[str, int]]


@dataclass
class DemoSummary:
    end: date
    accounts: list[DemoAccountSummary] = field(default_factory=list)
    price_symbols: int = 0
    price_bars_written: int = 0
    price_bars_skipped: int = 0  # days that already had a bar from a real provider

    def as_dict(self) -> dict[str, Any]:
        return {
            "end": self.end.isoformat(),
            "accounts": [a.__dict__ for a in self.accounts],
            "price_symbols": self.price_symbols,
            "price_bars_written": self.price_bars_written,
            "price_bars_skipped": self.price_bars_skipped,
        }


def is_demo(account: BrokerAccount) -> bool:
    return bool((account.details or {}).get(DEMO_FLAG))


def _demo_account(session: Session, user: User, spec: DemoAccount) -> BrokerAccount:
    account = session.scalar(
        select(BrokerAccount).where(
            BrokerAccount.user_id == user.id,
            BrokerAccount.broker == spec.broker.value,
            BrokerAccount.external_account_id == spec.number,
        )
    )
    if account is None:
        account = BrokerAccount(
            user_id=user.id,
            broker=spec.broker.value,
            external_account_id=spec.number,
            alias=spec.alias,
            base_currency="USD",
            details={DEMO_FLAG: True},
        )
        session.add(account)
        session.flush()
    return account


def write_demo_prices(session: Session, bars: dict[str, list[DemoBar]]) -> tuple[int, int]:
    """Insert (or refresh) demo bars where no real bar exists. Returns (written, skipped)."""
    symbols = sorted(bars)
    first = min(b.bar_date for rows in bars.values() for b in rows)
    real = {
        (symbol, day)
        for symbol, day in session.execute(
            select(DailyPrice.symbol, DailyPrice.bar_date).where(
                DailyPrice.symbol.in_(symbols), DailyPrice.source != SOURCE, DailyPrice.bar_date >= first
            )
        )
    }
    rows = [
        {
            "symbol": bar.symbol,
            "bar_date": bar.bar_date,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "source": SOURCE,
        }
        for symbol in symbols
        for bar in bars[symbol]
        if (bar.symbol, bar.bar_date) not in real
    ]
    bulk_upsert(session, DailyPrice.__table__, rows, ("symbol", "bar_date"))  # type: ignore[arg-type]
    return len(rows), sum(len(v) for v in bars.values()) - len(rows)


def load_demo(session: Session, user: User, *, today: date | None = None) -> DemoSummary:
    """Create the demo accounts for `user` and fill them with a year ending before `today`."""
    now = datetime.now(UTC)
    dataset = build_dataset(demo_end(today or now.date()))
    summary = DemoSummary(end=dataset.end, price_symbols=len(dataset.bars))
    summary.price_bars_written, summary.price_bars_skipped = write_demo_prices(session, dataset.bars)
    for spec in ACCOUNTS:
        batch = dataset.batches[spec.number]
        account = _demo_account(session, user, spec)
        report = write_batch(session, batch, {spec.number: account.id}, user_id=user.id, archive=False)
        account.status = AccountStatus.CONNECTED.value
        account.sync_status = SyncStatus.SUCCESS.value
        account.last_sync_at = now
        account.last_successful_sync = now
        counts = report.as_dict()
        session.add(
            AccountSync(
                account_id=account.id,
                status=SyncStatus.SUCCESS.value,
                trigger="demo",
                queued_at=now,
                started_at=now,
                finished_at=now,
                duration_ms=0,
                counts=counts,
                warnings=["demo data: invented prices and activity"],
            )
        )
        summary.accounts.append(
            DemoAccountSummary(account.id, account.broker, account.alias, batch.record_count(), counts)
        )
    session.flush()
    return summary


def remove_demo(session: Session, user: User) -> int:
    """Delete the user's demo accounts and their ledger rows; drop the demo bars once no user has
    demo accounts left. Returns the number of accounts removed."""
    removed = 0
    for account in session.scalars(select(BrokerAccount).where(BrokerAccount.user_id == user.id)):
        if is_demo(account):
            delete_account(session, account, keep_ledger=False)
            removed += 1
    still_used = any(is_demo(a) for a in session.scalars(select(BrokerAccount)))
    if not still_used:
        session.execute(delete(DailyPrice).where(DailyPrice.source == SOURCE))
    session.flush()
    return removed
