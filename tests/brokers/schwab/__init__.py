"""Schwab Trader API and OAuth link tests (against tests/fakes/schwab_server.py)."""
