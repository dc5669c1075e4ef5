#!/usr/bin/env bash
# The main job on the bundled sample log: set up, analyse, write the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${1:-procmine-out}"
.venv/bin/procmine analyze sample_logs/orders.csv --out "$out"
echo "report: $out/report.html (findings.json and the maps are beside it)" >&2
