#!/usr/bin/env bash
# Set up with the test tools, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check procmine api tests bench
.venv/bin/ruff format --check procmine api tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 --dist loadgroup --durations=15 "$@"
