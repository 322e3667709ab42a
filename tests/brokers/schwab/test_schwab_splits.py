"""A split is stored once and never adjusts anything twice, however often and over whatever
overlapping windows the account syncs (the earlier implementation multiplied the stored position by
the ratio on every sync). Runs on SQLite and PostgreSQL through the adapter, the fake and the writer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from foliosync.brokers.base import AccountContext
from foliosync.brokers.schwab.adapter import SchwabAdapter
from foliosync.brokers.schwab.oauth import TokenSet
from foliosync.db.upsert import UpsertReport
from foliosync.ledger.lot_store import rebuild_computed_lots
from foliosync.ledger.taxonomy import CorporateActionKind
from foliosync.ledger.writer import write_batch
from foliosync.models import BrokerAccount, CorporateAction, Position, TaxLot, Trade, User
from tests.brokers.schwab.conftest import schwab_settings
from tests.fakes.schwab_server import FakeSchwab

NUMBER = "12345678"
HASH = "A1B2C3D4E5F6SYNTHETICHASH0000000000000000000000000000000000000001"
NOW = datetime(2024, 7, 15, 20, 0, tzinfo=UTC)
D = Decimal


def aapl(amount: float, cost: float = 0, price: float | None = None, effect: str | None = None) -> dict:
    leg: dict = {
        "instrument": {
            "assetType": "EQUITY",
            "symbol": "AAPL",
            "cusip": "037833100",
            "description": "APPLE INC",
        },
        "amount": amount,
        "cost": cost,
    }
    if price is not None:
        leg["price"] = price
    if effect:
        leg["positionEffect"] = effect
    return leg


def split_history(description: str) -> tuple[dict, list[dict]]:
    """Bought 100 AAPL at 200 (+$1 commission), then a 4-for-1 split added 300 shares; Schwab
    now reports 400 shares at an average of 50."""
    buy = {
        "activityId": 8001,
        "time": "2024-05-01T14:00:00+0000",
        "accountNumber": NUMBER,
        "type": "TRADE",
        "status": "VALID",
        "tradeDate": "2024-05-01T04:00:00+0000",
        "netAmount": -20001.0,
        "activityType": "EXECUTION",
        "transferItems": [
            {
                "instrument": {"assetType": "CURRENCY", "symbol": "CURRENCY_USD"},
                "amount": 1,
                "cost": -1.0,
                "feeType": "COMMISSION",
            },
            aapl(100, -20000.0, 200.0, "OPENING"),
        ],
    }
    split = {
        "activityId": 8002,
        "time": "2024-06-10T10:00:00+0000",
        "accountNumber": NUMBER,
        "type": "RECEIVE_AND_DELIVER",
        "status": "VALID",
        "tradeDate": "2024-06-10T04:00:00+0000",
        "netAmount": 0,
        "activityType": "TRANSFER",
        "description": description,
        "transferItems": [aapl(300)],
    }
    account = {
        "securitiesAccount": {
            "type": "MARGIN",
            "accountNumber": NUMBER,
            "positions": [
                {
                    "shortQuantity": 0,
                    "longQuantity": 400,
                    "averagePrice": 50.0025,
                    "averageLongPrice": 50.0025,
                    "marketValue": 90000.0,
                    "longOpenProfitLoss": 69999.0,
                    "instrument": {"assetType": "EQUITY", "symbol": "AAPL", "cusip": "037833100"},
                }
            ],
            "currentBalances": {"cashBalance": 1000.0, "liquidationValue": 91000.0},
        },
        "aggregatedBalance": {"liquidationValue": 91000.0},
    }
    return account, [buy, split]


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("STOCK SPLIT 4 FOR 1", id="ratio-in-text"),
        pytest.param("FORWARD SPLIT", id="ratio-from-holdings"),
    ],
)
def test_a_split_is_stored_once_and_never_applied_twice(
    engine: Engine, fake: FakeSchwab, description: str
) -> None:
    account_payload, transactions = split_history(description)
    fake.accounts[HASH].payload = account_payload
    fake.accounts[HASH].transactions = transactions
    settings = schwab_settings(engine.url.render_as_string(hide_password=False), fake)
    issued = fake.issue_tokens()
    credentials = TokenSet(
        issued["access_token"],
        issued["refresh_token"],
        datetime.now(UTC) + timedelta(minutes=30),
        NOW - timedelta(days=1),
    ).to_credentials()
    adapter = SchwabAdapter(settings, clock=lambda: NOW, sleep=lambda _s: None)
    with Session(engine) as session:
        user = User(email="splits@example.com", password_hash="!")
        session.add(user)
        session.flush()
        account = BrokerAccount(
            user_id=user.id, broker="schwab", external_account_id=NUMBER, details={"account_hash": HASH}
        )
        session.add(account)
        session.commit()
        account_id, user_id = account.id, user.id
    context = AccountContext(account_id, NUMBER, details={"account_hash": HASH})

    def sync(since: datetime | None) -> UpsertReport:
        result = adapter.fetch(credentials, context, since)
        with Session(engine) as session:
            report = write_batch(session, result.batch, {NUMBER: account_id}, user_id=user_id)
            session.commit()
        return report

    first = sync(None)  # the initial two-year backfill: buy and split
    later = [
        sync(datetime(2024, 6, 5, tzinfo=UTC)),  # an incremental window that holds the split only
        sync(datetime(2024, 6, 12, tzinfo=UTC)),  # overlapping it again (7-day overlap reaches back)
        sync(None),  # the whole history once more
    ]

    assert first.as_dict()["corporate_actions"]["inserted"] == 1
    for report in later:
        counts = report.as_dict()
        assert counts["corporate_actions"]["inserted"] == 0
        assert counts.get("trades", {}).get("inserted", 0) == 0
    with Session(engine) as session:
        actions = session.scalars(
            select(CorporateAction).where(CorporateAction.account_id == account_id)
        ).all()
        assert [
            (a.natural_key, a.kind, a.ratio, a.quantity, a.effective_date, a.action_id) for a in actions
        ] == [("8002:corporate_action:STK:AAPL:USD", "SPLIT", D(4), D(300), date(2024, 6, 10), None)]
        trades = session.scalars(select(Trade).where(Trade.account_id == account_id)).all()
        assert [(t.natural_key, t.quantity) for t in trades] == [("8001:trade:STK:AAPL:USD", D(100))]
        # The position is Schwab's own, already split: stored as reported, not 1,600 or 6,400.
        positions = session.scalars(select(Position).where(Position.account_id == account_id)).all()
        assert [(p.quantity, p.as_of_date) for p in positions] == [(D(400), date(2024, 7, 15))]
        # Lots are derived from everything stored (the sync service does this after each write),
        # by the shared FIFO engine over the stored trades and the stored set of actions. Twice,
        # to show the derivation is idempotent too.
        account = session.get(BrokerAccount, account_id)
        assert account is not None
        for _ in range(2):
            rebuild_computed_lots(session, account, "api")
            session.commit()
        lots = session.scalars(select(TaxLot).where(TaxLot.account_id == account_id)).all()
        assert [
            (lot.natural_key, lot.lot_status, lot.quantity, lot.cost_basis, lot.open_date) for lot in lots
        ] == [("lot:8001:trade:STK:AAPL:USD", "OPEN", D(400), D("20001"), date(2024, 5, 1))]


def test_a_reverse_split_under_a_new_cusip_pairs_two_legs_into_one_event() -> None:
    from foliosync.brokers.schwab.transactions import normalize_transactions

    old = {
        "instrument": {"assetType": "EQUITY", "symbol": "XYZ", "cusip": "111111111"},
        "amount": -1000,
        "cost": 0,
    }
    new = {
        "instrument": {"assetType": "EQUITY", "symbol": "XYZN", "cusip": "222222222"},
        "amount": 100,
        "cost": 0,
    }
    row = {
        "activityId": 9100,
        "time": "2024-08-01T10:00:00+0000",
        "accountNumber": NUMBER,
        "type": "RECEIVE_AND_DELIVER",
        "status": "VALID",
        "tradeDate": "2024-08-01T04:00:00+0000",
        "netAmount": 0,
        "description": "REVERSE SPLIT EFF: 08/01/24",
        "transferItems": [old, new],
    }
    actions = normalize_transactions([row], NUMBER, {"STK:XYZN:USD": D(100)}).corporate_actions
    assert sorted((a.natural_key, a.quantity, a.action_id, a.ratio) for a in actions) == [
        ("9100:corporate_action:STK:XYZ:USD", D(-1000), "9100", D("0.1")),
        ("9100:corporate_action:STK:XYZN:USD", D(100), "9100", D("0.1")),
    ]
    assert all(a.kind is CorporateActionKind.REVERSE_SPLIT and a.needs_review for a in actions)
