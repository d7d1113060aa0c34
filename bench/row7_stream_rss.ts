/**
 * Row 7 — peak RSS while a 1 GiB file goes end to end as streams: the sender
 * passes the file *path* to `smartsend` (by link through the Object Store,
 * uploaded in chunks), the receiver calls `smartreceive(…, { stream: true })` and
 * drains the verified stream into a SHA-256. Sender and receiver are separate
 * child processes of the same runtime, each measuring its own RSS: idle (after
 * imports, connection and bucket, before the transfer) and peak during it, from
 * a 5 ms `process.memoryUsage().rss` sampler and, on Linux, the kernel's VmHWM
 * (reset before the transfer), whichever is higher.
 *
 * Five transfers of the same file, each with a fresh sender and receiver:
 * - `natsbridge`: as above (the measured figure), on connections natsbridge
 *   opened (`Bridge.connect`, as the README shows), the receiver reading the
 *   stream into one reused 1 MiB buffer (`getReader({ mode: "byob" })`, as
 *   the README recommends for bounded memory);
 * - `natsbridge-default` (evidence): the same, read with a default reader,
 *   which gets each chunk to keep;
 * - `raw`: bare `@nats-io/obj` `put` of a 1 MiB-chunk file stream and `get`
 *   drained into a SHA-256 (the baseline: what nats.js itself costs);
 * - `natsbridge-gc` (evidence): natsbridge again, children started with the
 *   GC exposed and collecting every 50 ms, to tell garbage not yet collected
 *   from memory actually held;
 * - `natsbridge-appconn` (evidence): natsbridge on connections the
 *   application opened with nats.js (`nats_connection`), whose transport
 *   leaves each packed publish to the garbage collector instead of freeing it
 *   once written (engine/platform/buffer_release.ts).
 *
 * The file is written in 1 MiB chunks to a temporary folder and deleted after.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Objm } from "@nats-io/obj";
import { Bridge, type NatsConnection, objectStoreFileServer, smartreceive, smartsend } from "natsbridge";
import { clearBucket } from "./_store.ts";
import {
  type BenchContext,
  check,
  connectNats,
  hwm,
  idleRss,
  log,
  MiB,
  now,
  randomBytes,
  result,
  type RowResult,
  size,
  spawnSelf,
  RUNTIME,
  startRssSampler,
  tell,
  tryGc,
} from "./_harness.ts";

const TARGET_MIB = 64;
const MODES = ["natsbridge", "raw", "natsbridge-default", "natsbridge-gc", "natsbridge-appconn"] as const;
type Mode = typeof MODES[number];

/** Flags that expose `gc()` on this runtime (Bun has `Bun.gc` without any). */
const GC_FLAGS: string[] = RUNTIME === "deno" ? ["--v8-flags=--expose-gc"] : RUNTIME === "node" ? ["--expose-gc"] : [];

/** In `natsbridge-gc` mode: collect every 50 ms while the transfer runs. */
function gcLoop(mode: string): () => void {
  if (mode !== "natsbridge-gc") return () => {};
  const t = setInterval(tryGc, 50);
  return () => clearInterval(t);
}

/**
 * The child's connection: natsbridge's own (Bridge.connect) unless the mode
 * measures nats.js itself or an application's nats.js connection.
 */
async function connectionFor(mode: string, natsUrl: string, name: string): Promise<{ nc: NatsConnection; close: () => Promise<void> }> {
  if (mode === "raw" || mode === "natsbridge-appconn") {
    const nc = await connectNats(natsUrl, name);
    return { nc, close: () => nc.close() };
  }
  const bridge = await Bridge.connect({ broker_url: natsUrl, logger: { log() {} } });
  return { nc: bridge.connection, close: () => bridge.close() };
}

/** A file as a stream of 1 MiB chunks (for the raw baseline). */
async function fileStream(path: string): Promise<ReadableStream<Uint8Array>> {
  const fh = await open(path, "r");
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const buf = new Uint8Array(MiB);
      const { bytesRead } = await fh.read(buf, 0, MiB, null);
      if (bytesRead === 0) {
        await fh.close();
        c.close();
      } else c.enqueue(bytesRead === MiB ? buf : buf.subarray(0, bytesRead));
    },
  }, { highWaterMark: 1 });
}

interface Report {
  role: "sender" | "receiver";
  idle: number;
  peakSampled: number;
  peakHwm: number | undefined;
  bytes: number;
  ms: number;
  error?: string;
}

function peakOf(r: Report): number {
  return Math.max(r.peakSampled, r.peakHwm ?? 0);
}

/** Receiver child: `--child row7-receiver <natsUrl> <bucket> <subject> <mode>`. */
export async function row7Receiver(natsUrl: string, bucket: string, subject: string, mode: string): Promise<void> {
  const { nc, close } = await connectionFor(mode, natsUrl, "bench-row7-receiver");
  const store = await objectStoreFileServer({ connection: nc, bucket });
  const raw = await new Objm(nc).open(bucket);
  const sub = nc.subscribe(subject, { max: 1 });
  await nc.flush();
  const idle = await idleRss();
  tell({ ready: true });
  for await (const m of sub) {
    hwm.reset();
    const sampler = startRssSampler();
    const stopGc = gcLoop(mode);
    const t0 = now();
    let bytes = 0;
    let error: string | undefined;
    try {
      let stream: ReadableStream<Uint8Array>;
      if (mode === "raw") {
        const r = await raw.get(m.string());
        if (!r) throw new Error("raw get: no such object");
        r.error.catch(() => {});
        stream = r.data;
      } else {
        const env = await smartreceive(m, { fileserver: store, stream: true });
        stream = env.payloads[0][1] as ReadableStream<Uint8Array>;
      }
      const hash = createHash("sha256");
      if (mode === "raw" || mode === "natsbridge-default") {
        const reader = stream.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          hash.update(value);
          bytes += value.byteLength;
        }
      } else {
        const reader = stream.getReader({ mode: "byob" });
        let buffer = new Uint8Array(MiB);
        for (;;) {
          const { value, done } = await reader.read(buffer);
          if (done) break;
          hash.update(value);
          bytes += value.byteLength;
          buffer = new Uint8Array(value.buffer);
        }
      }
      hash.digest("hex");
    } catch (err) {
      error = (err as Error).message;
    }
    const ms = now() - t0;
    stopGc();
    const { peak } = sampler.stop();
    tell({ report: { role: "receiver", idle, peakSampled: peak, peakHwm: hwm.read(), bytes, ms, error } satisfies Report });
  }
  await close();
}

/** Sender child: `--child row7-sender <natsUrl> <bucket> <subject> <file> <mode>`. */
export async function row7Sender(natsUrl: string, bucket: string, subject: string, file: string, mode: string): Promise<void> {
  const { nc, close } = await connectionFor(mode, natsUrl, "bench-row7-sender");
  const store = await objectStoreFileServer({ connection: nc, bucket });
  const raw = await new Objm(nc).open(bucket);
  const idle = await idleRss();
  hwm.reset();
  const sampler = startRssSampler();
  const stopGc = gcLoop(mode);
  const t0 = now();
  let bytes = 0;
  let error: string | undefined;
  try {
    if (mode === "raw") {
      const info = await raw.put({ name: `raw-${process.pid}`, options: { max_chunk_size: MiB } }, await fileStream(file));
      bytes = info.size;
      nc.publish(subject, info.name);
      await nc.flush();
    } else {
      const [env] = await smartsend(subject, [["file", file, "binary"]], { nats_connection: nc, fileserver: store });
      bytes = env.payloads[0].size;
    }
  } catch (err) {
    error = (err as Error).message;
  }
  const ms = now() - t0;
  stopGc();
  const { peak } = sampler.stop();
  tell({ report: { role: "sender", idle, peakSampled: peak, peakHwm: hwm.read(), bytes, ms, error } satisfies Report });
  await close();
}

/** Row 7. */
export async function row7(ctx: BenchContext): Promise<RowResult[]> {
  const fileSize = size(1024 * MiB, 100 * MiB);
  const dir = mkdtempSync(join(tmpdir(), "natsbridge-bench-"));
  const file = join(dir, "payload.bin");
  const bucket = "bench_r7";
  const subject = `bench.r7.${process.pid}`;
  const objm = new Objm(ctx.nc);
  await objm.create(bucket);
  let receiver: ReturnType<typeof spawnSelf> | undefined;
  let sender: ReturnType<typeof spawnSelf> | undefined;
  try {
    const fd = openSync(file, "w");
    const chunk = randomBytes(MiB);
    for (let i = 0; i < fileSize / MiB; i++) {
      chunk[0] = i & 0xff; // every chunk different
      chunk[1] = i >> 8;
      writeSync(fd, chunk);
    }
    closeSync(fd);
    log(`row 7: wrote ${fileSize / MiB} MiB to ${file}`);

    const reports = {} as Record<Mode, { s: Report; r: Report }>;
    for (const mode of MODES) {
      const flags = mode === "natsbridge-gc" ? GC_FLAGS : [];
      receiver = spawnSelf(["--child", "row7-receiver", ctx.nats.url, bucket, subject, mode], flags);
      await receiver.next((m) => m.ready === true, 60_000);
      sender = spawnSelf(["--child", "row7-sender", ctx.nats.url, bucket, subject, file, mode], flags);
      const s = (await sender.next<{ report: Report }>((m) => "report" in m, 600_000)).report;
      const r = (await receiver.next<{ report: Report }>((m) => "report" in m, 600_000)).report;
      await sender.exit();
      await receiver.exit();
      if (s.error) throw new Error(`row 7 ${mode} sender: ${s.error}`);
      if (r.error) throw new Error(`row 7 ${mode} receiver: ${r.error}`);
      if (r.bytes !== fileSize) throw new Error(`row 7 ${mode}: receiver drained ${r.bytes} of ${fileSize} bytes`);
      log(`row 7 ${mode}: sender +${((peakOf(s) - s.idle) / MiB).toFixed(1)} MiB, receiver +${((peakOf(r) - r.idle) / MiB).toFixed(1)} MiB`);
      reports[mode] = { s, r };
      await clearBucket(await objm.open(bucket));
    }

    const above = (rep: Report) => (peakOf(rep) - rep.idle) / MiB;
    return (["s", "r"] as const).map((side) => {
      const rep = reports.natsbridge[side];
      const rawRep = reports.raw[side];
      const gcRep = reports["natsbridge-gc"][side];
      const appRep = reports["natsbridge-appconn"][side];
      const defaultRep = reports["natsbridge-default"][side];
      const delta = above(rep);
      const what = side === "s" ? "sender: file path → smartsend (Object Store link)" : "receiver: smartreceive stream:true → BYOB reader → SHA-256";
      return result({
        row: 7,
        id: side === "s" ? "7a" : "7b",
        name: `peak RSS above idle, ${fileSize / MiB} MiB streamed, ${what}`,
        measured: { label: "natsbridge", value: delta, unit: "MiB" },
        baseline: { label: "raw nats.js obj put/get stream", value: above(rawRep), unit: "MiB" },
        ratio: delta / above(rawRep),
        ratioLabel: "× raw",
        checks: [check("≤ 64 MiB above idle", delta, "<=", TARGET_MIB)],
        extra: {
          idle_MiB: rep.idle / MiB,
          peak_sampled_MiB: rep.peakSampled / MiB,
          peak_vmhwm_MiB: rep.peakHwm !== undefined ? rep.peakHwm / MiB : "n/a",
          with_forced_gc_MiB: above(gcRep),
          app_connection_MiB: above(appRep),
          default_reader_MiB: above(defaultRep),
          seconds: rep.ms / 1000,
          MB_s: fileSize / 1e6 / (rep.ms / 1000),
          raw_seconds: rawRep.ms / 1000,
          processes: "sender and receiver: separate processes",
        },
      });
    });
  } finally {
    sender?.kill();
    receiver?.kill();
    await sender?.exit();
    await receiver?.exit();
    rmSync(dir, { recursive: true, force: true });
    await objm.open(bucket).then((os) => os.destroy()).catch(() => {});
  }
}
