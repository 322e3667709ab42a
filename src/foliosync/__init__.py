"""foliosync: self-hosted brokerage aggregation."""

__version__ = "0.1.0"
