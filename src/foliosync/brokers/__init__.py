"""Broker adapters: client (transport), normalizer (pure), adapter (discover + fetch)."""
