"""Broker accounts: add, list, delete, scoped to their owner."""
