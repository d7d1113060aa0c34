/**
 * tinybench front-end of the codec micro-benchmarks (`bench/codec_cases.ts`)
 * for Bun and Node, the counterpart of `deno bench -A bench/codec_bench.ts`:
 *
 *     bun bench/codec_tinybench.ts [--json out.json]
 *     node .build/bench/codec_tinybench.mjs [--json out.json]   (bundled by bench/all.sh)
 *
 * Prints each group as a table of mean µs per op and the ratio to the group's
 * baseline; `--json` also writes the results in `deno bench --json`'s shape,
 * so bench/report.ts reads all three runtimes alike.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import process from "node:process";
import { Bench } from "tinybench";
import { codecCases, runnable } from "./codec_cases.ts";
import { runtimeVersion } from "./_harness.ts";

const cases = await codecCases();
const bench = new Bench({ time: Number(process.env.BENCH_CODEC_MS ?? 300), warmupTime: 100 });
for (const c of cases) bench.add(`${c.group} :: ${c.name}`, await runnable(c) as () => void);
await bench.run();

const rows = cases.map((c, i) => {
  const r = bench.tasks[i].result as { latency?: { mean: number; p99?: number }; totalTime?: number } | undefined;
  const meanMs = r?.latency?.mean ?? NaN;
  return { ...c, nsPerOp: meanMs * 1e6, p99Ns: (r?.latency?.p99 ?? NaN) * 1e6, n: bench.tasks[i].runs };
});
for (const group of [...new Set(rows.map((r) => r.group))]) {
  const inGroup = rows.filter((r) => r.group === group);
  const base = inGroup.find((r) => r.baseline) ?? inGroup[0];
  console.log(`\n${group}`);
  for (const r of inGroup) {
    const ratio = r.nsPerOp / base.nsPerOp;
    console.log(`  ${r.name.padEnd(46)} ${(r.nsPerOp / 1000).toFixed(2).padStart(10)} µs/op  ${r.baseline ? "(baseline)" : `${ratio.toFixed(2)}×`}`);
  }
}

const out = process.argv.indexOf("--json");
if (out !== -1) {
  writeFileSync(process.argv[out + 1], JSON.stringify({
    version: 1,
    runtime: runtimeVersion(),
    tool: "tinybench",
    benches: rows.map((r) => ({
      group: r.group,
      name: r.name,
      baseline: !!r.baseline,
      results: [{ ok: { n: r.n, avg: r.nsPerOp, p99: r.p99Ns } }],
    })),
  }, null, 2));
}
