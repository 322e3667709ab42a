"""REST API under /api/v1: one module per domain, each exposing `router`."""
