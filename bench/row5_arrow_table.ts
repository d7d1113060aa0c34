/**
 * Row 5 — a 1,000,000-row Arrow table (int32 `id`, float64 `value`) end to end:
 * `smartsend` by link through the Object Store → subscriber → `smartreceive`
 * (a `Table` back), against `tableToIPC` + raw `putBlob`/`getBlob` +
 * `tableFromIPC`. Alternating runs, median.
 *
 * @module
 */
import { Objm, setSha256Backend } from "@nats-io/obj";
import { type Table, tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { objectStoreFileServer, smartreceive, smartsend } from "natsbridge";
import { type BenchContext, check, log, median, MiB, now, result, type RowResult, size } from "./_harness.ts";
import { clearBucket } from "./_store.ts";

/** Row 5. */
export async function row5(ctx: BenchContext): Promise<RowResult[]> {
  const rows = 1_000_000;
  const reps = size(7, 3);
  setSha256Backend("native");
  const id = new Int32Array(rows);
  const value = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    id[i] = i;
    value[i] = Math.random();
  }
  const table = tableFromArrays({ id, value });
  const nc = ctx.nc;
  const store = await objectStoreFileServer({ connection: nc, bucket: "bench_r5" });
  const nbStore = await new Objm(nc).open("bench_r5");
  const raw = await new Objm(nc).create("bench_r5_raw");
  const subject = "bench.r5";
  const sub = nc.subscribe(subject);
  const it = sub[Symbol.asyncIterator]();
  let ipcBytes = 0;

  const checkTable = (t: Table) => {
    if (t.numRows !== rows || t.getChild("id")?.get(rows - 1) !== rows - 1) throw new Error("row 5: wrong table back");
  };
  const runRaw = async () => {
    const t0 = now();
    const ipc = tableToIPC(table, "stream");
    ipcBytes = ipc.byteLength;
    await raw.putBlob({ name: "table", options: { max_chunk_size: MiB } }, ipc);
    const got = await raw.getBlob("table");
    const t = tableFromIPC(got!);
    const ms = now() - t0;
    checkTable(t);
    await raw.delete("table");
    return ms;
  };
  const runNb = async () => {
    const t0 = now();
    await smartsend(subject, [["table", table, "arrowtable"]], { nats_connection: nc, fileserver: store });
    const msg = (await it.next()).value!;
    const env = await smartreceive(msg, { fileserver: store });
    const ms = now() - t0;
    checkTable(env.payloads[0][1] as Table);
    await clearBucket(nbStore);
    return ms;
  };

  await runRaw();
  await runNb();
  const rawMs: number[] = [];
  const nbMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    // Alternate which goes first, so neither always pays for the other's garbage.
    if (r % 2 === 0) {
      rawMs.push(await runRaw());
      nbMs.push(await runNb());
    } else {
      nbMs.push(await runNb());
      rawMs.push(await runRaw());
    }
    log(`row 5 rep ${r + 1}/${reps}: raw ${rawMs[r].toFixed(0)} ms, natsbridge ${nbMs[r].toFixed(0)} ms`);
  }
  sub.unsubscribe();
  await raw.destroy();
  await nbStore.destroy();

  const ratio = median(nbMs) / median(rawMs);
  return [result({
    row: 5,
    id: "5",
    name: "1M-row Arrow table (int32+float64) by Object Store link",
    measured: { label: "smartsend → smartreceive", value: median(nbMs), unit: "ms" },
    baseline: { label: "tableToIPC + raw put/get + tableFromIPC", value: median(rawMs), unit: "ms" },
    ratio,
    ratioLabel: "× raw time",
    checks: [check("≤ 1.3× raw time", ratio, "<=", 1.3)],
    extra: {
      rows,
      ipc_bytes: ipcBytes,
      reps,
      natsbridge_ms_all: nbMs.map((x) => x.toFixed(0)).join(" "),
      raw_ms_all: rawMs.map((x) => x.toFixed(0)).join(" "),
    },
  })];
}
