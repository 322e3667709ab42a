"""Daily bars: the provider chain (FMP -> Polygon -> yfinance behind a breaker), storage, backfill."""
