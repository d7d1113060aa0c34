/**
 * Shared test helpers. Assertions compare error `code`s rather than classes so
 * the same tests hold whether natsbridge is loaded from source or from lib/.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import v8 from "node:v8";
import vm from "node:vm";
import type { Bridge, ConsumeOptions } from "natsbridge";

/** Asserts that `fn` rejects (or throws) a natsbridge error with `code`; returns it. */
export async function rejectsWithCode(
  fn: () => unknown,
  code: string,
  match?: RegExp,
): Promise<Error & { code: string; correlationId: string; dataname: string; field: string }> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected an error with code ${code}, got none`);
  const e = caught as Error & { code: string; correlationId: string; dataname: string; field: string };
  assert.equal(e.code, code, `expected code ${code}, got ${e.code}: ${e.message}`);
  if (match) assert.match(e.message, match);
  return e;
}

/**
 * `data` as a stream of unknown size, cut into pieces of the given sizes in
 * turn (not lined up with any chunk size unless asked).
 */
export function piecesOf(data: Uint8Array, ...sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let k = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= data.byteLength) return c.close();
      const n = sizes[k++ % sizes.length];
      c.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
}

/**
 * Reads a stream payload to its end, hashing it. `midway` runs once, awaited,
 * when `at` bytes have been read: to break something in the middle of a read.
 * Rejects as the stream does.
 */
export async function drainBreakingAt(
  stream: unknown,
  at: number,
  midway: () => Promise<unknown>,
): Promise<{ size: number; sha256: string; brokeAt: boolean }> {
  const h = createHash("sha256");
  let size = 0;
  let brokeAt = false;
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    h.update(chunk);
    size += chunk.byteLength;
    if (!brokeAt && size >= at) {
      brokeAt = true;
      await midway();
    }
  }
  return { size, sha256: h.digest("hex"), brokeAt };
}

/** Deterministic pseudo-random bytes. */
export function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A valid envelope object with one direct text payload "hi", for mutation tests. */
export function sampleEnvelope(): Record<string, unknown> & { payloads: Record<string, unknown>[] } {
  return {
    correlation_id: "c0ffee00-0000-4000-8000-000000000001",
    msg_id: "c0ffee00-0000-4000-8000-000000000002",
    timestamp: "2026-03-13T10:30:00.123Z",
    send_to: "chat",
    msg_purpose: "chat",
    sender_name: "test",
    sender_id: "c0ffee00-0000-4000-8000-000000000003",
    receiver_name: "",
    receiver_id: "",
    reply_to: "",
    reply_to_msg_id: "",
    broker_url: "nats://127.0.0.1:4222",
    metadata: {},
    payloads: [{
      id: "c0ffee00-0000-4000-8000-000000000004",
      dataname: "msg",
      payload_type: "text",
      transport: "direct",
      encoding: "base64",
      size: 2,
      data: "aGk=",
      metadata: { checksum: "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4" },
    }],
  };
}

/** Stops process `pid` (SIGSTOP) and waits until the kernel shows it stopped: a signal lands a moment later. */
export async function suspend(pid: number): Promise<void> {
  process.kill(pid, "SIGSTOP");
  const deadline = Date.now() + 5000;
  while (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "T") {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Consumes with `options` until some message is delivered a second time (or
 * `ms` pass), then stops: the delivery counts seen, in order. Shows a message
 * naked (redelivered), not termed.
 */
export async function deliveriesUntilRedelivered(
  bridge: Pick<Bridge, "consume">,
  options: Omit<ConsumeOptions, "signal" | "on_delivery">,
  ms: number,
): Promise<number[]> {
  const deliveries: number[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  for await (const _ of bridge.consume({
    ...options,
    signal: ac.signal,
    on_delivery: (d) => {
      deliveries.push(d.deliveries);
      if (d.deliveries === 2) ac.abort();
    },
  }));
  clearTimeout(timer);
  return deliveries;
}

/** Waits until `done()` holds or `ms` have passed, looking every 20 ms; the caller asserts what it needs. */
export async function pollUntil(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * `connect()`, again until the server has a place free: on a server with
 * `max_connections`, the probe that saw it listen may still hold one.
 */
export async function whenPlaceFree<T>(connect: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await connect();
    } catch (err) {
      if (tries === 100) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The parts one after another, in one buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Reads `stream` with a BYOB reader into fresh buffers of `size` bytes; returns what each read gave. */
export async function readByob(stream: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array[]> {
  const reader = stream.getReader({ mode: "byob" });
  const reads: Uint8Array[] = [];
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(size));
    if (done) break;
    reads.push(value!);
  }
  return reads;
}

type Transferable = ArrayBuffer & { transfer?: (n?: number) => ArrayBuffer };

/** Why a test of freeing buffers early is skipped here, or false where the runtime can (not Node 20). */
export const NO_TRANSFER: string | false = typeof (ArrayBuffer.prototype as Transferable).transfer !== "function"
  ? "this runtime has no ArrayBuffer.prototype.transfer (Node 20): nothing is freed early"
  : false;

/** Runs `fn`, recording the size of every buffer freed (detached to length 0) meanwhile; none where nothing can be. */
export async function freedDuring(fn: () => Promise<unknown>): Promise<number[]> {
  const proto = ArrayBuffer.prototype as Transferable;
  const original = proto.transfer;
  const freed: number[] = [];
  if (!original) {
    await fn();
    return freed;
  }
  proto.transfer = function (this: ArrayBuffer, n?: number) {
    if (n === 0) freed.push(this.byteLength);
    return original.call(this, n);
  };
  try {
    await fn();
  } finally {
    proto.transfer = original;
  }
  return freed;
}


/**
 * A function that runs a full garbage collection, on every runtime here:
 * `Bun.gc`, else V8's `gc` exposed at run time (Deno and Node, which the test
 * commands start without `--expose-gc`). `undefined` where none can be had.
 */
export function forcedGc(): (() => void) | undefined {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.gc === "function") return g.gc as () => void;
  const bun = g.Bun as { gc?(force: boolean): void } | undefined;
  if (bun?.gc) return () => bun.gc!(true);
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : undefined;
  } catch {
    return undefined;
  }
}

/**
 * natsbridge as the browser build has it where `seams` are concerned: bundled
 * with those modules of `engine/platform/` swapped for their browser versions,
 * everything else this runtime's.
 */
export async function withBrowserSeams(seams: string[]): Promise<typeof import("natsbridge")> {
  const esbuild = await import("esbuild");
  const { browserSeamsPlugin, ROOT } = await import("../scripts/build_browser.ts");
  const outfile = join(ROOT, ".build", "test", `browser_seams_${process.pid}_${seams.join("_")}.mjs`);
  await esbuild.build({
    entryPoints: [join(ROOT, "mod.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "warning",
    plugins: [browserSeamsPlugin(seams.map((s) => `engine/platform/${s}.ts`))],
  });
  try {
    return await import(new URL(`file://${outfile}`).href);
  } finally {
    rmSync(outfile, { force: true });
  }
}
