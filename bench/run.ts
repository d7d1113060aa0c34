/**
 * Runs the benchmark rows on the current runtime, prints a table and writes
 * `bench/results/<runtime>.json` (`bench/results/quick/` with `BENCH_QUICK=1`;
 * `BENCH_LABEL` names the file instead, as `node24`).
 *
 *     deno run -A bench/run.ts [--row 1,3]
 *     bun bench/run.ts
 *     node .build/bench/run.mjs        (bundled by bench/all.sh after npm run build)
 *
 * The same entry starts the child processes rows need (`--child <name> …`), so
 * every child runs on the same runtime as its parent, bundled or not.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  type BenchContext,
  connectNats,
  log,
  machine,
  QUICK,
  ROOT,
  type RowResult,
  type RunFile,
  RUN_LABEL,
  RUNTIME,
  runtimeVersion,
  setEntry,
  startServers,
} from "./_harness.ts";
import { row1, row1Receiver } from "./row1_throughput.ts";
import { row2 } from "./row2_codec_cpu.ts";
import { row3 } from "./row3_link_latency.ts";
import { row4 } from "./row4_object_store_100mb.ts";
import { row5 } from "./row5_arrow_table.ts";
import { row6 } from "./row6_event_loop_lag.ts";
import { row7, row7Receiver, row7Sender } from "./row7_stream_rss.ts";
import { formatTable } from "./_table.ts";

setEntry(import.meta.url);

const ROWS: Record<number, (ctx: BenchContext) => Promise<RowResult[]>> = {
  1: row1,
  2: row2,
  3: row3,
  4: row4,
  5: row5,
  6: row6,
  7: row7,
};

const CHILDREN: Record<string, (...args: string[]) => Promise<void>> = {
  "row1-receiver": (url, prefix) => row1Receiver(url, prefix),
  "row7-receiver": (url, bucket, subject, mode) => row7Receiver(url, bucket, subject, mode),
  "row7-sender": (url, bucket, subject, file, mode) => row7Sender(url, bucket, subject, file, mode),
};

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

async function main(): Promise<void> {
  const childName = flag("--child");
  if (childName) {
    const fn = CHILDREN[childName];
    if (!fn) throw new Error(`unknown child ${childName}`);
    const at = process.argv.indexOf("--child");
    await fn(...process.argv.slice(at + 2));
    process.exit(0);
  }

  const rows = (flag("--row") ?? "1,2,3,4,5,6,7").split(",").map(Number);
  const started = performance.now();
  log(`${runtimeVersion()}${QUICK ? " (quick)" : ""}: rows ${rows.join(", ")}`);
  const servers = await startServers();
  const nc = await connectNats(servers.nats.url);
  const ctx: BenchContext = { nats: servers.nats, plik: servers.plik, nc };
  const results: RowResult[] = [];
  const errors: { row: number; message: string }[] = [];
  try {
    for (const row of rows) {
      const t0 = performance.now();
      log(`row ${row} …`);
      try {
        results.push(...await ROWS[row](ctx));
      } catch (err) {
        const e = err as Error;
        log(`row ${row} FAILED: ${e.stack ?? e.message}`);
        errors.push({ row, message: e.message });
      }
      log(`row ${row} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await nc.close().catch(() => {});
    await servers.stop();
  }

  const file: RunFile = {
    runtime: RUN_LABEL,
    version: runtimeVersion(),
    quick: QUICK,
    command: commandLine(),
    date: new Date().toISOString(),
    machine: machine(),
    seconds: Math.round((performance.now() - started) / 1000),
    results,
    errors,
  };
  console.log(formatTable(file));
  if (flag("--row") === undefined || process.env.BENCH_WRITE === "1") {
    const dir = join(ROOT, "bench", "results", ...(QUICK ? ["quick"] : []));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${RUN_LABEL}.json`), `${JSON.stringify(file, null, 2)}\n`);
    log(`wrote ${join(dir, `${RUN_LABEL}.json`)}`);
  }
  // Pool workers and sockets of the rows must not keep the process alive.
  process.exit(errors.length ? 1 : 0);
}

function commandLine(): string {
  if (RUNTIME === "deno") return "deno run -A bench/run.ts";
  if (RUNTIME === "bun") return "bun bench/run.ts";
  const node = RUN_LABEL === "node" ? "node" : `.tools/${RUN_LABEL}/bin/node`;
  return `${node} .build/bench/run.mjs  (bench/run.ts bundled by esbuild)`;
}

await main();
