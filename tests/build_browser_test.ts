/**
 * The browser build as scripts and the interop harness make it: a bundle read
 * while another process rebuilds it is whole.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBrowser } from "../scripts/build_browser.ts";

test("a browser bundle read while other builds rewrite it is whole, never cut short", async () => {
  // Each browser interop peer rebuilds .build/browser/natsbridge.js; esbuild
  // rewrote it in place, so a peer starting beside another read half a file
  // ("does not provide an export named 'Bridge'": 1 CI run in several).
  const outdir = mkdtempSync(join(tmpdir(), "natsbridge-browser-build-"));
  try {
    const { file } = await buildBrowser({ outdir });
    const whole = readFileSync(file).byteLength;
    const cut: number[] = [];
    for (let round = 0; round < 2; round++) {
      let building = true;
      const builds = Promise.all(Array.from({ length: 4 }, () => buildBrowser({ outdir }))).finally(() => (building = false));
      while (building) {
        if (existsSync(file)) {
          const n = readFileSync(file).byteLength;
          if (n !== whole) cut.push(n);
        }
        await new Promise((r) => setTimeout(r, 0));
      }
      await builds;
    }
    assert.deepEqual(cut, [], `reads of a bundle of ${whole} bytes found it cut short`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
