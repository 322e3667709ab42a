"""Market data: index constituents, daily bars, indicators and ATR scanners (docs/market.md).

Layout, one job per module:
- `providers/`: one module per vendor (FMP, Polygon, Wikipedia, yfinance), each split into
  query (what to ask) -> extract (the HTTP exchange) -> transform (vendor rows to our records).
  Providers never touch the database.
- `constituents/`: validation bands, the 24 h cache, membership history and the refresh service.
- `prices/`: the provider chain with a circuit breaker, the daily_prices store and incremental backfill.
- `indicators/`: pure numeric code (numpy + TA-Lib) over many symbols at once.
- `scanners/`: the universe, the filter language, presets, the liquidity gate and the holdings scan.
"""
