/**
 * Shared pieces of the benchmark rows: which runtime this is, quick mode,
 * servers (through scripts/servers.ts: free loopback ports, stopped by PID),
 * timing and percentiles, the result record, the event-loop lag sampler, the
 * RSS sampler and child processes of the same runtime.
 *
 * Every figure a row reports is set against a baseline measured in the same
 * run, on the same machine, in the same process where possible: the machine
 * is shared and noisy, so absolute numbers mean little and ratios a lot.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release, totalmem } from "node:os";
import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { type NatsServer, ROOT, type RunningServer, startNats, startPlik } from "../scripts/servers.ts";

export { ROOT };
export type { NatsConnection };

// ---------------------------------------------------------------------------
// Runtime and mode

/** The three runtimes the bench runs on. */
export type Runtime = "deno" | "bun" | "node";

const g = globalThis as unknown as {
  Deno?: { version: { deno: string } };
  Bun?: { version: string; gc?: (force: boolean) => void };
  gc?: () => void;
};

/** The runtime this process is. */
export const RUNTIME: Runtime = g.Deno ? "deno" : g.Bun ? "bun" : "node";

/**
 * The name a run's results go under: the runtime, or `BENCH_LABEL` when one
 * runtime is benched in two versions (bench/all.sh sets `node24` for Node's
 * current LTS beside the machine's Node).
 */
export const RUN_LABEL: string = process.env.BENCH_LABEL || RUNTIME;

/** `deno 2.9.6`, `bun 1.4.5`, `node v20.20.2`. */
export function runtimeVersion(): string {
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  if (g.Bun) return `bun ${g.Bun.version}`;
  return `node ${process.version}`;
}

/** `BENCH_QUICK=1`: smaller N and sizes, a couple of minutes for all rows. */
export const QUICK: boolean = process.env.BENCH_QUICK === "1";

/** Picks the quick or the full value. */
export function size<T>(full: T, quick: T): T {
  return QUICK ? quick : full;
}

/** The machine, as RESULTS.md shows it. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
}

/** CPU model, core count, memory (node:os, on all three runtimes). */
export function machine(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model?.trim() || "unknown",
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
  };
}

/** Progress lines go to stderr, so stdout stays free for child-process messages. */
export function log(...parts: unknown[]): void {
  process.stderr.write(`[bench ${RUN_LABEL}] ${parts.join(" ")}\n`);
}

// ---------------------------------------------------------------------------
// Timing and statistics

/** Milliseconds, monotonic, sub-millisecond resolution. */
export const now = (): number => performance.now();

/** Runs `fn` and returns its wall time in ms. */
export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = now();
  await fn();
  return now() - t0;
}

/** Nearest-rank percentile of `values` (`p` in 0..100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Median. */
export const median = (values: readonly number[]): number => percentile(values, 50);

/** Summary of a sample. */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** n, min, p50, p99, max, mean. */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    min: n ? values.reduce((a, b) => Math.min(a, b), Infinity) : NaN,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: n ? values.reduce((a, b) => Math.max(a, b), -Infinity) : NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : NaN,
  };
}

/** Rounds for display and JSON: 3 significant digits, at most 3 decimals. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x);
  if (a >= 10) return Math.round(x * 10) / 10;
  if (a >= 1) return Math.round(x * 100) / 100;
  return Number(x.toPrecision(3));
}

// ---------------------------------------------------------------------------
// Result records

/** A target: `actual op target` must hold. */
export interface Check {
  /** What is checked, e.g. `"≥ 0.5× raw"`. */
  label: string;
  actual: number;
  op: ">=" | "<=";
  target: number;
  pass: boolean;
}

/** Builds a {@link Check}. */
export function check(label: string, actual: number, op: ">=" | "<=", target: number): Check {
  const pass = Number.isFinite(actual) && (op === ">=" ? actual >= target : actual <= target);
  return { label, actual: round(actual), op, target, pass };
}

/** A figure with its unit. */
export interface Figure {
  label: string;
  value: number;
  unit: string;
}

/** One line of the results: a measurement against its baseline. */
export interface RowResult {
  /** Row of the issue (1–7). */
  row: number;
  /** Unique id within a run, e.g. `"1a"`. */
  id: string;
  /** What is measured, in a few words. */
  name: string;
  measured: Figure;
  baseline: Figure;
  /** The headline ratio, and what it is a ratio of. */
  ratio: number;
  ratioLabel: string;
  checks: Check[];
  /** Further figures of the same run (other variants, evidence). */
  extra: Record<string, number | string>;
}

/** Builds a {@link RowResult}, rounding its figures. */
export function result(r: RowResult): RowResult {
  const extra: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(r.extra)) extra[k] = typeof v === "number" ? round(v) : v;
  return {
    ...r,
    measured: { ...r.measured, value: round(r.measured.value) },
    baseline: { ...r.baseline, value: round(r.baseline.value) },
    ratio: round(r.ratio),
    extra,
  };
}

/** What a run writes to bench/results/<label>.json. */
export interface RunFile {
  /** {@link RUN_LABEL}: `deno`, `bun`, `node` or `node24`. */
  runtime: string;
  version: string;
  quick: boolean;
  command: string;
  date: string;
  machine: MachineInfo;
  seconds: number;
  results: RowResult[];
  errors: { row: number; message: string }[];
}

/** Context handed to every row. */
export interface BenchContext {
  nats: NatsServer;
  plik: RunningServer;
  /** A connection rows may share (they open their own when they need isolation). */
  nc: NatsConnection;
}

// ---------------------------------------------------------------------------
// Servers and connections

/** Starts nats-server (JetStream) and the Plik-compatible server on free loopback ports. */
export async function startServers(): Promise<{ nats: NatsServer; plik: RunningServer; stop(): Promise<void> }> {
  const nats = await startNats();
  const plik = await startPlik();
  return {
    nats,
    plik,
    async stop() {
      await plik.stop();
      await nats.stop();
    },
  };
}

/** A nats.js connection (the transport natsbridge itself uses). */
export function connectNats(url: string, name = `bench-${RUNTIME}`): Promise<NatsConnection> {
  return connect({ servers: url, name });
}

// ---------------------------------------------------------------------------
// Data

/** `n` random bytes (randomFillSync: fast, and incompressible). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 1 << 24) randomFillSync(out, i, Math.min(1 << 24, n - i));
  return out;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
/** Megabytes (10^6) per second, as throughput is quoted. */
export const mbPerSec = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

// ---------------------------------------------------------------------------
// Event-loop lag

/** Lag figures in ms: per-tick delay beyond the 1 ms interval. */
export interface LagSummary extends Summary {
  /** Ticks of the sampler. */
  ticks: number;
}

/** Garbage-collector pauses seen while observing (ms). */
export interface GcPauses {
  /** Major (mark-compact) pauses. */
  major: number[];
  /** Minor (scavenge) pauses. */
  minor: number[];
}

/**
 * Records the garbage collector's pauses through `PerformanceObserver`'s
 * `"gc"` entries. Only Node reports them; elsewhere `stop()` returns
 * `undefined`.
 */
export function startGcObserver(): { stop(): GcPauses | undefined } {
  const seen: GcPauses = { major: [], minor: [] };
  let observer: PerformanceObserver | undefined;
  if (RUNTIME === "node") {
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as { detail?: { kind?: number } }).detail?.kind;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) seen.major.push(e.duration);
        else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) seen.minor.push(e.duration);
      }
    });
    observer.observe({ entryTypes: ["gc"] });
  }
  return {
    stop() {
      observer?.disconnect();
      return observer ? seen : undefined;
    },
  };
}

/** A lag sampler's outcome: the summary and every tick's lag (ms). */
export interface LagSample extends LagSummary {
  samples: number[];
}

/**
 * Samples event-loop lag with `setInterval(…, 1)` (the same on every runtime):
 * each tick records how much later than 1 ms after the previous one it ran.
 * A 50 ms stall shows as one 49 ms sample, so read `max` beside `p99`.
 */
export function startLagSampler(intervalMs = 1): { stop(): LagSample } {
  const lags: number[] = [];
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    lags.push(Math.max(0, t - last - intervalMs));
    last = t;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return { ...summarize(lags), ticks: lags.length, samples: lags };
    },
  };
}

// ---------------------------------------------------------------------------
// Memory

/** Resident set size now, bytes (`process.memoryUsage().rss`, all three runtimes). */
export const rss = (): number => process.memoryUsage().rss;

/** Asks for a full GC where the runtime allows it without flags (Bun), else does nothing. */
export function tryGc(): void {
  try {
    if (g.Bun?.gc) g.Bun.gc(true);
    else g.gc?.();
  } catch { /* not available */ }
}

/**
 * Linux's own high-water mark (VmHWM) of this process, reset first so it
 * covers only what follows: catches peaks a sampler on a busy event loop
 * misses. `undefined` where /proc is not there.
 */
export const hwm = {
  reset(): boolean {
    try {
      writeFileSync("/proc/self/clear_refs", "5");
      return true;
    } catch {
      return false;
    }
  },
  read(): number | undefined {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  },
};

/** Samples RSS every `intervalMs`; `stop()` gives the peak seen (bytes). */
export function startRssSampler(intervalMs = 5): { stop(): { peak: number; samples: number } } {
  let peak = rss();
  let samples = 1;
  const timer = setInterval(() => {
    const r = rss();
    samples++;
    if (r > peak) peak = r;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const r = rss();
      return { peak: Math.max(peak, r), samples: samples + 1 };
    },
  };
}

/** Idle RSS: the median of a few samples after a pause (and a GC where possible). */
export async function idleRss(ms = 300): Promise<number> {
  tryGc();
  const samples: number[] = [];
  for (let t = 0; t < ms; t += 20) {
    samples.push(rss());
    await sleep(20);
  }
  return median(samples);
}

/**
 * CPU time (user + system, µs) another process has used so far, from
 * `/proc/<pid>/stat`; `NaN` where there is no procfs. Clock-tick resolution
 * (10 ms): read it over runs of a second or more.
 */
export function procCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / 100) * 1e6;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Child processes of the same runtime

let entry: string | undefined;

/** Records the entry module (bench/run.ts, or its Node bundle) children are started from. */
export function setEntry(url: string): void {
  entry = fileURLToPath(url);
}

/** A child process of this runtime running the bench entry with `args`, talking JSON lines on stdout. */
export interface Child {
  proc: ChildProcess;
  /** Resolves with the next JSON line matching `pred` (earlier lines are dropped). */
  next<T = Record<string, unknown>>(pred?: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Waits for exit (kills by PID after `timeoutMs`). */
  exit(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

/** The command that starts the bench entry on this runtime. */
export function selfCommand(args: string[], runtimeFlags: string[] = []): [string, string[]] {
  if (!entry) throw new Error("setEntry() was not called");
  // Children inherit the parent's runtime flags as node's fork() does (e.g. --cpu-prof),
  // plus BENCH_CHILD_FLAGS (space-separated) for runtimes that do not expose them.
  const inherited = RUNTIME === "node" ? process.execArgv : [];
  const extra = (process.env.BENCH_CHILD_FLAGS ?? "").split(" ").filter(Boolean);
  const flags = [...inherited, ...extra, ...runtimeFlags];
  const pre = RUNTIME === "deno" ? ["run", "-A", ...flags] : flags;
  return [process.execPath, [...pre, entry, ...args]];
}

/** Starts the bench entry in a child process of this runtime, e.g. `--child row1-receiver …`. */
export function spawnSelf(args: string[], runtimeFlags: string[] = []): Child {
  const [cmd, argv] = selfCommand(args, runtimeFlags);
  const proc = spawn(cmd, argv, { stdio: ["ignore", "pipe", "inherit"], cwd: ROOT, env: process.env });
  const queue: Record<string, unknown>[] = [];
  const waiters: { pred: (m: Record<string, unknown>) => boolean; res: (m: never) => void; rej: (e: Error) => void }[] = [];
  let exited: number | null | undefined;
  const exitWaiters: ((c: number | null) => void)[] = [];
  const deliver = () => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      const at = queue.findIndex(w.pred);
      if (at !== -1) {
        const [m] = queue.splice(0, at + 1).slice(-1);
        waiters.splice(i--, 1);
        w.res(m as never);
      }
    }
  };
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    try {
      queue.push(JSON.parse(line));
    } catch {
      return;
    }
    deliver();
  });
  proc.on("exit", (code) => {
    exited = code;
    for (const w of waiters.splice(0)) w.rej(new Error(`child ${args.join(" ")} exited with ${code}`));
    for (const e of exitWaiters.splice(0)) e(code);
  });
  return {
    proc,
    next<T>(pred: (m: Record<string, unknown>) => boolean = () => true, timeoutMs = 120_000): Promise<T> {
      return new Promise<T>((res, rej) => {
        if (exited !== undefined) return rej(new Error(`child ${args.join(" ")} exited with ${exited}`));
        const timer = setTimeout(() => rej(new Error(`child ${args.join(" ")}: no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          pred,
          res: (m) => (clearTimeout(timer), res(m as T)),
          rej: (e) => (clearTimeout(timer), rej(e)),
        });
        deliver();
      });
    },
    exit(timeoutMs = 30_000): Promise<number | null> {
      if (exited !== undefined) return Promise.resolve(exited);
      return new Promise((res) => {
        const timer = Number.isFinite(timeoutMs) ? setTimeout(() => proc.kill("SIGKILL"), timeoutMs) : undefined;
        exitWaiters.push((c) => (clearTimeout(timer), res(c)));
      });
    },
    kill() {
      if (exited === undefined && proc.pid) proc.kill("SIGKILL");
    },
  };
}

/** In a child: sends one JSON message to the parent. */
export function tell(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}
