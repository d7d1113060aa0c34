#!/usr/bin/env bash
# Runs the Deno that scripts/setup.sh installed (the npm package's binary), or a
# `deno` on PATH. `deno task` cannot start node_modules/.bin/deno itself: it runs
# npm bin entries as JavaScript, and this one is a native executable
# (denoland/deno#27114), so tasks go through here.
root="$(cd "$(dirname "$0")/.." && pwd)"
for bin in "$root/node_modules/deno/deno" "$root/node_modules/.bin/deno"; do
  [ -x "$bin" ] && exec "$bin" "$@"
done
exec deno "$@"
