#!/bin/sh
# Runs the built service (dist/) with its Node flags (README, "Node options"): scripts/node-options first, a
# NODE_OPTIONS of your own after them, so yours wins. `npm start` and the Docker image both end here.
cd "$(dirname "$0")/.."
NODE_OPTIONS="$(cat scripts/node-options) ${NODE_OPTIONS:-}" exec node dist/src/main.js
