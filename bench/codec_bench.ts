/**
 * `deno bench` front-end of the codec micro-benchmarks (`bench/codec_cases.ts`);
 * `deno bench` prints each case as a ratio to its group's baseline:
 *
 *     deno bench -A bench/codec_bench.ts
 *
 * `npm run bench` runs it with `--json` for bench/RESULTS.md; Bun and Node run
 * the same cases through tinybench (`bench/codec_tinybench.ts`).
 *
 * @module
 */
import { codecCases, runnable } from "./codec_cases.ts";

for (const c of await codecCases()) {
  Deno.bench({
    name: c.name,
    group: c.group,
    baseline: c.baseline,
    fn: await runnable(c) as () => void,
  });
}
