"""Fidelity Action classification, option symbols and an options history run through the lots."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from foliosync.brokers.fidelity.actions import classify, normalize_action
from foliosync.brokers.fidelity.csv_format import parse
from foliosync.brokers.fidelity.symbols import parse_option_action, parse_option_symbol
from foliosync.ledger.lots import compute_lots
from foliosync.ledger.taxonomy import CashKind, CorporateActionKind, TradeKind

HEADER = (
    "Run Date,Action,Symbol,Description,Type,Price ($),Quantity,Commission ($),Fees ($),"
    "Accrued Interest ($),Amount ($),Cash Balance ($),Settlement Date"
)
HISTORY = "\n".join(
    [
        "",
        HEADER,
        '01/17/2025,"YOU BOUGHT ASSIGNED PUTS AS OF 01-17-25 APPLE INC (AAPL) (Cash)",AAPL,"APPLE INC",Cash,150,100,,,,-15000.00,,01/21/2025',
        '01/17/2025,"ASSIGNED as of Jan-17-2025 PUT (AAPL) APPLE INC JAN 17 25 $150 (100 SHS) (Cash)",-AAPL250117P150,"PUT (AAPL) APPLE INC JAN 17 25 $150 (100 SHS)",Cash,,1,,,,,,',
        '01/17/2025,"EXPIRED CALL (AAPL) APPLE INC JAN 17 25 $200 (100 SHS) (Cash)",-AAPL250117C200,"CALL (AAPL) APPLE INC JAN 17 25 $200 (100 SHS)",Cash,,1,,,,,,',
        '01/02/2025,"YOU SOLD OPENING TRANSACTION PUT (AAPL) APPLE INC JAN 17 25 $150 (100 SHS) (Cash)",-AAPL250117P150,"PUT (AAPL) APPLE INC JAN 17 25 $150 (100 SHS)",Cash,3.00,-1,0.65,0.04,,299.31,,01/03/2025',
        '01/02/2025,"YOU SOLD OPENING TRANSACTION CALL (AAPL) APPLE INC JAN 17 25 $200 (100 SHS) (Cash)",-AAPL250117C200,"CALL (AAPL) APPLE INC JAN 17 25 $200 (100 SHS)",Cash,1.00,-1,0.65,0.02,,99.33,,01/03/2025',
        '12/31/2024,"DIVIDEND RECEIVED APPLE INC (AAPL) (Cash)",AAPL,"APPLE INC",Cash,,,,,,25.00,,',
        '12/31/2024,"REINVESTMENT APPLE INC (AAPL) (Cash)",AAPL,"APPLE INC",Cash,250.00,0.1,,,,-25.00,,',
        '12/31/2024,"FOREIGN TAX PAID ASML HOLDING NV (ASML) (Cash)",ASML,"ASML HOLDING NV",Cash,,,,,,-3.00,,',
        '12/30/2024,"PURCHASE INTO CORE ACCOUNT FIDELITY GOVERNMENT MONEY MARKET (SPAXX) (Cash)",SPAXX,"FIDELITY GOVERNMENT MONEY MARKET",Cash,1,500,,,,-500.00,,',
        '12/29/2024,"SOMETHING UNUSUAL HAPPENED (Cash)",,"No Description",Cash,,,,,,1.00,,',
        '12/28/2024,"TRANSFER OF ASSETS ACAT RECEIVE APPLE INC (AAPL) (Cash)",AAPL,"APPLE INC",Cash,,50,,,,,,',
        "",
        '"Date downloaded 01/20/2025 9:15 am"',
    ]
).encode()


@pytest.mark.parametrize(
    ("action", "number", "label"),
    [
        (
            " YOU BOUGHT OPENING TRANSACTION CALL (AAPL) APPLE INC JAN 17 25 $150 (100 SHS) (Margin)",
            1,
            "YOU BOUGHT OPENING",
        ),
        ("YOU SOLD CLOSING TRANSACTION PUT (SPY) SPDR (100 SHS) (Cash)", 4, "YOU SOLD CLOSING"),
        ("YOU BOUGHT ASSIGNED PUTS AS OF 01-17-25 APPLE INC (AAPL) (Cash)", 5, "YOU BOUGHT ASSIGNED"),
        ("YOU BOUGHT FICTCORP COM (FCT) (Cash)", 8, "YOU BOUGHT"),
        ("YOU SOLD SHORT XYZ CORP (XYZ) (Shorts)", 7, "YOU SOLD SHORT"),
        ("ASSIGNED as of Jan-17-2025 PUT (AAPL)", 9, "ASSIGNED"),
        ("EXPIRED PUT (SPY) SPDR S&P500", 10, "EXPIRED"),
        ("REINVESTMENT FIDELITY 500 INDEX (FXAIX) (Cash)", 12, "REINVESTMENT"),
        ("LONG-TERM CAP GAIN VANGUARD (VTI) (Cash)", 14, "LONG-TERM CAP GAIN"),
        ("FEE CHARGED ADR FEE (TSM) (Cash)", 19, "FEE CHARGED"),
        ("Electronic Funds Transfer Received (Cash)", 22, "EFT RECEIVED"),
        ("TRANSFERRED TO VS X8YYYYYYYYYY (Cash)", 23, "TRANSFERRED"),
        ("REDEMPTION FROM CORE ACCOUNT FIDELITY GOVERNMENT MONEY MARKET (SPAXX) (Cash)", 25, "CORE SWEEP"),
        ("REVERSE SPLIT R/S FROM 123456789#REOR M005 (Cash)", 28, "REVERSE SPLIT"),
        ("NVIDIA CORP 10 FOR 1 STOCK SPLIT (NVDA)", 28, "SPLIT"),
        ("DISTRIBUTION NVIDIA CORP (NVDA) (Cash)", 28, "DISTRIBUTION"),
        ("IN LIEU OF FRX SHARE LEU PAYMENT (Cash)", 29, "CASH IN LIEU"),
        ("NAME CHANGED FROM FB TO META", 30, "NAME CHANGED"),
    ],
)
def test_first_matching_rule_wins(action: str, number: int, label: str) -> None:
    rule = classify(action)
    assert rule is not None and (rule.number, rule.label) == (number, label)


def test_unknown_action_has_no_rule() -> None:
    assert classify("SOMETHING UNUSUAL HAPPENED (Cash)") is None
    assert normalize_action("  you bought   X (Margin) ") == "YOU BOUGHT X"


def test_option_symbols_become_occ_instruments() -> None:
    positions_style = parse_option_symbol(" -AAPL250117C150")
    history_style = parse_option_symbol("SPY220608P403.5")
    adjusted = parse_option_symbol("-AMC1250117C5")
    assert positions_style is not None and history_style is not None and adjusted is not None
    assert positions_style.instrument.key == "OPT:AAPL  250117C00150000"
    assert (positions_style.instrument.strike, positions_style.instrument.multiplier) == (D(150), D(100))
    assert history_style.instrument.key == "OPT:SPY   220608P00403500"
    assert (adjusted.standard, adjusted.instrument.underlying_symbol) == (False, "AMC")
    assert parse_option_symbol("AAPL") is None
    from_text = parse_option_action(
        "YOU BOUGHT OPENING TRANSACTION CALL (AAPL) APPLE INC JAN 17 25 $150 (100 SHS)"
    )
    assert from_text is not None and from_text.instrument.key == "OPT:AAPL  250117C00150000"


def test_options_history_parses_links_and_feeds_the_lot_engine() -> None:
    batch = parse(HISTORY, "History_for_Account_Z1.csv")

    trades = {(t.kind, t.instrument.key): t for t in batch.trades}
    put, call, stock = "OPT:AAPL  250117P00150000", "OPT:AAPL  250117C00200000", "STK:AAPL:USD"
    sto = trades[(TradeKind.SELL_TO_OPEN, put)]
    assert (sto.quantity, sto.price, sto.commission, sto.other_fees, sto.gross_amount, sto.net_amount) == (
        D(-1),
        D(3),
        D("-0.65"),
        D("-0.04"),
        D(300),
        D("299.31"),
    )
    assert trades[(TradeKind.OPTION_EXPIRATION, call)].quantity == D(1)  # a short call expiring
    assert trades[(TradeKind.OPTION_ASSIGNMENT, put)].quantity == D(1)
    reinvest = [t for t in batch.trades if t.dividend_reinvestment]
    assert [(t.kind, t.quantity, t.net_amount) for t in reinvest] == [(TradeKind.BUY, D("0.1"), D(-25))]
    (dividend,) = [c for c in batch.cash if c.kind is CashKind.DIVIDEND]
    assert dividend.related_key == reinvest[0].natural_key  # taxonomy §4.5 link
    (event_assigned,) = [e for e in batch.option_events if e.instrument.key == put]
    (assigned_buy,) = [t for t in batch.trades if t.raw_type == "YOU BOUGHT ASSIGNED"]
    assert (assigned_buy.quantity, assigned_buy.net_amount) == (D(100), D(-15000))
    assert event_assigned.underlying_trade_key == assigned_buy.natural_key

    cash = {(c.kind, c.subkind): c.amount for c in batch.cash}
    assert cash == {
        (CashKind.DIVIDEND, None): D(25),
        (CashKind.WITHHOLDING_TAX, "DIVIDEND"): D(-3),
        (CashKind.INTERNAL_TRANSFER, "SWEEP"): D(-500),
        (CashKind.OTHER, "UNKNOWN"): D(1),
    }
    assert batch.unknown_types == {"SOMETHING UNUSUAL HAPPENED": 1}
    (acat,) = batch.transfers
    assert (acat.direction, acat.quantity, acat.instrument.key if acat.instrument else None) == (
        "IN",
        D(50),
        stock,
    )
    assert batch.period_start == date(2024, 12, 28) and batch.period_end == date(2025, 1, 17)

    lots = compute_lots(batch.trades, batch.corporate_actions, batch.transfers, batch.option_events)
    assert lots.realized == {("", call): D("99.33")}  # short call expired: premium kept
    open_stock = sorted(
        (lot.open_date, lot.quantity, lot.cost_basis)
        for lot in lots.open_lots()
        if lot.instrument.key == stock
    )
    assert open_stock == [
        (date(2024, 12, 28), D(50), None),  # ACAT in: basis unknown until the user supplies it
        (date(2024, 12, 31), D("0.1"), D(25)),
        (date(2025, 1, 17), D(100), D("14700.69")),  # 15000 - 299.31 premium folded (§6.2)
    ]


def test_corporate_action_rows() -> None:
    content = "\n".join(
        [
            HEADER,
            '06/10/2024,"DISTRIBUTION NVIDIA CORP (NVDA) (Cash)",NVDA,"NVIDIA CORP",Cash,,90,,,,,,',
            '06/11/2024,"REVERSE SPLIT R/S 1 FOR 10 FROM XYZ (Cash)",XYZ,"XYZ CORP",Cash,,-90,,,,,,',
        ]
    ).encode()
    batch = parse(content, "History.csv")
    assert [(a.kind, a.quantity, a.ratio, a.needs_review) for a in batch.corporate_actions] == [
        (CorporateActionKind.SPLIT, D(90), None, True),
        (CorporateActionKind.REVERSE_SPLIT, D(-90), D("0.1"), True),
    ]


def test_header_versions_give_the_same_keys() -> None:
    old = "\n".join(
        [
            ",,,,,,,,,,,",
            "Run Date,Action,Symbol,Security Description,Security Type,Quantity,Price ($),Commission ($),"
            "Fees ($),Accrued Interest ($),Amount ($),Settlement Date",
            " 04/03/2025, YOU BOUGHT FICTCORP COM (FCT) (Cash), FCT, FICTCORP COM,Cash,10,50,0.65,,,-500.65,04/04/2025",
        ]
    ).encode()
    new = "\n".join(
        [
            HEADER,
            '04/03/2025,"YOU BOUGHT FICTCORP COM (FCT) (Margin)",FCT,"FICTCORP COMMON STOCK",Margin,50.00,10,0.65,,,'
            "-500.65,7000.00,04/04/2025",
        ]
    ).encode()
    (old_trade,) = parse(old, "a.csv").trades
    (new_trade,) = parse(new, "b.csv").trades
    assert old_trade.natural_key == new_trade.natural_key
    assert (new_trade.quantity, new_trade.net_amount, new_trade.needs_review) == (D(10), D("-500.65"), False)


def test_all_accounts_history_names_each_account() -> None:
    content = "\n".join(
        [
            "Run Date,Account,Action,Symbol,Security Description,Security Type,Quantity,Price ($),"
            "Commission ($),Fees ($),Accrued Interest ($),Amount ($),Settlement Date",
            '05/01/2025,"BROKERAGE X0000000A","INTEREST EARNED FDIC INSURED DEPOSIT (Cash)",,,Cash,,,,,,1.10,',
            '05/01/2025,"ROTH IRA 234567890","INTEREST EARNED FDIC INSURED DEPOSIT (Cash)",,,Cash,,,,,,1.10,',
        ]
    ).encode()
    batch = parse(content, "Accounts_History.csv")
    assert [(a.external_account_id, a.alias) for a in batch.accounts] == [
        ("X0000000A", "BROKERAGE"),
        ("234567890", "ROTH IRA"),
    ]
    assert [(c.account, c.kind, c.amount) for c in batch.cash] == [
        ("X0000000A", CashKind.INTEREST_RECEIVED, D("1.10")),
        ("234567890", CashKind.INTEREST_RECEIVED, D("1.10")),
    ]
    assert batch.cash[0].natural_key != batch.cash[1].natural_key
