"""Database plumbing: declarative base, column types, engine/session factory, idempotent upsert."""
