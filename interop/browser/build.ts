/**
 * Builds what the browser peer page needs: natsbridge's browser build
 * (`scripts/build_browser.ts` → `.build/browser/natsbridge.js`) and the peer
 * page script (`page.ts`, with `natsbridge` left as an import the page's import
 * map points at that build), and returns the files the driver serves.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { buildBrowser, ROOT } from "../../scripts/build_browser.ts";

/** Path prefix under which the driver serves the page, on the file server's origin. */
export const PAGE_PREFIX = "/__natsbridge_peer__/";

/** The page: an import map pointing `natsbridge` at the browser build, then the peer script. */
export const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>natsbridge browser peer</title>
<script type="importmap">{"imports": {"natsbridge": "./natsbridge.js"}}</script>
<script type="module" src="./page.js"></script>
</head><body>natsbridge browser peer</body></html>
`;

/**
 * Builds natsbridge.js and page.js.
 *
 * @returns File name → [content type, body] for every file of the page.
 */
export async function buildBrowserPeer(): Promise<Map<string, [string, Uint8Array]>> {
  const { file } = await buildBrowser();
  const page = await esbuild.build({
    entryPoints: [join(ROOT, "interop", "browser", "page.ts")],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    target: "es2022",
    external: ["natsbridge"],
    logLevel: "warning",
  });
  const js = "text/javascript; charset=utf-8";
  return new Map<string, [string, Uint8Array]>([
    ["peer.html", ["text/html; charset=utf-8", new TextEncoder().encode(PAGE_HTML)]],
    ["page.js", [js, page.outputFiles[0].contents]],
    ["natsbridge.js", [js, readFileSync(file)]],
  ]);
}
