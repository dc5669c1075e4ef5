#!/usr/bin/env bash
# Retake the web page's screenshots in docs/screenshots (the browser tests take them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
PROCMINE_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -p no:xdist -q \
  tests/web/test_browser.py -k "analyst_path or before_and_after"
