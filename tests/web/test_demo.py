"""The demo data set: deterministic, internally consistent, loaded through the ledger writer,
idempotent, and never overwriting real market data."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from foliosync.db.session import session_scope
from foliosync.demo import is_demo, load_demo, remove_demo
from foliosync.demo.catalog import BY_SYMBOL
from foliosync.demo.dataset import ACCOUNTS, IBKR, build_dataset, demo_end
from foliosync.ledger.taxonomy import CashKind
from foliosync.market.scanners.runner import scan
from foliosync.models import AccountSync, BrokerAccount, CashTransaction, DailyPrice, Trade, User
from foliosync.portfolio.holdings import consolidated_holdings
from foliosync.portfolio.income import add_months, monthly_income
from tests.web.conftest import DEMO_TODAY

D = Decimal
END = demo_end(DEMO_TODAY)


def test_demo_end_is_the_last_weekday_before_today():
    assert demo_end(date(2025, 6, 16)) == date(2025, 6, 13)  # Monday -> Friday
    assert demo_end(date(2025, 6, 18)) == date(2025, 6, 17)


def test_same_end_gives_the_same_data_set():
    first, second = build_dataset(END), build_dataset(END)
    assert first.bars == second.bars
    assert first.batches == second.batches
    assert build_dataset(END + timedelta(days=7)).bars != first.bars


def test_every_account_is_consistent_with_its_own_records():
    dataset = build_dataset(END)
    assert set(dataset.batches) == {a.number for a in ACCOUNTS}
    for number, batch in dataset.batches.items():
        cash_effects = sum((c.amount for c in batch.cash), D(0)) + sum(
            (t.net_amount for t in batch.trades), D(0)
        )
        (balance,) = batch.balances
        assert balance.cash == cash_effects, number
        assert balance.cash > 0, number
        traded: dict[str, Decimal] = defaultdict(Decimal)
        for trade in batch.trades:
            assert trade.gross_amount == -trade.quantity * trade.price * trade.instrument.multiplier
            assert trade.net_amount == trade.gross_amount + trade.commission + trade.regulatory_fees
            traded[trade.instrument.symbol] += trade.quantity
        held = {p.instrument.symbol: p for p in batch.positions}
        assert {s: q for s, q in traded.items() if q} == {s: p.quantity for s, p in held.items()}
        market = D(0)
        for position in batch.positions:
            assert (
                position.market_value
                == position.quantity * position.mark_price * position.instrument.multiplier
            )
            assert position.unrealized_pnl == position.market_value - position.cost_basis
            market += position.market_value
        assert balance.net_liquidation == balance.cash + market


def test_dividends_follow_holdings_with_treaty_withholding_and_one_payment_in_lieu():
    ibkr = build_dataset(END).batches[IBKR.number]
    by_key = {c.natural_key: c for c in ibkr.cash}
    withheld = [c for c in ibkr.cash if c.kind is CashKind.WITHHOLDING_TAX]
    assert {c.instrument.symbol for c in withheld} == {"ASML", "TSM", "NVS"}
    for tax in withheld:
        dividend = by_key[tax.related_key]
        rate = BY_SYMBOL[tax.instrument.symbol].withholding_rate
        assert tax.amount == -(dividend.amount * rate).quantize(D("0.01"))
        assert (tax.posted_date, tax.action_id) == (dividend.posted_date, dividend.action_id)
    in_lieu = [c for c in ibkr.cash if c.kind is CashKind.PAYMENT_IN_LIEU]
    assert [c.instrument.symbol for c in in_lieu] == ["MSFT"]
    assert in_lieu[0].amount == 60 * BY_SYMBOL["MSFT"].dividend  # 60 shares held all year
    nvs = [c for c in ibkr.cash if c.kind is CashKind.DIVIDEND and c.instrument.symbol == "NVS"]
    assert [c.amount for c in nvs] == [100 * BY_SYMBOL["NVS"].dividend]  # paid once a year


def test_bars_are_well_formed_weekday_sessions():
    dataset = build_dataset(END)
    for symbol, bars in dataset.bars.items():
        assert bars[-1].bar_date == END
        assert all(b.bar_date.weekday() < 5 for b in bars)
        assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars), symbol
        assert len(bars) >= 400  # enough for SMA(200) and a 52-week range over the whole year


def test_load_writes_through_the_ledger_idempotently_and_reads_back_exactly(engine):
    dataset = build_dataset(END)
    with session_scope(engine) as session:
        user = User(email="demo@example.com", password_hash="x")
        session.add(user)
        session.flush()
        first = load_demo(session, user, today=DEMO_TODAY)
        second = load_demo(session, user, today=DEMO_TODAY)
        accounts = list(session.scalars(select(BrokerAccount).where(BrokerAccount.user_id == user.id)))
        holdings = consolidated_holdings(session, user.id)
        income = monthly_income(session, user.id, end=END, months=12)
        trades = session.scalar(select(func.count(Trade.id)))
        syncs = session.scalar(select(func.count(AccountSync.id)))
        bars = session.scalar(select(func.count(DailyPrice.id)).where(DailyPrice.source == "demo"))

    assert first.end == END and len(first.accounts) == 3
    assert {(a.broker, a.alias) for a in accounts} == {(s.broker.value, s.alias) for s in ACCOUNTS}
    assert all(is_demo(a) and a.status == "CONNECTED" for a in accounts)
    # The second load found every row already there, unchanged.
    for summary in second.accounts:
        for table, counts in summary.counts.items():
            assert counts["inserted"] == 0, table
            if table not in ("positions", "balances", "instruments"):
                assert counts["updated"] == 0, table
    assert trades == sum(len(b.trades) for b in dataset.batches.values())
    assert syncs == 6
    assert bars == sum(len(v) for v in dataset.bars.values()) == first.price_bars_written

    expected_value = sum((p.market_value for b in dataset.batches.values() for p in b.positions), D(0))
    assert sum((h.market_value_base for h in holdings), D(0)) == expected_value
    first_month = add_months(END.replace(day=1), -11)
    counted = (CashKind.DIVIDEND, CashKind.PAYMENT_IN_LIEU, CashKind.WITHHOLDING_TAX)
    expected_income = sum(
        (
            c.amount
            for b in dataset.batches.values()
            for c in b.cash
            if c.kind in counted and first_month <= c.posted_date <= END
        ),
        D(0),
    )
    assert income.net == expected_income > 0


def test_demo_bars_never_replace_a_real_providers_bar_and_removal_cleans_up(engine):
    with session_scope(engine) as session:
        real = DailyPrice(
            symbol="AAPL",
            bar_date=END,
            open=D("1.00"),
            high=D("2.00"),
            low=D("0.50"),
            close=D("1.50"),
            volume=10,
            source="fmp",
        )
        session.add(real)
        user = User(email="demo2@example.com", password_hash="x")
        keeper = User(email="keeper@example.com", password_hash="x")
        session.add_all([user, keeper])
        session.flush()
        summary = load_demo(session, user, today=DEMO_TODAY)
        load_demo(session, keeper, today=DEMO_TODAY)
        kept_close = session.scalar(
            select(DailyPrice.close).where(DailyPrice.symbol == "AAPL", DailyPrice.bar_date == END)
        )
        assert summary.price_bars_skipped == 1 and kept_close == D("1.50")

        assert remove_demo(session, user) == 3
        assert session.scalar(select(func.count(DailyPrice.id)).where(DailyPrice.source == "demo")) > 0
        assert remove_demo(session, keeper) == 3
        left = session.execute(select(DailyPrice.symbol, DailyPrice.source)).all()
        cash_left = session.scalar(select(func.count(CashTransaction.id)))
    assert left == [("AAPL", "fmp")]
    assert cash_left == 0


def test_demo_prices_give_the_scanner_something_to_find(engine):
    with session_scope(engine) as session:
        user = User(email="scan@example.com", password_hash="x")
        session.add(user)
        session.flush()
        load_demo(session, user, today=DEMO_TODAY)
        user_id = user.id
    # Committed first: on PostgreSQL the scanner reads bars over parallel connections.
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        symbols = sorted(BY_SYMBOL)
        movers = scan(session, preset="high_atr_movers", universe=symbols, user_id=user.id)
        held = scan(session, expression="atr_pct > 0", universe="HELD", user_id=user.id, gate=None, limit=100)
    # Only symbols whose last session had heavy volume can qualify (relative volume >= 1.5): the
    # catalog gives TSLA, AMD and NVDA one, and the highest ATR% of the gated universe is among them.
    assert movers.rows and {r["symbol"] for r in movers.rows} <= {"TSLA", "AMD", "NVDA"}
    assert all(r["rel_volume"] >= 1.5 for r in movers.rows)
    # Every held stock or fund is in the HELD universe (the option counts by its underlying, AAPL).
    held_symbols = {
        s
        for b in build_dataset(END).batches.values()
        for s in (p.instrument.underlying_symbol or p.instrument.symbol for p in b.positions)
    }
    assert {r["symbol"] for r in held.rows} == held_symbols


def test_loading_uses_the_current_day_when_not_told(engine):
    with session_scope(engine) as session:
        user = User(email="now@example.com", password_hash="x")
        session.add(user)
        session.flush()
        summary = load_demo(session, user)
    today = datetime.now(UTC).date()
    assert summary.end < today and (today - summary.end).days <= 3
