"""TastyTrade: OAuth (client secret + refresh token) REST client, normalizer, adapter and connect flow.

Modules: `client` (transport), `models` (raw payloads), `symbols` / `transactions` / `normalizer`
/ `linking` (pure mapping, taxonomy.md §3.2), `adapter` (registers the broker), `connect`
(the background connect job).
"""
