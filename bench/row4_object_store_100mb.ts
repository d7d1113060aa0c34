/**
 * Row 4 — 100 MiB binary end to end through the JetStream Object Store:
 * `smartsend` (by link, published) → subscriber → `smartreceive`, against a
 * tuned raw `@nats-io/obj` `putBlob` + `getBlob` of the same bytes (native
 * SHA-256 via `setSha256Backend("native")`, 1 MiB chunks). Alternating runs,
 * median of 3 each (time bound). Throughput counts the payload once.
 *
 * @module
 */
import { Objm, setSha256Backend } from "@nats-io/obj";
import { objectStoreFileServer, smartreceive, smartsend } from "natsbridge";
import {
  type BenchContext,
  check,
  log,
  mbPerSec,
  median,
  MiB,
  now,
  randomBytes,
  result,
  type RowResult,
  size,
} from "./_harness.ts";
import { clearBucket } from "./_store.ts";

/** Row 4. */
export async function row4(ctx: BenchContext): Promise<RowResult[]> {
  const bytesLen = size(100 * MiB, 10 * MiB);
  const reps = 3;
  setSha256Backend("native");
  const bytes = randomBytes(bytesLen);
  const nc = ctx.nc;
  const store = await objectStoreFileServer({ connection: nc, bucket: "bench_r4" });
  const nbStore = await new Objm(nc).open("bench_r4");
  const raw = await new Objm(nc).create("bench_r4_raw");
  const subject = "bench.r4";
  const sub = nc.subscribe(subject);
  const it = sub[Symbol.asyncIterator]();

  const runRaw = async (buf: Uint8Array) => {
    const t0 = now();
    await raw.putBlob({ name: "blob", options: { max_chunk_size: MiB } }, buf);
    const got = await raw.getBlob("blob");
    const ms = now() - t0;
    if (got?.byteLength !== buf.byteLength) throw new Error("row 4: raw get returned the wrong size");
    await raw.delete("blob");
    return ms;
  };
  const runNb = async (buf: Uint8Array) => {
    const t0 = now();
    await smartsend(subject, [["blob", buf, "binary"]], { nats_connection: nc, fileserver: store });
    const msg = (await it.next()).value!;
    const env = await smartreceive(msg, { fileserver: store });
    const ms = now() - t0;
    const got = env.payloads[0][1] as Uint8Array;
    if (got.byteLength !== buf.byteLength) throw new Error("row 4: smartreceive returned the wrong size");
    await clearBucket(nbStore);
    return ms;
  };

  const small = bytes.subarray(0, MiB);
  await runRaw(small);
  await runNb(small);
  const rawMs: number[] = [];
  const nbMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    // Alternate which goes first, so neither always pays for the other's garbage.
    if (r % 2 === 0) {
      rawMs.push(await runRaw(bytes));
      nbMs.push(await runNb(bytes));
    } else {
      nbMs.push(await runNb(bytes));
      rawMs.push(await runRaw(bytes));
    }
    log(`row 4 rep ${r + 1}/${reps}: raw ${rawMs[r].toFixed(0)} ms, natsbridge ${nbMs[r].toFixed(0)} ms`);
  }
  sub.unsubscribe();
  await raw.destroy();
  await nbStore.destroy();

  const rawRate = mbPerSec(bytesLen, median(rawMs));
  const nbRate = mbPerSec(bytesLen, median(nbMs));
  return [result({
    row: 4,
    id: "4",
    name: `${bytesLen / MiB} MiB via Object Store, end to end`,
    measured: { label: "smartsend → smartreceive", value: nbRate, unit: "MB/s" },
    baseline: { label: "raw obj putBlob+getBlob (native SHA, 1 MiB chunks)", value: rawRate, unit: "MB/s" },
    ratio: nbRate / rawRate,
    ratioLabel: "× raw",
    checks: [check("≥ 0.9× raw", nbRate / rawRate, ">=", 0.9), check("≥ 150 MB/s", nbRate, ">=", 150)],
    extra: {
      bytes: bytesLen,
      reps,
      natsbridge_ms_median: median(nbMs),
      raw_ms_median: median(rawMs),
      natsbridge_ms_all: nbMs.map((x) => x.toFixed(0)).join(" "),
      raw_ms_all: rawMs.map((x) => x.toFixed(0)).join(" "),
    },
  })];
}
