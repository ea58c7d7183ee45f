#!/usr/bin/env bash
# Benchmarks (not tests): installs Pebble, lego and certbot when missing, then runs the issuance
# benchmark, which rewrites the "Issuance" section of docs/benchmarks.md and docs/benchmarks-issuance.svg.
#   npm run bench                                  defaults: N = 20 per tool, concurrency 1 and 8
#   npm run bench -- --n 50 --concurrency 1,8,32   flags go to bench/issuance.ts (--cli-n, --tools, --no-write)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh --bench
npx tsx bench/issuance.ts "$@"
