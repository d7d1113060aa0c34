#!/usr/bin/env bash
# The whole benchmark: every row on Deno, Bun and Node (the built lib/; the machine's
# Node and Node 24 from scripts/setup.sh), CPU profiles of the throughput row, then
# bench/RESULTS.md and bench/results.svg.
#   npm run bench                  (~15 min on 2 cores)
#   BENCH_QUICK=1 npm run bench    (~2 min; writes under bench/results/quick/)
# Set BENCH_RUNTIMES="deno node24" to run a subset, BENCH_PROFILE=0 to skip profiles.
# Then the codec micro-benchmarks: `deno bench` on Deno, tinybench on Bun and Node.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH" NO_COLOR=1
bash scripts/setup.sh >/dev/null

runtimes=(${BENCH_RUNTIMES:-deno bun node node24})
# node24 is Node's current LTS, which scripts/setup.sh fetches; the machine's Node is `node`.
NODE24=$PWD/.tools/node24/bin/node
if [[ " ${runtimes[*]} " == *" node24 "* ]] && [ ! -x "$NODE24" ]; then
  echo "=== node24 skipped: $NODE24 is missing (scripts/setup.sh could not fetch it)"
  runtimes=(${runtimes[@]/node24/})
fi
results=bench/results
[ "${BENCH_QUICK:-0}" = 1 ] && results=bench/results/quick
mkdir -p "$results" .build/bench
status=0

# Once per invocation: a bundle left from an earlier run may predate the sources.
bundled=0
bundle_node() {
  [ "$bundled" = 1 ] && return 0
  bundled=1
  npm run --silent build
  esbuild bench/run.ts --bundle --platform=node --format=esm --packages=external \
    --outfile=.build/bench/run.mjs --log-level=warning
}

for rt in "${runtimes[@]}"; do
  echo "=== bench on $rt"
  case "$rt" in
    deno) deno run -A bench/run.ts || status=1 ;;
    bun) bun bench/run.ts || status=1 ;;
    node) bundle_node && node .build/bench/run.mjs || status=1 ;;
    node24) bundle_node && BENCH_LABEL=node24 "$NODE24" .build/bench/run.mjs || status=1 ;;
  esac
done

# The codec micro-benchmarks (bench/codec_cases.ts): deno bench on Deno, tinybench
# on Bun and Node, all written in deno bench's JSON shape for the report.
[ "${BENCH_QUICK:-0}" = 1 ] && export BENCH_CODEC_MS=100
codec_bundled=0
bundle_codec() {
  [ "$codec_bundled" = 1 ] && return 0
  codec_bundled=1
  esbuild bench/codec_tinybench.ts --bundle --platform=node --format=esm --packages=external \
    --outfile=.build/bench/codec_tinybench.mjs --log-level=warning
}
for rt in "${runtimes[@]}"; do
  echo "=== codec micro-benchmarks on $rt"
  case "$rt" in
    deno) deno bench -A --json bench/codec_bench.ts >"$results/codec_deno.json" || status=1 ;;
    bun) bun bench/codec_tinybench.ts --json "$results/codec_bun.json" || status=1 ;;
    node) bundle_codec && node .build/bench/codec_tinybench.mjs --json "$results/codec_node.json" || status=1 ;;
    node24) bundle_codec && "$NODE24" .build/bench/codec_tinybench.mjs --json "$results/codec_node24.json" || status=1 ;;
  esac
done

# CPU profiles of row 1's natsbridge mode alone (sender and receiver processes),
# the evidence RESULTS.md quotes when the throughput targets are missed.
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
  prof=.build/bench/prof
  mkdir -p "$results/profiles"
  for rt in deno node; do
    [[ " ${runtimes[*]} " == *" $rt "* ]] || continue
    echo "=== profile row 1 on $rt"
    rm -rf "$prof" && mkdir -p "$prof"
    case "$rt" in
      deno) BENCH_ROW1_MODES=natsbridge BENCH_CHILD_FLAGS="--cpu-prof --cpu-prof-dir=$prof" \
              deno run -A --cpu-prof --cpu-prof-dir="$prof" bench/run.ts --row 1 >/dev/null || true ;;
      node) bundle_node
            BENCH_ROW1_MODES=natsbridge node --cpu-prof --cpu-prof-dir="$prof" .build/bench/run.mjs --row 1 >/dev/null || true ;;
    esac
    for f in "$prof"/*.cpuprofile; do
      [ -f "$f" ] || continue
      # The receiver child's profile is the one holding row1Receiver.
      if grep -q '"row1Receiver"' "$f"; then role=receiver; else role=sender; fi
      deno run -A bench/cpuprof.ts "$f" 15 >"$results/profiles/row1_${rt}_${role}.md"
    done
  done
fi

deno run -A bench/report.ts
exit $status
