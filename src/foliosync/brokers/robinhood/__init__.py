"""Robinhood: account activity CSV import, plus an optional, unofficial read-only API sync."""
