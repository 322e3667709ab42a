"""The FIFO lot engine against hand-computed examples (shared taxonomy.md §6)."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal as D

from foliosync.ledger.lots import closed_lot_key, compute_lots, open_lot_key
from foliosync.ledger.records import (
    CorporateActionRecord,
    InstrumentRef,
    OptionEventRecord,
    TradeRecord,
    TransferRecord,
)
from foliosync.ledger.taxonomy import (
    AssetCategory,
    CorporateActionKind,
    FlowScope,
    LotOrigin,
    LotStatus,
    RecordStatus,
    TradeKind,
    TransferDirection,
)

ACCT = "U1"
AAPL = InstrumentRef(AssetCategory.STK, "AAPL")
SPY = InstrumentRef(AssetCategory.STK, "SPY")
SPY_PUT = InstrumentRef(
    AssetCategory.OPT,
    "SPY   250117P00450000",
    underlying_symbol="SPY",
    strike=D(450),
    expiry=date(2025, 1, 17),
    put_call="P",
    multiplier=D(100),
)
SPY_CALL = InstrumentRef(
    AssetCategory.OPT,
    "SPY   250117C00650000",
    underlying_symbol="SPY",
    strike=D(650),
    expiry=date(2025, 1, 17),
    put_call="C",
    multiplier=D(100),
)


def trade(
    key: str, day: date, kind: TradeKind, qty: str, price: str, net: str, inst: InstrumentRef = AAPL
) -> TradeRecord:
    quantity = D(qty)
    gross = -quantity * D(price) * inst.multiplier
    return TradeRecord(
        account=ACCT,
        natural_key=key,
        instrument=inst,
        kind=kind,
        side="BUY" if quantity > 0 else "SELL",
        trade_date=day,
        quantity=quantity,
        price=D(price),
        gross_amount=gross,
        net_amount=D(net),
        currency="USD",
        commission=D(net) - gross,
    )


def test_fifo_partial_close_with_fees() -> None:
    trades = [
        trade("b1", date(2024, 1, 2), TradeKind.BUY, "10", "10", "-101"),
        trade("b2", date(2024, 1, 3), TradeKind.BUY, "10", "12", "-121"),
        trade("s1", date(2024, 2, 1), TradeKind.SELL, "-15", "15", "224"),
    ]
    result = compute_lots(trades)

    closed = result.closed_lots()
    assert [
        (c.quantity, c.cost_basis, c.proceeds, c.realized_pnl, c.opening_trade_key) for c in closed
    ] == sorted(
        [
            (D(10), D(101), D("149.33333333"), D("48.33333333"), "b1"),
            (D(5), D("60.5"), D("74.66666667"), D("14.16666667"), "b2"),
        ],
        key=lambda row: closed_lot_key(open_lot_key(row[4]), "s1"),
    )
    assert result.realized == {(ACCT, AAPL.key): D("62.5")}  # 224 - 101 - 60.5, exact
    (still_open,) = result.open_lots()
    assert (still_open.quantity, still_open.cost_basis, still_open.open_date) == (
        D(5),
        D("60.5"),
        date(2024, 1, 3),
    )
    assert still_open.natural_key == "lot:b2"
    assert still_open.as_of_date == date(2024, 2, 1)
    assert all(
        lot.origin is LotOrigin.COMPUTED and lot.closing_trade_key in (None, "s1") for lot in result.lots
    )


def test_short_stock_lot_and_cover() -> None:
    result = compute_lots(
        [
            trade("ss", date(2024, 3, 1), TradeKind.SELL_SHORT, "-10", "20", "199"),
            trade("bc", date(2024, 3, 8), TradeKind.BUY_TO_COVER, "10", "15", "-151"),
        ]
    )
    (closed,) = result.lots
    assert (closed.lot_status, closed.quantity, closed.cost_basis, closed.proceeds, closed.realized_pnl) == (
        LotStatus.CLOSED,
        D(-10),
        D(-199),
        D(-151),
        D(48),
    )


def test_open_short_lot_has_negative_quantity_and_basis() -> None:
    result = compute_lots([trade("ss", date(2024, 3, 1), TradeKind.SELL_SHORT, "-10", "20", "199")])
    (lot,) = result.open_lots()
    assert (lot.quantity, lot.cost_basis) == (D(-10), D(-199))


def test_split_by_ratio_keeps_basis_keys_and_open_dates() -> None:
    split = CorporateActionRecord(
        account=ACCT,
        natural_key="split",
        kind=CorporateActionKind.SPLIT,
        effective_date=date(2024, 6, 10),
        instrument=AAPL,
        ratio=D(4),
    )
    result = compute_lots(
        [
            trade("b1", date(2024, 1, 2), TradeKind.BUY, "10", "100", "-1000"),
            trade("b2", date(2024, 2, 2), TradeKind.BUY, "5", "110", "-550"),
            trade("s1", date(2024, 7, 1), TradeKind.SELL, "-50", "30", "1500"),
        ],
        [split],
    )
    closed = sorted(result.closed_lots(), key=lambda lot: lot.open_date or date.min)
    assert [(c.quantity, c.cost_basis, c.proceeds, c.realized_pnl, c.open_date) for c in closed] == [
        (D(40), D(1000), D(1200), D(200), date(2024, 1, 2)),  # 10 x 4 shares, basis unchanged
        (D(10), D(275), D(300), D(25), date(2024, 2, 2)),  # half of 5 x 4, half of 550
    ]
    (rest,) = [lot for lot in result.lots if lot.natural_key == "lot:b2"]
    assert (rest.lot_status, rest.quantity, rest.cost_basis, rest.open_date) == (
        LotStatus.OPEN,
        D(10),  # 5 x 4 = 20, 10 of them sold
        D(275),  # 550 / 2
        date(2024, 2, 2),
    )


def test_split_from_shares_added_like_robinhood_spl() -> None:
    spl = CorporateActionRecord(
        account=ACCT,
        natural_key="spl",
        kind=CorporateActionKind.SPLIT,
        effective_date=date(2024, 6, 10),
        instrument=AAPL,
        quantity=D(90),
    )
    result = compute_lots(
        [
            trade("b1", date(2024, 1, 2), TradeKind.BUY, "4", "100", "-400"),
            trade("b2", date(2024, 1, 3), TradeKind.BUY, "6", "100", "-600"),
        ],
        [spl],
    )
    assert [(lot.quantity, lot.cost_basis) for lot in result.open_lots()] == [
        (D(40), D(400)),
        (D(60), D(600)),
    ]


def test_paired_reverse_split_moves_lots_to_the_new_leg() -> None:
    old_cusip = InstrumentRef(AssetCategory.STK, "890260854", cusip="890260854")
    legs = [
        CorporateActionRecord(
            account=ACCT,
            natural_key="new",
            kind=CorporateActionKind.REVERSE_SPLIT,
            effective_date=date(2024, 6, 10),
            instrument=AAPL,
            action_id="g1",
            quantity=D(10),
        ),
        CorporateActionRecord(
            account=ACCT,
            natural_key="old",
            kind=CorporateActionKind.REVERSE_SPLIT,
            effective_date=date(2024, 6, 10),
            instrument=old_cusip,
            action_id="g1",
            quantity=D(-100),
        ),
    ]
    result = compute_lots([trade("b1", date(2024, 1, 2), TradeKind.BUY, "100", "1", "-100")], legs)
    (lot,) = result.open_lots()
    assert (lot.instrument.key, lot.quantity, lot.cost_basis) == (AAPL.key, D(10), D(100))


def test_long_option_expires_worthless_realizes_the_premium_paid() -> None:
    result = compute_lots(
        [
            trade("bto", date(2025, 1, 2), TradeKind.BUY_TO_OPEN, "1", "2", "-200.65", SPY_CALL),
            trade("exp", date(2025, 1, 17), TradeKind.OPTION_EXPIRATION, "-1", "0", "0", SPY_CALL),
        ]
    )
    (closed,) = result.lots
    assert (closed.cost_basis, closed.proceeds, closed.realized_pnl) == (D("200.65"), D(0), D("-200.65"))


def test_short_option_expiry_closes_the_short_whatever_the_sign_given() -> None:
    # Robinhood's OEXP does not say long or short; the open lots decide.
    result = compute_lots(
        [
            trade("sto", date(2025, 1, 2), TradeKind.SELL_TO_OPEN, "-2", "2.5", "499.34", SPY_CALL),
            trade("exp", date(2025, 1, 17), TradeKind.OPTION_EXPIRATION, "-2", "0", "0", SPY_CALL),
        ]
    )
    (closed,) = result.lots
    assert (closed.quantity, closed.cost_basis, closed.realized_pnl) == (D(-2), D("-499.34"), D("499.34"))
    assert result.realized == {(ACCT, SPY_CALL.key): D("499.34")}


def test_assigned_short_put_folds_the_premium_into_the_stock_basis() -> None:
    trades = [
        trade("sto", date(2025, 1, 2), TradeKind.SELL_TO_OPEN, "-1", "2.5", "249.95", SPY_PUT),
        trade("asg", date(2025, 1, 17), TradeKind.OPTION_ASSIGNMENT, "1", "0", "0", SPY_PUT),
        trade("stk", date(2025, 1, 17), TradeKind.BUY, "100", "450", "-45000", SPY),
    ]
    event = OptionEventRecord(
        account=ACCT,
        natural_key="ev",
        instrument=SPY_PUT,
        kind="ASSIGNMENT",  # type: ignore[arg-type]
        event_date=date(2025, 1, 17),
        quantity=D(1),
        option_trade_key="asg",
        underlying_trade_key="stk",
    )
    result = compute_lots(list(reversed(trades)), option_events=[event])

    option = next(lot for lot in result.lots if lot.instrument.key == SPY_PUT.key)
    assert (option.lot_status, option.cost_basis, option.proceeds, option.realized_pnl) == (
        LotStatus.CLOSED,
        D("-249.95"),
        D("-249.95"),
        D(0),
    )
    stock = next(lot for lot in result.lots if lot.instrument.key == SPY.key)
    assert (stock.lot_status, stock.quantity, stock.cost_basis) == (LotStatus.OPEN, D(100), D("44750.05"))
    assert result.warnings == []


def test_unlinked_assignment_is_flagged_and_realized_on_the_option() -> None:
    result = compute_lots(
        [
            trade("sto", date(2025, 1, 2), TradeKind.SELL_TO_OPEN, "-1", "2.5", "249.95", SPY_PUT),
            trade("asg", date(2025, 1, 17), TradeKind.OPTION_ASSIGNMENT, "1", "0", "0", SPY_PUT),
        ]
    )
    (closed,) = result.lots
    assert (closed.realized_pnl, closed.needs_review) == (D("249.95"), True)
    assert any("no linked stock trade" in w for w in result.warnings)


def test_same_day_buy_is_matched_before_the_sell_whatever_the_file_order() -> None:
    day = date(2024, 5, 1)
    result = compute_lots(
        [
            trade("s", day, TradeKind.SELL, "-10", "11", "110"),
            trade("b", day, TradeKind.BUY, "10", "10", "-100"),
        ]
    )
    (closed,) = result.lots
    assert (closed.realized_pnl, closed.needs_review) == (D(10), False)


def test_selling_more_than_known_is_flagged_not_shorted() -> None:
    result = compute_lots(
        [
            trade("b", date(2024, 5, 1), TradeKind.BUY, "3", "10", "-30"),
            trade("s", date(2024, 5, 2), TradeKind.SELL, "-5", "12", "60"),
        ]
    )
    assert result.open_lots() == []
    unmatched = [lot for lot in result.lots if lot.opening_trade_key is None]
    assert [(lot.quantity, lot.proceeds, lot.cost_basis, lot.needs_review) for lot in unmatched] == [
        (D(2), D(24), None, True)
    ]
    assert result.realized == {(ACCT, AAPL.key): D(6)}  # 36 - 30 on the 3 known shares
    assert result.warnings


def test_transfers_in_and_out_move_lots_without_realizing() -> None:
    tin = TransferRecord(
        account=ACCT,
        natural_key="tin",
        direction=TransferDirection.IN,
        flow_scope=FlowScope.EXTERNAL,
        transfer_date=date(2024, 1, 1),
        currency="USD",
        instrument=AAPL,
        quantity=D(5),
    )
    tout = TransferRecord(
        account=ACCT,
        natural_key="tout",
        direction=TransferDirection.OUT,
        flow_scope=FlowScope.INTERNAL,
        transfer_date=date(2024, 3, 1),
        currency="USD",
        instrument=AAPL,
        quantity=D(-7),
    )
    result = compute_lots(
        [trade("b", date(2024, 2, 1), TradeKind.BUY, "5", "10", "-50")], transfers=[tin, tout]
    )
    closed = sorted(result.closed_lots(), key=lambda lot: lot.open_date or date.min)
    assert [(c.quantity, c.cost_basis, c.realized_pnl, c.proceeds) for c in closed] == [
        (D(5), None, None, None),
        (D(2), D(20), None, None),
    ]
    (rest,) = result.open_lots()
    assert (rest.quantity, rest.cost_basis) == (D(3), D(30))
    assert result.realized == {}


def test_cancelled_and_pending_trades_are_ignored() -> None:
    cancelled = trade("x", date(2024, 1, 2), TradeKind.BUY, "10", "10", "-100")
    cancelled.status = RecordStatus.CANCELLED
    pending = trade("p", date(2024, 1, 3), TradeKind.BUY, "1", "10", "-10")
    pending.status = RecordStatus.PENDING
    assert compute_lots([cancelled, pending]).lots == []


def test_same_input_in_any_order_gives_the_same_lots_and_keys() -> None:
    trades = [
        trade(f"t{i}", date(2024, 1, 1 + i % 5), kind, qty, price, net)
        for i, (kind, qty, price, net) in enumerate(
            [
                (TradeKind.BUY, "10", "10", "-100"),
                (TradeKind.BUY, "7", "11", "-77"),
                (TradeKind.SELL, "-3", "12", "36"),
                (TradeKind.BUY, "1", "13", "-13"),
                (TradeKind.SELL, "-9", "9", "81"),
                (TradeKind.BUY, "2", "8", "-16"),
                (TradeKind.SELL, "-4", "14", "56"),
            ]
        )
    ]
    expected = compute_lots(trades)
    shuffled = list(trades)
    random.Random(7).shuffle(shuffled)
    again = compute_lots(shuffled)
    assert again.lots == expected.lots
    assert again.realized == expected.realized
    assert len({lot.natural_key for lot in expected.lots}) == len(expected.lots)
    total_closed = sum((lot.quantity for lot in expected.closed_lots()), D(0))
    assert total_closed == D(16)
