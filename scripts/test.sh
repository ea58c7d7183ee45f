#!/usr/bin/env bash
# The whole check, as CI runs it: dependencies, type check, build, every test under test/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
npx tsc --noEmit
npm run build
npx vitest run "$@"
