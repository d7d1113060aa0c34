/**
 * Row 1 — throughput of 10 KiB binary payloads sent direct, sender and receiver
 * in separate processes (the receiver is a child of the same runtime).
 *
 * The parent publishes N messages as fast as it can on one reused connection
 * and the clock runs until the receiver reports that it decoded all N. Modes:
 *
 * - `raw`: nats.js `publish` of the bytes, 256 in a synchronous burst, then
 *   `await flush()`; the receiver counts them.
 * - `naive`: what someone writes in ten lines: `JSON.stringify({ ...fields,
 *   data: Buffer base64 })`, and `JSON.parse` + `Buffer.from(data, "base64")`
 *   on receive. No checksum. Same bursts as raw.
 * - `natsbridge`: the same bursts: 256 `smartsend(…, { nats_connection })`
 *   started together and awaited with `Promise.all`, then `await flush()`;
 *   checksums on; the receiver `smartreceive`s (checksum verified).
 * - `naive-await` (evidence): naive, with one `await` between publishes: nats.js
 *   then writes each message to the socket on its own instead of coalescing a
 *   burst into one write.
 * - `natsbridge-await` (evidence): `await smartsend(…)` one at a time, the
 *   counterpart of naive-await.
 * - `natsbridge-confirm` (evidence): natsbridge-await with `confirm: true`, a
 *   server round trip per send (every send paid it before it became opt-in).
 *
 * Everything flushes every 256 messages so the receiver is never flooded
 * beyond what a subscriber can hold. CPU time per message is recorded for the
 * sender, the receiver and nats-server: three busy processes share the cores,
 * so throughput is bounded by their sum.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { smartreceive, smartsend } from "natsbridge";
import {
  type BenchContext,
  check,
  connectNats,
  KiB,
  log,
  median,
  now,
  procCpuUs,
  randomBytes,
  result,
  type RowResult,
  size,
  spawnSelf,
  tell,
} from "./_harness.ts";
import type { NatsConnection } from "@nats-io/nats-core";

const PAYLOAD = 10 * KiB;
const MODES = ["raw", "naive", "natsbridge", "naive-await", "natsbridge-await", "natsbridge-confirm"] as const;
type Mode = typeof MODES[number];
const BATCH = 256;

interface Run {
  rate: number;
  senderUs: number;
  receiverUs: number;
  serverUs: number;
}

const describe = (r: Run): string =>
  `${Math.round(r.rate)} msgs/s; CPU µs/msg sender ${r.senderUs.toFixed(1)}, receiver ${r.receiverUs.toFixed(1)}, nats-server ${
    r.serverUs.toFixed(1)
  }`;

/** Receiver child: `--child row1-receiver <natsUrl> <prefix>`. */
export async function row1Receiver(natsUrl: string, prefix: string): Promise<void> {
  const nc = await connectNats(natsUrl, "bench-row1-receiver");
  let target = 0;
  let count = 0;
  let runId = "";
  let bytes = 0;
  let cpu0 = process.cpuUsage();
  nc.subscribe(`${prefix}.ctl`, {
    callback: (_err, m) => {
      const c = JSON.parse(m.string());
      target = c.n;
      count = 0;
      bytes = 0;
      runId = c.id;
      cpu0 = process.cpuUsage();
      m.respond("ok");
    },
  });
  const decoders: Record<Mode, (data: Uint8Array, m: { data: Uint8Array; subject: string }) => Promise<number> | number> = {
    raw: (data) => data.byteLength,
    naive: (data) => {
      const o = JSON.parse(new TextDecoder().decode(data));
      return Buffer.from(o.payloads[0].data, "base64").byteLength;
    },
    natsbridge: async (_d, m) => {
      const env = await smartreceive(m);
      return (env.payloads[0][1] as Uint8Array).byteLength;
    },
    "naive-await": (d, m) => decoders.naive(d, m),
    "natsbridge-await": (d, m) => decoders.natsbridge(d, m),
    "natsbridge-confirm": (d, m) => decoders.natsbridge(d, m),
  };
  for (const mode of MODES) {
    const sub = nc.subscribe(`${prefix}.${mode}`);
    (async () => {
      for await (const m of sub) {
        bytes += await decoders[mode](m.data, m);
        if (++count === target) {
          const cpu = process.cpuUsage(cpu0);
          nc.publish(`${prefix}.done`, JSON.stringify({ id: runId, count, bytes, cpu_us: cpu.user + cpu.system }));
        }
      }
    })().catch((err) => {
      console.error(err);
      process.exit(1);
    });
  }
  const quit = nc.subscribe(`${prefix}.quit`, { max: 1 });
  await nc.flush();
  tell({ ready: true });
  for await (const _ of quit) break; // a clean exit, so --cpu-prof can write the child's profile
  await nc.close();
}

/** The naive envelope: the fields of msg_envelope_v1 a quick job would fill, base64 data. */
function naiveEncode(subject: string, bytes: Uint8Array): string {
  return JSON.stringify({
    correlation_id: crypto.randomUUID(),
    msg_id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    send_to: subject,
    payloads: [{ dataname: "payload", payload_type: "binary", size: bytes.byteLength, data: Buffer.from(bytes).toString("base64") }],
  });
}

async function publishAll(mode: Mode, nc: NatsConnection, subject: string, bytes: Uint8Array, n: number): Promise<void> {
  switch (mode) {
    case "raw":
      for (let i = 0; i < n; i++) {
        nc.publish(subject, bytes);
        if (i % BATCH === BATCH - 1) await nc.flush();
      }
      break;
    case "naive":
      for (let i = 0; i < n; i++) {
        nc.publish(subject, naiveEncode(subject, bytes));
        if (i % BATCH === BATCH - 1) await nc.flush();
      }
      break;
    case "naive-await":
      for (let i = 0; i < n; i++) {
        nc.publish(subject, naiveEncode(subject, bytes));
        await undefined;
        if (i % BATCH === BATCH - 1) await nc.flush();
      }
      break;
    case "natsbridge":
      for (let i = 0; i < n; i += BATCH) {
        const burst: Promise<unknown>[] = [];
        for (let k = i; k < Math.min(n, i + BATCH); k++) {
          burst.push(smartsend(subject, [["payload", bytes, "binary"]], { nats_connection: nc }));
        }
        await Promise.all(burst);
        await nc.flush();
      }
      break;
    case "natsbridge-await":
      for (let i = 0; i < n; i++) {
        await smartsend(subject, [["payload", bytes, "binary"]], { nats_connection: nc });
        if (i % BATCH === BATCH - 1) await nc.flush();
      }
      break;
    case "natsbridge-confirm":
      for (let i = 0; i < n; i++) {
        await smartsend(subject, [["payload", bytes, "binary"]], { nats_connection: nc, confirm: true });
      }
      break;
  }
}

/** Row 1. */
export async function row1(ctx: BenchContext): Promise<RowResult[]> {
  const n = size(15_000, 3_000);
  const reps = size(5, 1);
  const prefix = `bench.r1.${process.pid}`;
  const bytes = randomBytes(PAYLOAD);
  const child = spawnSelf(["--child", "row1-receiver", ctx.nats.url, prefix]);
  const nc = await connectNats(ctx.nats.url, "bench-row1-sender");
  try {
    await child.next((m) => m.ready === true, 60_000);
    const done = nc.subscribe(`${prefix}.done`);
    const doneIter = done[Symbol.asyncIterator]();
    const childGone = child.exit(Infinity).then((code) => {
      throw new Error(`row 1 receiver exited with ${code}`);
    });
    childGone.catch(() => {});
    let seq = 0;

    /** One run: msgs/s, and CPU µs per message of the sender, the receiver and nats-server. */
    const runOnce = async (mode: Mode, count: number): Promise<Run> => {
      const id = `${mode}-${++seq}`;
      await nc.request(`${prefix}.ctl`, JSON.stringify({ id, n: count }), { timeout: 10_000 });
      const server0 = procCpuUs(ctx.nats.pid);
      const sender0 = process.cpuUsage();
      const t0 = now();
      const finished = (async () => {
        for (;;) {
          const r = await Promise.race([
            doneIter.next(),
            childGone,
            new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${mode}: receiver did not get ${count} messages within 120 s`)), 120_000)),
          ]);
          if (r.done) throw new Error("done subscription closed");
          const msg = JSON.parse(r.value.string());
          if (msg.id === id) return msg.cpu_us as number;
        }
      })();
      await publishAll(mode, nc, `${prefix}.${mode}`, bytes, count);
      const receiverUs = await finished;
      const elapsed = now() - t0;
      const sender = process.cpuUsage(sender0);
      return {
        rate: (count / elapsed) * 1000,
        senderUs: (sender.user + sender.system) / count,
        receiverUs: receiverUs / count,
        serverUs: (procCpuUs(ctx.nats.pid) - server0) / count,
      };
    };

    // BENCH_ROW1_MODES=natsbridge runs only those modes and reports nothing: for CPU profiles of one mode.
    const only = process.env.BENCH_ROW1_MODES?.split(",") as Mode[] | undefined;
    if (only) {
      for (const mode of only) await runOnce(mode, Math.min(1000, n));
      for (const mode of only) log(`row 1 ${mode} (profiling run): ${describe(await runOnce(mode, n))}`);
      return [];
    }
    for (const mode of MODES) await runOnce(mode, Math.min(1000, n)); // warm-up: JIT, worker-free paths
    const runs: Record<Mode, Run[]> = Object.fromEntries(MODES.map((m) => [m, []])) as unknown as Record<Mode, Run[]>;
    for (let r = 0; r < reps; r++) {
      for (const mode of MODES) {
        const run = await runOnce(mode, n);
        runs[mode].push(run);
        log(`row 1 rep ${r + 1}/${reps} ${mode}: ${describe(run)}`);
      }
    }
    done.unsubscribe();
    const med = (k: Mode, f: keyof Run) => median(runs[k].map((r) => r[f]));
    const m = Object.fromEntries(MODES.map((k) => [k, med(k, "rate")])) as Record<Mode, number>;
    // CPU per message on each side: with three busy processes on few cores,
    // throughput is bounded by their sum, so this says where the time goes.
    const cpu = Object.fromEntries(
      MODES.flatMap((k) => [
        [`${k}_cpu_us_sender`, med(k, "senderUs")],
        [`${k}_cpu_us_receiver`, med(k, "receiverUs")],
        [`${k}_cpu_us_server`, med(k, "serverUs")],
      ]),
    );
    const extra = {
      n,
      reps,
      payload_bytes: PAYLOAD,
      raw_msgs_s: m.raw,
      naive_msgs_s: m.naive,
      naive_await_msgs_s: m["naive-await"],
      natsbridge_MB_s: (m.natsbridge * PAYLOAD) / 1e6,
      await_msgs_s: m["natsbridge-await"],
      await_vs_naive_await: m["natsbridge-await"] / m["naive-await"],
      confirm_msgs_s: m["natsbridge-confirm"],
      confirm_vs_raw: m["natsbridge-confirm"] / m.raw,
      ...cpu,
    };
    const measured = { label: "smartsend → smartreceive, 10 KiB direct, bursts of 256", value: m.natsbridge, unit: "msgs/s" };
    return [
      result({
        row: 1,
        id: "1a",
        name: "10 KiB direct, 2 processes: vs raw nats.js",
        measured,
        baseline: { label: "raw nats.js publish of the bytes, bursts of 256", value: m.raw, unit: "msgs/s" },
        ratio: m.natsbridge / m.raw,
        ratioLabel: "× raw",
        checks: [check("≥ 0.5× raw", m.natsbridge / m.raw, ">=", 0.5)],
        extra,
      }),
      result({
        row: 1,
        id: "1b",
        name: "10 KiB direct, 2 processes: vs naive JSON+base64",
        measured,
        baseline: { label: "naive JSON+base64 envelope, bursts of 256", value: m.naive, unit: "msgs/s" },
        ratio: m.natsbridge / m.naive,
        ratioLabel: "× naive",
        checks: [check("≥ 1.2× naive", m.natsbridge / m.naive, ">=", 1.2)],
        extra,
      }),
    ];
  } finally {
    nc.publish(`${prefix}.quit`);
    await nc.flush().catch(() => {});
    await nc.close();
    await child.exit(10_000);
  }
}
