/**
 * Type-checks the doc examples marked `ts ignore` that import "natsbridge":
 * they need servers to run, so `deno check --doc` skips them, yet they are
 * what a user pastes. Each is checked as a module of its own against
 * `mod.ts`, as an npm or JSR user would import it.
 *
 *     deno run -A scripts/check_ignored_examples.ts
 *
 * Prints one line per failing example (file:line and the compiler's errors)
 * and exits 1 if any failed.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const files = execFileSync("git", ["ls-files", "mod.ts", "engine/*.ts", "workers/*.ts"], { cwd: ROOT, encoding: "utf8" })
  .split("\n").filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));

const dir = mkdtempSync(join(tmpdir(), "natsbridge-examples-"));
const examples: { path: string; at: string }[] = [];
for (const file of files) {
  const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\* ```ts ignore\s*$/.test(lines[i])) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*\* ```\s*$/.test(lines[j]); j++) body.push(lines[j].replace(/^\s*\* ?/, ""));
    const code = body.join("\n");
    if (code.includes('from "natsbridge"')) {
      const path = join(dir, `example_${examples.length}.ts`);
      const mod = join(ROOT, "mod.ts");
      writeFileSync(path, `${code.replaceAll('from "natsbridge"', `from ${JSON.stringify(mod)}`)}\nexport {};\n`);
      examples.push({ path, at: `${file}:${i + 1}` });
    }
    i = j;
  }
}

// One run for all: a run per example type-checked mod.ts again each time (80 s against 3).
let failing = 0;
let unplaced = "";
try {
  const r = spawnSync("deno", ["check", "--quiet", ...examples.map((e) => e.path)], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const output = `${r.stdout}${r.stderr}`;
  for (const { path, at } of examples) {
    // deno names the file of each error on an "at file:///…:line:col" line after it.
    const mine = output.split(/\n(?=TS\d+ )/).filter((block) => block.includes(`file://${path}:`));
    if (mine.length === 0) continue;
    failing++;
    console.log(`FAIL ${at}:\n${mine.join("\n")}`);
  }
  if (r.status !== 0 && failing === 0) unplaced = output;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (unplaced) console.log(`FAIL deno check, in no example: ${unplaced}`);
console.log(`${examples.length - failing} of ${examples.length} ignored examples type-check`);
process.exit(failing || unplaced ? 1 : 0);
