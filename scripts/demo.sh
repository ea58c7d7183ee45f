#!/usr/bin/env bash
# Runs the end-to-end demo (scripts/demo.ts) after making sure Pebble, BIND and friends are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
npx tsx scripts/demo.ts "$@"
