"""Charles Schwab: Trader API sync and CSV/JSON export import."""
