#!/usr/bin/env bash
# The whole suite: lint, types, contract checks, unit and integration tests.
# Integration tests start their own PostgreSQL (with pgvector and pg_trgm) and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
