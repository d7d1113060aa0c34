#!/usr/bin/env bash
# Fault tests (issue 5): bounded in count and time, loopback only, servers
# started and stopped by PID. Prints each test's lost/duplicated figures and
# ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH" NO_COLOR=1
bash scripts/setup.sh >/dev/null || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p .build/logs
log=.build/logs/faults.log
# --expose-gc: the soak samples live memory after a full collection.
deno test -A --v8-flags=--expose-gc tests/faults/*_fault.ts 2>&1 | tee "$log"
echo
grep -E '^fault/' "$log" || true
line=$(grep -E '^(ok|FAILED) \|' "$log" | tail -1)
if [ -z "$line" ]; then echo "0 passed, 1 failed"; exit 1; fi
p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
