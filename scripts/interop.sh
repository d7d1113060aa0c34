#!/usr/bin/env bash
# Runs the cross-runtime interop matrix (interop/matrix.ts): senders {deno, bun, node,
# node24, python, browser} × the same receivers × every interop case, over a real nats-server
# (JetStream + WebSocket) and Plik-compatible server it starts itself. Writes
# interop/RESULTS.md and ends with "N passed, N failed".
# Usage: scripts/interop.sh [--senders a,b] [--receivers a,b] [--cases a,b]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH" NO_COLOR=1

bash scripts/setup.sh >/dev/null || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "no Chromium at ${CHROMIUM:-/usr/bin/chromium} (scripts/setup.sh installs it)"; echo "0 passed, 1 failed"; exit 1
fi
mkdir -p .build/logs .build/interop
# Node runs what npm users get: the built lib/, with the peer and the browser driver
# bundled against it ("natsbridge" stays an import that resolves to lib/mod.js).
if ! { npm run --silent build &&
  esbuild interop/peer.ts --bundle --platform=node --format=esm --packages=external \
    --outfile=.build/interop/peer.mjs --log-level=warning &&
  esbuild interop/browser/driver.ts --bundle --platform=node --format=esm --packages=external \
    --outfile=.build/interop/browser_driver.mjs --log-level=warning &&
  deno run -A --quiet scripts/build_browser.ts; } >.build/logs/interop-build.log 2>&1; then
  cat .build/logs/interop-build.log; echo "0 passed, 1 failed"; exit 1
fi
exec deno run -A --quiet interop/matrix.ts "$@"
