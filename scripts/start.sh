#!/usr/bin/env bash
# `npm start`: installs dependencies, builds, and runs api + worker in one process (ROLE=all by default).
# With no MONGODB_URL/REDIS_URL set, it starts a local FerretDB + Redis first (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
if [ -z "${MONGODB_URL:-}" ] && [ -z "${REDIS_URL:-}" ]; then
  bash scripts/services.sh up
fi
npm run --silent build
exec sh scripts/serve.sh
