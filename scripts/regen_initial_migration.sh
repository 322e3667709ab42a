#!/usr/bin/env bash
# Regenerate the single initial migration from the models (only while nothing has been released).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f src/foliosync/migrations/versions/0001_*.py /tmp/regen.db
DATABASE_URL=sqlite:////tmp/regen.db .venv/bin/alembic revision --autogenerate -m "initial ledger schema" --rev-id 0001 >/dev/null
.venv/bin/ruff check -q --fix src/foliosync/migrations || true
.venv/bin/ruff format -q src/foliosync/migrations
sed -i 's/^Revises: $/Revises:/' src/foliosync/migrations/versions/0001_*.py
