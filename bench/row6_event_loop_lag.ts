/**
 * Row 6 — main-thread event-loop lag while 100 MiB payloads go end to end
 * (`smartsend` by Object Store link → subscriber → `smartreceive`), with the
 * default `CodecPool` (worker threads) against an inline one
 * (`new CodecPool({ maxThreads: 0 })`). Lag is sampled with `setInterval(…, 1)`
 * on every runtime (see `startLagSampler`); p99 and max over all ticks of all
 * repetitions. Like row 7, it runs on a connection natsbridge opened
 * (`Bridge.connect`), whose socket reads and publish frames natsbridge frees
 * as it goes; the default pool on the application's own nats.js connection,
 * whose buffers natsbridge leaves alone, is reported beside it (`appconn_*`).
 *
 * Raw nats.js in the same run is the floor: `putBlob` + `getBlob`, and
 * `putBlob` + `get()` read as a stream (no final concatenation); and the time
 * one `slice()` of the payload takes (the copy getBlob and `new Blob` make).
 *
 * Two more variants show where the pool acts:
 * - the same through Plik (an owned download is hashed on a worker);
 * - a 100 MiB *owned* buffer checksummed: `pool.checksum(bytes, { owned: true })`
 *   on the default pool (worker), on the inline pool (1 MiB slices with yields),
 *   and one-shot `sha256` on the main thread; plus a bare `worker_threads`
 *   worker doing the same by transfer (the floor under any pool).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { Bridge, CodecPool, type NatsConnection, objectStoreFileServer, plikFileServer, smartreceive, smartsend } from "natsbridge";
import type { FileServer } from "natsbridge";
import {
  type BenchContext,
  check,
  type GcPauses,
  type LagSummary,
  log,
  MiB,
  now,
  randomBytes,
  result,
  type RowResult,
  size,
  sleep,
  startGcObserver,
  startLagSampler,
  summarize,
} from "./_harness.ts";
import { clearBucket } from "./_store.ts";

const TARGET_P99_MS = 5;

/**
 * Lag over several runs of `op`, all ticks pooled. `prepare` makes each run's
 * input before the sampler starts (so a copy is not counted as lag).
 */
async function lagDuring<T = undefined>(
  reps: number,
  op: (input: T) => Promise<unknown>,
  prepare: () => T = () => undefined as T,
): Promise<LagSummary & { op_ms: number; gc?: GcPauses }> {
  const all: number[] = [];
  const times: number[] = [];
  const gc: GcPauses = { major: [], minor: [] };
  let gcSeen = false;
  for (let r = 0; r < reps; r++) {
    const input = prepare();
    await sleep(50);
    const s = startLagSampler();
    const g = startGcObserver();
    const t0 = now();
    await op(input);
    times.push(now() - t0);
    await sleep(5); // a tick held up by a synchronous op fires only now: let it record its lag
    all.push(...s.stop().samples);
    const pauses = g.stop();
    if (pauses) {
      gcSeen = true;
      gc.major.push(...pauses.major);
      gc.minor.push(...pauses.minor);
    }
  }
  return { ...summarize(all), ticks: all.length, op_ms: summarize(times).p50, gc: gcSeen ? gc : undefined };
}

/** The GC figures of a lag run (Node only): major and minor pauses per run, and the major ones' p99 and max. */
function gcExtra(l: { gc?: GcPauses }, reps: number): Record<string, number> {
  if (!l.gc) return {};
  const major = summarize(l.gc.major.length ? l.gc.major : [0]);
  return {
    gc_major_per_op: l.gc.major.length / reps,
    gc_major_p99_ms: major.p99,
    gc_major_max_ms: major.max,
    gc_minor_per_op: l.gc.minor.length / reps,
  };
}

/** Row 6. */
export async function row6(ctx: BenchContext): Promise<RowResult[]> {
  const len = size(100 * MiB, 10 * MiB);
  const reps = size(5, 2);
  const bytes = randomBytes(len);
  const mib = len / MiB;
  // natsbridge's own connection (Bridge.connect, as the README shows and row 7
  // measures); the application's own nats.js connection is the evidence variant.
  const bridge = await Bridge.connect({ broker_url: ctx.nats.url, logger: { log() {} } });
  const nc = bridge.connection;
  const os = await objectStoreFileServer({ connection: nc, bucket: "bench_r6" });
  const osApp = await objectStoreFileServer({ connection: ctx.nc, bucket: "bench_r6" });
  const osHandle = await new Objm(nc).open("bench_r6");
  const plik = plikFileServer({ url: ctx.plik.url });
  // A subject per connection, so each envelope reaches only the connection that sent it.
  const subjects = new Map([[nc, "bench.r6"], [ctx.nc, "bench.r6.app"]]);
  const its = new Map([...subjects].map(([c, subject]) => [c, c.subscribe(subject)[Symbol.asyncIterator]()]));
  await Promise.all([nc.flush(), ctx.nc.flush()]);

  const endToEnd = (fs: FileServer, pool: CodecPool, conn: NatsConnection = nc) => async () => {
    await smartsend(subjects.get(conn)!, [["blob", bytes, "binary"]], { nats_connection: conn, fileserver: fs, fileserver_url: ctx.plik.url, pool });
    const msg = (await its.get(conn)!.next()).value!;
    const env = await smartreceive(msg, { fileserver: fs, fileserver_url: ctx.plik.url, pool });
    if ((env.payloads[0][1] as Uint8Array).byteLength !== len) throw new Error("row 6: wrong size back");
    if (fs !== plik) await clearBucket(osHandle);
  };

  // Raw nats.js, the floor under any Object Store link: putBlob + getBlob of the same bytes.
  setSha256Backend("native");
  const rawStore = await new Objm(ctx.nc).create("bench_r6_raw");
  const rawPutGet = async () => {
    await rawStore.putBlob({ name: "blob", options: { max_chunk_size: MiB } }, bytes);
    if ((await rawStore.getBlob("blob"))?.byteLength !== len) throw new Error("row 6: raw get failed");
    await rawStore.delete("blob");
  };
  // The same, but read with get() as a stream (no final concatenation, as getBlob does).
  const rawPutStream = async () => {
    await rawStore.putBlob({ name: "blob", options: { max_chunk_size: MiB } }, bytes);
    const r = await rawStore.get("blob");
    const reader = r!.data.getReader();
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
    }
    if (n !== len) throw new Error("row 6: raw streamed get failed");
    await rawStore.delete("blob");
  };
  // What one copy of the payload costs the main thread here (getBlob and new Blob([bytes]) each make one).
  const copyMs = await lagDuring(3, () => Promise.resolve(void bytes.slice()));

  const pooled = new CodecPool();
  const inline = new CodecPool({ maxThreads: 0 });
  // Warm both (the pool starts its worker on the first large owned task).
  await pooled.checksum(randomBytes(MiB), { owned: true });
  await endToEnd(os, pooled)();
  await endToEnd(os, inline)();

  const idle = await lagDuring(1, () => sleep(size(1000, 300)));
  const osPool = await lagDuring(reps, endToEnd(os, pooled));
  const osInline = await lagDuring(reps, endToEnd(os, inline));
  const osAppConn = await lagDuring(reps, endToEnd(osApp, pooled, ctx.nc));
  const raw = await lagDuring(reps, rawPutGet);
  const rawStreamed = await lagDuring(reps, rawPutStream);
  log(`row 6 Object Store: pool p99 ${osPool.p99.toFixed(2)} / max ${osPool.max.toFixed(1)} ms; inline p99 ${osInline.p99.toFixed(2)} / max ${osInline.max.toFixed(1)} ms; pool on the application's connection p99 ${osAppConn.p99.toFixed(2)} / max ${osAppConn.max.toFixed(1)} ms; raw nats.js p99 ${raw.p99.toFixed(2)} / max ${raw.max.toFixed(1)} ms`);
  const plikPool = await lagDuring(reps, endToEnd(plik, pooled));
  const plikInline = await lagDuring(reps, endToEnd(plik, inline));
  log(`row 6 Plik: pool p99 ${plikPool.p99.toFixed(2)} / max ${plikPool.max.toFixed(1)} ms; inline p99 ${plikInline.p99.toFixed(2)} / max ${plikInline.max.toFixed(1)} ms`);

  // The owned-buffer checksum: each run gets a fresh copy (the pool detaches it).
  const sumReps = size(10, 5);
  const fresh = () => bytes.slice();
  const sumPool = await lagDuring(sumReps, (b) => pooled.checksum(b, { owned: true }), fresh);
  const sumSliced = await lagDuring(sumReps, (b) => inline.checksum(b, { owned: true }), fresh);
  const sumOneShot = await lagDuring(sumReps, (b) => Promise.resolve(createHash("sha256").update(b).digest("hex")), fresh);
  // The floor under any pool: a bare worker_threads worker, buffer transferred there and back.
  const worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     const { createHash } = require("node:crypto");
     parentPort.on("message", (b) => {
       const hex = createHash("sha256").update(new Uint8Array(b)).digest("hex");
       parentPort.postMessage({ hex, b }, [b]);
     });`,
    { eval: true },
  );
  const viaWorker = (b: Uint8Array) =>
    new Promise((res) => {
      worker.once("message", res);
      worker.postMessage(b.buffer, [b.buffer as ArrayBuffer]);
    });
  await viaWorker(randomBytes(MiB));
  const sumWorker = await lagDuring(sumReps, viaWorker, fresh);
  await worker.terminate();
  log(`row 6 checksum ${mib} MiB owned: pool p99 ${sumPool.p99.toFixed(2)} / max ${sumPool.max.toFixed(1)}; sliced inline max ${sumSliced.max.toFixed(1)}; one-shot max ${sumOneShot.max.toFixed(1)} ms`);

  for (const it of its.values()) await it.return?.();
  await osHandle.destroy();
  await rawStore.destroy();
  await pooled.destroy();
  await inline.destroy();
  await bridge.close();

  return [
    result({
      row: 6,
      id: "6a",
      name: `event-loop lag, ${mib} MiB by Object Store link, pool vs inline`,
      measured: { label: "lag p99, default CodecPool", value: osPool.p99, unit: "ms" },
      baseline: { label: "lag p99, CodecPool({ maxThreads: 0 })", value: osInline.p99, unit: "ms" },
      ratio: osPool.p99 / osInline.p99,
      ratioLabel: "× inline",
      checks: [check("p99 ≤ 5 ms (pool)", osPool.p99, "<=", TARGET_P99_MS)],
      extra: {
        pool_max_ms: osPool.max,
        inline_max_ms: osInline.max,
        pool_op_ms: osPool.op_ms,
        inline_op_ms: osInline.op_ms,
        appconn_pool_p99_ms: osAppConn.p99,
        appconn_pool_max_ms: osAppConn.max,
        ...Object.fromEntries(Object.entries(gcExtra(osAppConn, reps)).map(([k, v]) => [`appconn_${k}`, v])),
        raw_natsjs_p99_ms: raw.p99,
        raw_natsjs_max_ms: raw.max,
        raw_natsjs_op_ms: raw.op_ms,
        raw_natsjs_streamed_get_p99_ms: rawStreamed.p99,
        raw_natsjs_streamed_get_max_ms: rawStreamed.max,
        copy_payload_ms: copyMs.op_ms,
        idle_p99_ms: idle.p99,
        idle_max_ms: idle.max,
        ticks_pool: osPool.ticks,
        ...gcExtra(osPool, reps),
        plik_pool_p99_ms: plikPool.p99,
        plik_pool_max_ms: plikPool.max,
        plik_inline_p99_ms: plikInline.p99,
        plik_inline_max_ms: plikInline.max,
        plik_pool_op_ms: plikPool.op_ms,
        plik_inline_op_ms: plikInline.op_ms,
      },
    }),
    result({
      row: 6,
      id: "6b",
      name: `event-loop lag, checksum of a ${mib} MiB owned buffer: pool vs one-shot inline sha256`,
      measured: { label: "lag p99, pool.checksum(owned)", value: sumPool.p99, unit: "ms" },
      baseline: { label: "lag p99, one-shot sha256 on the main thread", value: sumOneShot.p99, unit: "ms" },
      ratio: sumPool.p99 / sumOneShot.p99,
      ratioLabel: "× inline",
      checks: [check("p99 ≤ 5 ms (pool)", sumPool.p99, "<=", TARGET_P99_MS)],
      extra: {
        pool_max_ms: sumPool.max,
        pool_op_ms: sumPool.op_ms,
        oneshot_max_ms: sumOneShot.max,
        oneshot_op_ms: sumOneShot.op_ms,
        bare_worker_p99_ms: sumWorker.p99,
        bare_worker_max_ms: sumWorker.max,
        bare_worker_op_ms: sumWorker.op_ms,
        sliced_inline_p99_ms: sumSliced.p99,
        sliced_inline_max_ms: sumSliced.max,
        sliced_inline_op_ms: sumSliced.op_ms,
      },
    }),
  ];
}
