/**
 * Keeps the two manifests in step, the way nats.js and hono do in their builds.
 *
 *     deno run -A scripts/check_exports.ts              # export maps, version, files
 *     deno run -A scripts/check_exports.ts --examples   # every exported symbol has a doc comment with an @example
 *
 * Export maps: every `deno.json` export must have a `package.json` export of
 * the same key whose `bun` condition is the same source module and whose
 * `import`/`types` conditions are that module built into `lib/` (`.js`,
 * `.d.ts`), and the other way round; an executable entry (`./cli`) may
 * instead be the package's `bin`. Versions must match, and `package.json`
 * `files` must cover every file the maps and the bin name, and `browser` must
 * map each Node-only module built into `lib/` to the browser version
 * `scripts/build_browser.ts` swaps in.
 *
 * Prints one line per check and exits 1 if any failed. Runs under Deno
 * (`--examples` needs `deno doc`); the map checks also under Node and Bun.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BROWSER_SEAMS } from "./build_browser.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

type Conditions = Record<string, string>;
interface DenoJson {
  name: string;
  version: string;
  exports: string | Record<string, string>;
  publish?: { include?: string[]; exclude?: string[] };
}
interface PackageJson {
  name: string;
  version: string;
  exports: Record<string, string | Conditions>;
  bin?: string | Record<string, string>;
  files?: string[];
  browser?: Record<string, string>;
}

const failures: string[] = [];
function check(ok: boolean, what: string, detail = ""): void {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}${!ok && detail ? `: ${detail}` : ""}`);
  if (!ok) failures.push(what);
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(join(ROOT, file), "utf8")) as T;
const deno = readJson<DenoJson>("deno.json");
const pkg = readJson<PackageJson>("package.json");

/** `./engine/cli/main.ts` → `./lib/engine/cli/main` (no extension). */
const built = (source: string) => `./lib/${source.replace(/^\.\//, "").replace(/\.ts$/, "")}`;
const norm = (p: string) => `./${p.replace(/^\.\//, "")}`;

function denoExports(): Record<string, string> {
  return typeof deno.exports === "string" ? { ".": deno.exports } : deno.exports;
}

function bins(): Record<string, string> {
  if (pkg.bin === undefined) return {};
  return typeof pkg.bin === "string" ? { [pkg.name]: pkg.bin } : pkg.bin;
}

function checkMaps(): void {
  check(
    deno.version === pkg.version,
    "deno.json and package.json have the same version",
    `${deno.version} vs ${pkg.version}`,
  );
  const denoMap = denoExports();
  const binTargets = Object.values(bins()).map(norm);
  for (const [key, source] of Object.entries(denoMap)) {
    check(existsSync(join(ROOT, source)), `deno.json export "${key}" → ${source} exists`);
    const entry = pkg.exports[key];
    if (entry === undefined) {
      const asBin = binTargets.includes(`${built(source)}.js`);
      check(
        asBin,
        `deno.json export "${key}" has a package.json export or bin`,
        `${source} has neither`,
      );
      continue;
    }
    if (typeof entry === "string") {
      check(
        norm(entry) === `${built(source)}.js`,
        `package.json export "${key}" is ${source} built`,
        entry,
      );
      continue;
    }
    check(
      norm(entry.bun ?? "") === norm(source),
      `package.json export "${key}".bun is ${source}`,
      entry.bun ?? "missing",
    );
    check(
      norm(entry.import ?? "") === `${built(source)}.js`,
      `package.json export "${key}".import is ${built(source)}.js`,
      entry.import ?? "missing",
    );
    check(
      norm(entry.types ?? "") === `${built(source)}.d.ts`,
      `package.json export "${key}".types is ${built(source)}.d.ts`,
      entry.types ?? "missing",
    );
    check(
      Object.keys(entry)[0] === "types",
      `package.json export "${key}" lists "types" first (TypeScript reads conditions in order)`,
    );
  }
  for (const key of Object.keys(pkg.exports)) {
    check(key in denoMap, `package.json export "${key}" is also a deno.json export`);
  }
  for (const [name, target] of Object.entries(bins())) {
    const source = `./${norm(target).replace(/^\.\/lib\//, "").replace(/\.js$/, ".ts")}`;
    check(existsSync(join(ROOT, source)), `bin "${name}" → ${target} is built from ${source}`);
    const text = existsSync(join(ROOT, source)) ? readFileSync(join(ROOT, source), "utf8") : "";
    check(
      text.startsWith("#!/usr/bin/env node\n"),
      `bin "${name}" source starts with #!/usr/bin/env node`,
    );
  }
  // Every file the maps and the bin name must be in the npm tarball.
  const files = (pkg.files ?? []).map((f) => f.replace(/^\.\//, ""));
  const covered = (p: string) => {
    const rel = p.replace(/^\.\//, "");
    return files.some((
      f,
    ) => (f.endsWith("/") ? rel.startsWith(f) : rel === f || rel.startsWith(`${f}/`)));
  };
  const named = [
    ...Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e))),
    ...Object.values(bins()),
  ];
  for (const p of named) check(covered(p), `package.json "files" covers ${p}`);
  check(covered("README.md"), `package.json "files" covers README.md`);
  // Bundlers swap the Node-only modules of the npm package for the browser
  // versions scripts/build_browser.ts uses, through package.json "browser".
  const browserMap = pkg.browser ?? {};
  const wanted = Object.fromEntries(Object.entries(BROWSER_SEAMS).map(([from, to]) => [`${built(from)}.js`, `${built(to)}.js`]));
  for (const [from, to] of Object.entries(wanted)) {
    check(browserMap[from] === to, `package.json "browser" maps ${from} to ${to}`, browserMap[from] ?? "missing");
  }
  for (const from of Object.keys(browserMap)) check(from in wanted, `package.json "browser" entry ${from} is a seam of scripts/build_browser.ts`);
}

/** Symbols of the JSR entry points without a doc comment or without an `@example`. */
function checkExamples(): void {
  const entries = Object.values(denoExports()).map((s) => join(ROOT, s));
  // deno doc warns about types it cannot resolve inside dependencies (apache-arrow's
  // @types/node); those are not ours, so stderr is dropped and only the JSON read.
  const out = execFileSync("deno", ["doc", "--json", ...entries], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const doc = JSON.parse(out) as {
    nodes: Record<
      string,
      {
        symbols?: {
          name: string;
          declarations: {
            location: { filename: string; line: number };
            jsDoc?: { doc?: string; tags?: { kind: string }[] };
          }[];
        }[];
      }
    >;
  };
  let total = 0;
  const upstream: string[] = [];
  for (const [specifier, node] of Object.entries(doc.nodes)) {
    for (const symbol of node.symbols ?? []) {
      total++;
      for (const d of symbol.declarations) {
        const where = `${relative(ROOT, fileURLToPath(d.location.filename))}:${d.location.line}`;
        // A type re-exported from a dependency carries that package's docs; ours cannot be added.
        if (where.startsWith("node_modules/")) {
          upstream.push(
            `${symbol.name} (${where.replace(/^node_modules\/((@[^/]+\/)?[^/]+).*/, "$1")})`,
          );
          continue;
        }
        const hasDoc = (d.jsDoc?.doc ?? "").trim() !== "";
        const hasExample = (d.jsDoc?.tags ?? []).some((t) => t.kind === "example");
        if (!hasDoc || !hasExample) {
          check(
            false,
            `${symbol.name} (${where}, exported by ${relative(ROOT, fileURLToPath(specifier))})`,
            hasDoc ? "no @example" : "no doc comment",
          );
        }
      }
    }
  }
  if (upstream.length > 0) {
    console.log(`note re-exported from dependencies, documented there: ${upstream.join(", ")}`);
  }
  check(
    failures.length === 0,
    `${total - upstream.length} exported symbols of ours have a doc comment with an @example`,
  );
}

if (process.argv.includes("--examples")) checkExamples();
else checkMaps();
if (failures.length > 0) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
