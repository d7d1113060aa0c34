#!/usr/bin/env bash
# Runs every test suite — deno lint, Deno, Bun, Node (against the built lib/; the
# machine's Node and Node 24 from scripts/setup.sh) and the Python peer when
# present — and ends with one line "N passed, N failed, N skipped".
# Usage: scripts/test.sh [lint|deno|bun|node|node24|python ...]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH" NO_COLOR=1

bash scripts/setup.sh >/dev/null || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
echo "setup: $SECONDS s"
suites=("${@:-lint deno bun node node24 python}")
suites=(${suites[@]})
mkdir -p .build/logs
passed=0 failed=0 skipped=0
# Test files beyond tests/: the interop checks, the golden vectors, the README snippets.
EXTRA_TS=(interop/check_test.ts interop/vectors/vectors_test.ts interop/readme_snippets_test.ts)
# lib/ is what Node runs, and the README snippet tests use it on every runtime.
rm -rf .build/node-tests # bundled afresh by the first Node suite, run by each
if ! npm run --silent build >.build/logs/build.log 2>&1; then
  cat .build/logs/build.log; echo "0 passed, 1 failed"; exit 1
fi
summary=()

count() { # name pass fail skip; and the seconds since suite_start (CI has a time budget)
  passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
  summary+=("$(printf '%-8s %4d passed, %d failed, %d skipped  (%d s)' "$1" "$2" "$3" "$4" $((SECONDS - suite_start)))")
}

run_deno() {
  local log=.build/logs/deno.log
  deno test -A --quiet tests/ "${EXTRA_TS[@]}" 2>&1 | tee "$log"
  local line; line=$(grep -E '^(ok|FAILED) \|' "$log" | tail -1)
  if [ -z "$line" ]; then count deno 0 1 0; return; fi
  count deno "$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")" \
    "$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")" \
    "$(grep -oE '[0-9]+ ignored' <<<"$line" | grep -oE '[0-9]+' || echo 0)"
}

run_bun() {
  local log=.build/logs/bun.log
  bun test --timeout 60000 ./tests/ "${EXTRA_TS[@]/#/./}" 2>&1 | tee "$log"
  local p f s
  p=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | grep -oE '[0-9]+'); f=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | grep -oE '[0-9]+')
  s=$(grep -E '^ *[0-9]+ skip$' "$log" | tail -1 | grep -oE '[0-9]+')
  if [ -z "$p" ] && [ -z "$f" ]; then count bun 0 1 0; return; fi
  count bun "${p:-0}" "${f:-0}" "${s:-0}"
}

# run_node_on NAME NODE: the Node suite, on the node binary NODE, logged as NAME.
run_node_on() {
  local name=$1 node=$2 log=.build/logs/$1.log
  # Node runs the built lib/ (what npm users get): tests import "natsbridge",
  # which resolves through package.json "exports" to lib/mod.js.
  : >"$log"
  if [ ! -d .build/node-tests ]; then
    mkdir -p .build/node-tests
    esbuild tests/*_test.ts "${EXTRA_TS[@]}" --bundle --platform=node --format=esm --packages=external \
      --outdir=.build/node-tests --out-extension:.js=.mjs --log-level=warning >>"$log" 2>&1 ||
      { cat "$log"; rm -rf .build/node-tests; count "$name" 0 1 0; return; }
  fi
  echo "$("$node" --version) ($node)"
  # The files by name and the TAP reporter: Node 22+ takes globs, not folders,
  # and reports in its "spec" format by default.
  local files; mapfile -t files < <(find .build/node-tests -name '*.mjs' | sort)
  PATH="$(dirname "$node"):$PATH" "$node" --test --test-reporter=tap --test-concurrency=1 "${files[@]}" 2>&1 | tee -a "$log"
  local p f s
  p=$(grep -E '^# pass ' "$log" | tail -1 | grep -oE '[0-9]+'); f=$(grep -E '^# fail ' "$log" | tail -1 | grep -oE '[0-9]+')
  s=$(grep -E '^# skipped ' "$log" | tail -1 | grep -oE '[0-9]+')
  if [ -z "$p" ] || { [ "$p" = 0 ] && [ "${f:-0}" = 0 ]; }; then count "$name" 0 1 0; return; fi
  count "$name" "${p:-0}" "${f:-0}" "${s:-0}"
}

# The machine's Node (package.json's floor is Node 20).
run_node() { run_node_on node "$(command -v node)"; }

# Node's active LTS, which scripts/setup.sh fetches into .tools/node24.
run_node24() {
  if [ ! -x .tools/node24/bin/node ]; then
    echo "node24: skipped (no .tools/node24: scripts/setup.sh could not fetch it for $(uname -sm))"
    count node24 0 0 1; return
  fi
  run_node_on node24 "$PWD/.tools/node24/bin/node"
}

run_lint() {
  # deno lint's recommended rules over the whole project (deno.json excludes).
  local log=.build/logs/lint.log
  if deno lint --compact >"$log" 2>&1; then count lint 1 0 0; else cat "$log"; count lint 0 1 0; fi
  # And one more: the doc comments' examples type-check against the public API,
  # those marked `ts ignore` too (they need servers to run; --doc skips them).
  log=.build/logs/doc_examples.log
  # Every source file is named: --doc checks the examples of the files given, not of what they import.
  local sources; sources=$(git ls-files 'mod.ts' 'engine/*.ts' 'workers/*.ts' | grep -v '\.d\.ts$')
  # shellcheck disable=SC2086 # one word per file
  if deno check --doc $sources >"$log" 2>&1 && deno run -A scripts/check_ignored_examples.ts >>"$log" 2>&1; then
    count examples 1 0 0
  else
    cat "$log"; count examples 0 1 0
  fi
}

run_python() {
  local log=.build/logs/python.log
  if [ ! -d interop/python/tests ]; then
    echo "python: skipped (no interop/python/tests yet)"; return
  fi
  .venv/bin/python -m pytest -q interop/python/tests interop/vectors 2>&1 | tee "$log"
  local line; line=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1)
  count python "$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)" \
    "$(grep -oE '[0-9]+ (failed|error)' <<<"$line" | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)" \
    "$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)"
}

for s in "${suites[@]}"; do
  echo "=== $s"
  suite_start=$SECONDS
  "run_$s"
done
echo
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
