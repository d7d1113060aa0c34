/**
 * Builds natsbridge for browsers: `mod.ts` bundled by esbuild (platform
 * browser, format esm) into `.build/browser/natsbridge.js`, with the runtime
 * seams swapped for their browser versions:
 *
 * | module | browser version | why |
 * | --- | --- | --- |
 * | `engine/platform/sha256.ts` | `sha256_browser.ts` | hash-wasm, no `node:crypto` |
 * | `engine/platform/connect.ts` | `connect_browser.ts` | `wsconnect` (nats-server's WebSocket listener) |
 * | `engine/platform/fetch_failures.ts` | `fetch_failures_browser.ts` | a failed `fetch` may be a CORS refusal |
 * | `engine/platform/file_source.ts` | `file_source_browser.ts` | no file paths |
 * | `engine/platform/request_streams.ts` | `request_streams_browser.ts` | no streamed request bodies over HTTP/1.1 |
 * | `engine/platform/utf8.ts` | `utf8_browser.ts` | a fatal `TextDecoder`, no `node:buffer` |
 * | `workers/pool.ts` | `workers/pool_browser.ts` | inline only, no piscina / `node:os` |
 *
 * The build fails when a browser version lacks an export of the module it
 * replaces, or when anything in the bundle still imports a `node:` module.
 *
 * Usage: `deno run -A scripts/build_browser.ts [--outdir DIR] [--minify]`
 * (also `bun scripts/build_browser.ts`).
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

/** Repository root (the folder holding deno.json above this script). */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "deno.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** Source module → its browser version (paths relative to the repository root). */
export const BROWSER_SEAMS: Readonly<Record<string, string>> = {
  "engine/platform/sha256.ts": "engine/platform/sha256_browser.ts",
  "engine/platform/connect.ts": "engine/platform/connect_browser.ts",
  "engine/platform/fetch_failures.ts": "engine/platform/fetch_failures_browser.ts",
  "engine/platform/file_source.ts": "engine/platform/file_source_browser.ts",
  "engine/platform/request_streams.ts": "engine/platform/request_streams_browser.ts",
  "engine/platform/utf8.ts": "engine/platform/utf8_browser.ts",
  "workers/pool.ts": "workers/pool_browser.ts",
};

/** The names a module exports (`export function|class|const|let|interface|type|async function NAME`). */
function exportNames(file: string): Set<string> {
  const text = readFileSync(file, "utf8");
  const names = new Set<string>();
  for (
    const m of text.matchAll(
      /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|class|const|let|var|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm,
    )
  ) {
    names.add(m[1]);
  }
  return names;
}

/**
 * Checks that every browser version exports what the module it replaces exports.
 *
 * @returns One message per missing export (empty when all is well).
 */
export function checkSeamParity(): string[] {
  const problems: string[] = [];
  for (const [from, to] of Object.entries(BROWSER_SEAMS)) {
    const want = exportNames(join(ROOT, from));
    const have = exportNames(join(ROOT, to));
    for (const name of want) {
      if (!have.has(name)) problems.push(`${to} lacks export "${name}" of ${from}`);
    }
  }
  return problems;
}

/**
 * The esbuild plugin that swaps the runtime seams for their browser versions.
 *
 * @param only The seams to swap (their source modules, as keys of
 *   {@link BROWSER_SEAMS}); all of them by default. Tests swap a few to run
 *   the browser's behaviour on a server runtime.
 * @returns The plugin.
 */
export function browserSeamsPlugin(only: readonly string[] = Object.keys(BROWSER_SEAMS)): esbuild.Plugin {
  const unknown = only.filter((f) => !(f in BROWSER_SEAMS));
  if (unknown.length) throw new Error(`not browser seams: ${unknown.join(", ")}`);
  const seams = new Map(only.map((f) => [join(ROOT, f), join(ROOT, BROWSER_SEAMS[f])]));
  return {
    name: "natsbridge-browser-seams",
    setup(build) {
      build.onResolve({ filter: /\.ts$/ }, (args) => {
        if (!args.path.startsWith(".")) return undefined;
        const target = seams.get(resolve(args.resolveDir, args.path));
        return target ? { path: target } : undefined;
      });
      // @nats-io/obj reaches node:crypto through a dynamic import only for its
      // "native" SHA-256 backend, which natsbridge never selects (its own
      // reader and writer hash): an empty module stands in, so that path fails
      // with the package's own clear message.
      build.onResolve(
        { filter: /^node:crypto$/ },
        (args) =>
          args.importer.includes(`${"@nats-io"}/obj/`)
            ? { path: "node:crypto", namespace: "natsbridge-empty" }
            : undefined,
      );
      build.onLoad(
        { filter: /.*/, namespace: "natsbridge-empty" },
        () => ({ contents: "export {};", loader: "js" }),
      );
    },
  };
}

/** Options of {@link buildBrowser}. */
export interface BuildBrowserOptions {
  /** Output folder. @default {".build/browser"} */
  outdir?: string;
  /** Minify. @default {false} */
  minify?: boolean;
}

/**
 * Builds `natsbridge.js` for browsers.
 *
 * @param options Output folder, minification.
 * @returns The path of the bundle and its size in bytes.
 */
export async function buildBrowser(
  options: BuildBrowserOptions = {},
): Promise<{ file: string; bytes: number }> {
  const problems = checkSeamParity();
  if (problems.length) throw new Error(`browser seams out of step:\n  ${problems.join("\n  ")}`);
  const outdir = resolve(ROOT, options.outdir ?? ".build/browser");
  const file = join(outdir, "natsbridge.js");
  const result = await esbuild.build({
    entryPoints: [join(ROOT, "mod.ts")],
    outfile: file,
    // Written below, each file whole under its name at once: esbuild rewrote
    // them in place, and an interop peer starting beside another's build read
    // half a bundle ("does not provide an export named 'Bridge'").
    write: false,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    // top-level await (sha256_browser.ts) needs esm + es2022
    minify: options.minify ?? false,
    sourcemap: true,
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
    plugins: [browserSeamsPlugin()],
  });
  const nodeImports = Object.entries(result.metafile.inputs).flatMap(([input, info]) =>
    info.imports.filter((i) => i.path.startsWith("node:") || i.path === "piscina").map((i) =>
      `${input} → ${i.path}`
    )
  );
  if (nodeImports.length) {
    throw new Error(`browser bundle still imports Node modules:\n  ${nodeImports.join("\n  ")}`);
  }
  mkdirSync(outdir, { recursive: true });
  for (const out of result.outputFiles) {
    const temp = `${out.path}.${process.pid}.${crypto.randomUUID()}.tmp`;
    writeFileSync(temp, out.contents);
    renameSync(temp, out.path);
  }
  const bytes = result.outputFiles.find((o) => o.path === file)?.contents.byteLength ?? readFileSync(file).byteLength;
  return { file, bytes };
}

// Deno and Bun set import.meta.main; bundled into another program (Node) it is undefined.
if ((import.meta as { main?: boolean }).main) {
  const args = process.argv.slice(2);
  const outdir = args.includes("--outdir") ? args[args.indexOf("--outdir") + 1] : undefined;
  try {
    const { file, bytes } = await buildBrowser({ outdir, minify: args.includes("--minify") });
    console.log(`${relative(process.cwd(), file)}: ${(bytes / 1024).toFixed(0)} KiB`);
  } catch (err) {
    console.error(`build_browser: ${(err as Error).message}`);
    process.exit(1);
  }
}
