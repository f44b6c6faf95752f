#!/usr/bin/env bash
# The one test command: dependencies, local FerretDB + Redis (installed and started when missing), then
# every test. Extra arguments go to vitest (e.g. `npm test -- test/e2e/foundation.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/services.sh up
exec npx vitest run "$@"
