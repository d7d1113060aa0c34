#!/usr/bin/env bash
# Sets everything up (npm packages incl. Deno and Bun, nats-server, the file server)
# and runs the demo exchange under Deno.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/deno run -A scripts/demo.ts
