"""Snapshots, enrichment and whole-response rules: positions, balances, SecuritiesInfo,
ConversionRates, base currency, missing sections, and date-format independence."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from foliosync.brokers.ibkr.normalizer import SYNC_REQUIRED_SECTIONS, parse_flex
from tests.brokers.ibkr.flexdoc import STOCK, cash, flex, row, section, statement, trade


def _position(level: str, quantity: str, **extra: object) -> str:
    attrs = {
        **STOCK,
        "accountId": "U1",
        "reportDate": "20250131",
        "position": quantity,
        "markPrice": "200",
        "positionValue": str(Decimal(quantity) * 200),
        "costBasisMoney": str(Decimal(quantity) * 150),
        "fifoPnlUnrealized": str(Decimal(quantity) * 50),
        "levelOfDetail": level,
        **extra,
    }
    return row("OpenPosition", **attrs)


def test_summary_rows_are_the_snapshot_and_lot_rows_are_open_lots() -> None:
    batch = parse_flex(
        flex(
            statement(
                "U1",
                section(
                    "OpenPositions",
                    _position("SUMMARY", "30"),
                    _position("LOT", "10", originatingTransactionID="1", openDateTime="20240102;100000"),
                    _position("LOT", "20", originatingTransactionID="2", openDateTime="20240301;100000"),
                ),
            )
        ),
        "p.xml",
    )
    (position,) = batch.positions
    assert (position.quantity, position.as_of_date, position.cost_basis) == (
        Decimal(30),
        date(2025, 1, 31),
        Decimal(4500),
    )
    assert sorted(lot.quantity for lot in batch.lots) == [Decimal(10), Decimal(20)]
    assert {lot.natural_key for lot in batch.lots} == {
        "lot:2025-01-31:265598:1:2024-01-02T15:00:00+00:00",
        "lot:2025-01-31:265598:2:2024-03-01T15:00:00+00:00",
    }


def test_lot_only_queries_still_yield_positions() -> None:
    batch = parse_flex(
        flex(
            statement(
                "U1",
                section(
                    "OpenPositions",
                    _position("LOT", "10", originatingTransactionID="1"),
                    _position("LOT", "-4", originatingTransactionID="2", symbol="TSLA", conid="76792991"),
                    _position("LOT", "5", originatingTransactionID="3"),
                ),
            )
        ),
        "p.xml",
    )
    assert {(p.instrument.symbol, p.quantity, p.cost_basis) for p in batch.positions} == {
        ("AAPL", Decimal(15), Decimal(2250)),
        ("TSLA", Decimal(-4), Decimal(-600)),
    }


def test_balances_merge_equity_summary_cash_report_and_accruals() -> None:
    batch = parse_flex(
        flex(
            statement(
                "U1",
                section(
                    "EquitySummaryInBase",
                    row(
                        "EquitySummaryByReportDateInBase",
                        accountId="U1",
                        reportDate="20250131",
                        cash="1000",
                        stock="5000",
                        stockLong="5000",
                        total="6010",
                    ),
                ),
                section(
                    "CashReport",
                    row(
                        "CashReportCurrency",
                        accountId="U1",
                        currency="BASE_SUMMARY",
                        levelOfDetail="BaseCurrency",
                        fromDate="20250101",
                        toDate="20250131",
                        startingCash="900",
                        endingCash="1000.5",
                        fxTranslationGainLoss="0.5",
                        depositsMTD="5",
                    ),
                    row(
                        "CashReportCurrency",
                        accountId="U1",
                        currency="USD",
                        levelOfDetail="Currency",
                        fromDate="20250101",
                        toDate="20250131",
                        startingCash="900",
                        endingCash="1000",
                        deposits="100",
                        cashSettlingMtm="-3",
                    ),
                ),
                section(
                    "InterestAccruals",
                    row(
                        "InterestAccrualsCurrency",
                        accountId="U1",
                        currency="USD",
                        fromDate="20250101",
                        toDate="20250131",
                        endingAccrualBalance="2.5",
                    ),
                ),
            )
        ),
        "b.xml",
    )
    balances = {b.currency: b for b in batch.balances}
    assert set(balances) == {"BASE", "USD"}
    base, usd = balances["BASE"], balances["USD"]
    assert (base.cash, base.net_liquidation) == (Decimal("1000.5"), Decimal(6010))
    assert base.components["stock"] == "5000" and "stockLong" not in base.components
    assert "depositsMTD" not in base.components
    assert base.components["unrecorded_flows"] == "0.5"
    assert usd.cash == Decimal(1000)
    assert {
        k: usd.components[k]
        for k in ("starting_cash", "period_start", "unrecorded_flows", "interest_accrual")
    } == {
        "starting_cash": "900",
        "period_start": "2025-01-01",
        "unrecorded_flows": "-3",
        "interest_accrual": "2.5",
    }


def test_securities_info_fills_what_rows_left_empty_without_changing_the_key() -> None:
    option = {
        "assetCategory": "OPT",
        "symbol": "AAPL  250221C00180000",
        "conid": "12345678",
        "underlyingSymbol": "AAPL",
        "strike": "180",
        "expiry": "20250221",
        "putCall": "C",
        "currency": "USD",
    }
    document = flex(
        statement(
            "U1",
            section(
                "Trades",
                row(
                    "Trade",
                    accountId="U1",
                    **option,
                    transactionID="1",
                    tradeDate="20250115",
                    quantity="1",
                    tradePrice="0",
                    buySell="BUY",
                    openCloseIndicator="O",
                    levelOfDetail="EXECUTION",
                ),
            ),
            section(
                "SecuritiesInfo",
                row(
                    "SecurityInfo",
                    **option,
                    multiplier="100",
                    description="AAPL 21FEB25 180 C",
                    underlyingConid="265598",
                ),
            ),
        )
    )
    (record,) = parse_flex(document, "s.xml").trades
    assert record.instrument.multiplier == Decimal(100)
    assert record.instrument.description == "AAPL 21FEB25 180 C"
    assert record.instrument.underlying_conid == "265598"
    assert record.instrument.key == "OPT:AAPL  250221C00180000"


def test_conversion_rates_fill_missing_fx_rates_and_name_the_base_currency() -> None:
    document = flex(
        statement(
            "U1",
            section(
                "CashTransactions",
                cash(
                    "1",
                    "Dividends",
                    "10",
                    currency="CAD",
                    fxRateToBase="",
                    **{k: v for k, v in STOCK.items() if k != "currency"},
                ),
            ),
            section(
                "ConversionRates",
                row(
                    "ConversionRate", reportDate="20250115", fromCurrency="CAD", toCurrency="EUR", rate="0.66"
                ),
            ),
        )
    )
    batch = parse_flex(document, "r.xml")
    assert batch.cash[0].fx_rate_to_base == Decimal("0.66")
    assert batch.accounts[0].base_currency == "EUR"
    assert batch.accounts[0].details["base_currency_source"] == "ConversionRates"


def test_account_information_gives_base_currency_and_dates_but_no_personal_data() -> None:
    document = flex(
        statement(
            "U1",
            row(
                "AccountInformation",
                accountId="U1",
                currency="CHF",
                acctAlias="Main",
                name="Jane Doe",
                primaryEmail="jane@example.com",
                accountType="Individual",
                dateOpened="20210111",
                dateFunded="20180611",
            ),
        )
    )
    (info,) = parse_flex(document, "a.xml").accounts
    assert (info.external_account_id, info.base_currency, info.alias) == ("U1", "CHF", "Main")
    assert info.details == {
        "account_type": "Individual",
        "date_opened": "2021-01-11",
        "date_funded": "2018-06-11",
        "base_currency_source": "AccountInformation",
    }


def test_missing_sections_are_only_reported_when_data_is_lost() -> None:
    two = flex(
        statement("U1", section("Trades"), section("CashTransactions")),
        statement("U2", section("CashTransactions")),
    )
    assert parse_flex(two, "m.xml").missing_sections == {"Trades (account U2)"}
    one = flex(statement("U1", section("Trades")))
    assert parse_flex(one, "m.xml").missing_sections == set()  # a file import may be trades only
    synced = parse_flex(one, "m.xml", expected_sections=SYNC_REQUIRED_SECTIONS).missing_sections
    assert synced == {f"{s} (account U1)" for s in SYNC_REQUIRED_SECTIONS - {"Trades"}}


def test_statement_period_and_coverage() -> None:
    batch = parse_flex(
        flex(statement("U1", section("Trades"), from_date="20250101", to_date="20250131")), "p.xml"
    )
    assert (batch.period_start, batch.period_end) == (date(2025, 1, 1), date(2025, 1, 31))
    assert batch.covers_until is not None and batch.covers_until.isoformat() == "2025-02-01T04:59:59+00:00"


def test_the_query_date_format_does_not_change_the_records() -> None:
    rows = (
        trade("1", "10", "150"),
        trade("", "5", "151", transactionID="", tradeID=""),
    )
    fees = (cash(None, "Other Fees", "-1.34"), cash("9", "Dividends", "3", **STOCK))
    default = flex(statement("U1", section("Trades", *rows), section("CashTransactions", *fees)))
    iso = (
        default.decode()
        .replace('"20250115;100000"', '"2025-01-15, 10:00:00"')
        .replace('"20250115;202000"', '"2025-01-15 20:20"')
        .replace('"20250115"', '"2025-01-15"')
        .replace('"20250117"', '"01/17/2025"')
        .replace('"20250101"', '"2025-01-01"')
        .replace('"20250131"', '"31-Jan-25"')
        .encode()
    )
    first, second = parse_flex(default, "a.xml"), parse_flex(iso, "b.xml")
    assert [(t.natural_key, t.executed_at, t.settle_date) for t in first.trades] == [
        (t.natural_key, t.executed_at, t.settle_date) for t in second.trades
    ]
    assert [(c.natural_key, c.posted_at) for c in first.cash] == [
        (c.natural_key, c.posted_at) for c in second.cash
    ]
