"""The securities of the demo data set: what they are, where their made-up prices start, and what
they pay. Written for foliosync; the prices and payouts are invented (plausible magnitudes only).

Held securities come first; `SCAN_ONLY` symbols are not held by anyone and exist so that a scan over
the demo prices has a universe larger than the portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

D = Decimal
ZERO = Decimal(0)


@dataclass(frozen=True)
class Security:
    symbol: str
    name: str
    sector: str
    start_price: Decimal
    annual_drift: float  # expected yearly log-return of the simulated price
    daily_volatility: float  # standard deviation of the daily log-return
    avg_volume: int  # shares per session
    asset_category: str = "STK"
    exchange: str = "NASDAQ"
    # Cash dividend per share and the months (1-12) in which it goes ex; paid about two weeks later.
    dividend: Decimal = ZERO
    dividend_months: tuple[int, ...] = ()
    # Tax the issuer's country withholds from a US holder (treaty rate), as a fraction.
    withholding_rate: Decimal = ZERO
    # The last session's volume as a multiple of normal: a heavy-volume day gives the scanner's
    # "high-ATR movers" preset (relative volume >= 1.5) something to find.
    last_volume_boost: float = 1.0


QUARTERLY_FEB = (2, 5, 8, 11)
QUARTERLY_MAR = (3, 6, 9, 12)
MONTHLY = tuple(range(1, 13))

SECURITIES: tuple[Security, ...] = (
    Security(
        "AAPL",
        "Apple Inc.",
        "Technology",
        D("187.40"),
        0.18,
        0.016,
        55_000_000,
        dividend=D("0.25"),
        dividend_months=QUARTERLY_FEB,
    ),
    Security(
        "MSFT",
        "Microsoft Corp.",
        "Technology",
        D("405.10"),
        0.15,
        0.015,
        22_000_000,
        dividend=D("0.83"),
        dividend_months=QUARTERLY_FEB,
    ),
    Security(
        "NVDA",
        "NVIDIA Corp.",
        "Technology",
        D("118.20"),
        0.35,
        0.028,
        250_000_000,
        dividend=D("0.01"),
        dividend_months=QUARTERLY_MAR,
        last_volume_boost=1.7,
    ),
    Security(
        "JPM",
        "JPMorgan Chase & Co.",
        "Financials",
        D("198.50"),
        0.12,
        0.014,
        9_000_000,
        exchange="NYSE",
        dividend=D("1.25"),
        dividend_months=QUARTERLY_MAR,
    ),
    Security(
        "XOM",
        "Exxon Mobil Corp.",
        "Energy",
        D("112.30"),
        0.02,
        0.015,
        16_000_000,
        exchange="NYSE",
        dividend=D("0.99"),
        dividend_months=QUARTERLY_FEB,
    ),
    Security(
        "JNJ",
        "Johnson & Johnson",
        "Health Care",
        D("154.80"),
        0.03,
        0.011,
        7_000_000,
        exchange="NYSE",
        dividend=D("1.24"),
        dividend_months=QUARTERLY_FEB,
    ),
    Security(
        "KO",
        "Coca-Cola Co.",
        "Consumer Staples",
        D("61.90"),
        0.05,
        0.010,
        13_000_000,
        exchange="NYSE",
        dividend=D("0.485"),
        dividend_months=QUARTERLY_MAR,
    ),
    Security(
        "ASML",
        "ASML Holding N.V. (ADR)",
        "Technology",
        D("905.00"),
        0.10,
        0.022,
        1_600_000,
        dividend=D("1.60"),
        dividend_months=QUARTERLY_FEB,
        withholding_rate=D("0.15"),
    ),
    Security(
        "TSM",
        "Taiwan Semiconductor Manufacturing (ADR)",
        "Technology",
        D("168.00"),
        0.25,
        0.024,
        14_000_000,
        exchange="NYSE",
        dividend=D("0.70"),
        dividend_months=QUARTERLY_MAR,
        withholding_rate=D("0.21"),
    ),
    Security(
        "NVS",
        "Novartis AG (ADR)",
        "Health Care",
        D("101.20"),
        0.04,
        0.011,
        1_900_000,
        exchange="NYSE",
        dividend=D("3.90"),
        dividend_months=(3,),
        withholding_rate=D("0.35"),
    ),
    Security(
        "VTI",
        "Vanguard Total Stock Market ETF",
        "Diversified ETF",
        D("262.00"),
        0.12,
        0.010,
        3_500_000,
        exchange="ARCA",
        dividend=D("0.95"),
        dividend_months=QUARTERLY_MAR,
    ),
    Security(
        "VXUS",
        "Vanguard Total International Stock ETF",
        "Diversified ETF",
        D("60.40"),
        0.07,
        0.010,
        4_000_000,
        dividend=D("0.40"),
        dividend_months=QUARTERLY_MAR,
    ),
    Security(
        "BND",
        "Vanguard Total Bond Market ETF",
        "Fixed Income",
        D("72.10"),
        0.01,
        0.004,
        6_500_000,
        dividend=D("0.21"),
        dividend_months=MONTHLY,
    ),
    Security(
        "FXAIX",
        "Fidelity 500 Index Fund",
        "Diversified Fund",
        D("190.30"),
        0.12,
        0.010,
        0,
        asset_category="FUND",
        exchange="FUND",
        dividend=D("0.71"),
        dividend_months=QUARTERLY_MAR,
    ),
)

SCAN_ONLY: tuple[Security, ...] = (
    Security(
        "AMD",
        "Advanced Micro Devices",
        "Technology",
        D("158.00"),
        0.20,
        0.030,
        60_000_000,
        last_volume_boost=1.9,
    ),
    Security(
        "TSLA",
        "Tesla Inc.",
        "Consumer Discretionary",
        D("245.00"),
        0.10,
        0.035,
        95_000_000,
        last_volume_boost=2.4,
    ),
    Security("META", "Meta Platforms", "Communication Services", D("495.00"), 0.30, 0.021, 15_000_000),
    Security("AMZN", "Amazon.com Inc.", "Consumer Discretionary", D("182.00"), 0.22, 0.019, 45_000_000),
    Security(
        "GOOGL", "Alphabet Inc. Class A", "Communication Services", D("168.00"), 0.16, 0.018, 28_000_000
    ),
    Security("COST", "Costco Wholesale", "Consumer Staples", D("870.00"), 0.20, 0.013, 2_200_000),
    Security(
        "UNH", "UnitedHealth Group", "Health Care", D("510.00"), -0.25, 0.022, 4_000_000, exchange="NYSE"
    ),
    Security(
        "HD", "Home Depot", "Consumer Discretionary", D("365.00"), 0.05, 0.013, 3_500_000, exchange="NYSE"
    ),
    Security("CAT", "Caterpillar Inc.", "Industrials", D("340.00"), 0.18, 0.017, 2_800_000, exchange="NYSE"),
    Security("PFE", "Pfizer Inc.", "Health Care", D("28.50"), -0.10, 0.016, 38_000_000, exchange="NYSE"),
)

BY_SYMBOL = {s.symbol: s for s in SECURITIES + SCAN_ONLY}
