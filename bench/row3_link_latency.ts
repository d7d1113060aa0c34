/**
 * Row 3 — latency of a 0.5 MiB binary payload by link, upload + download, via
 * Plik and via the JetStream Object Store: `smartsend(…, { is_publish: false,
 * size_threshold })` then `smartreceive(json)`, one at a time, p50/p99 against
 * the spec's 1 s. The same bytes through the bare store API (three HTTP requests
 * for Plik; `putBlob` + `getBlob` for the Object Store) are timed alongside as
 * the floor.
 *
 * @module
 */
import { Objm } from "@nats-io/obj";
import { objectStoreFileServer, plikFileServer, smartreceive, smartsend } from "natsbridge";
import type { FileServer } from "natsbridge";
import { type BenchContext, check, KiB, log, now, randomBytes, result, type RowResult, size, summarize } from "./_harness.ts";

const PAYLOAD = 512 * KiB;
const SPEC_MS = 1000;
const TARGET_P50_MS = 20;

async function rawPlik(url: string, bytes: Uint8Array): Promise<number> {
  const up = await (await fetch(`${url}/upload`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ttl: 3600 }),
  })).json();
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "payload");
  const file = await (await fetch(`${url}/file/${up.id}`, {
    method: "POST",
    headers: { "X-UploadToken": up.uploadToken },
    body: form,
  })).json();
  const got = new Uint8Array(await (await fetch(`${url}/file/${up.id}/${file.id}/${file.fileName}`)).arrayBuffer());
  return got.byteLength;
}

/** Row 3. */
export async function row3(ctx: BenchContext): Promise<RowResult[]> {
  const iterations = size(100, 20);
  const warmup = 5;
  const bytes = randomBytes(PAYLOAD);
  const store = await objectStoreFileServer({ connection: ctx.nc, bucket: "bench_r3" });
  const rawStore = await new Objm(ctx.nc).create("bench_r3_raw");
  const plik = plikFileServer({ url: ctx.plik.url });

  const viaNatsbridge = async (fs: FileServer, fileserver_url: string) => {
    const [, json] = await smartsend("bench.r3", [["payload", bytes, "binary"]], {
      is_publish: false,
      fileserver: fs,
      fileserver_url,
      size_threshold: 100 * KiB,
    });
    const env = await smartreceive(json, { fileserver: fs, fileserver_url });
    const got = env.payloads[0][1] as Uint8Array;
    if (got.byteLength !== PAYLOAD) throw new Error(`row 3: got ${got.byteLength} bytes`);
  };
  let k = 0;
  const cases = {
    plik: () => viaNatsbridge(plik, ctx.plik.url),
    objectstore: () => viaNatsbridge(store, ctx.plik.url),
    raw_plik: () => rawPlik(ctx.plik.url, bytes),
    raw_objectstore: async () => {
      const name = `o${k++}`;
      await rawStore.putBlob({ name, options: { max_chunk_size: 1024 * KiB } }, bytes);
      const got = await rawStore.getBlob(name);
      if (got?.byteLength !== PAYLOAD) throw new Error("row 3: raw get failed");
    },
  };
  type Case = keyof typeof cases;
  const lat: Record<Case, number[]> = { plik: [], objectstore: [], raw_plik: [], raw_objectstore: [] };
  for (let i = 0; i < warmup + iterations; i++) {
    for (const c of Object.keys(cases) as Case[]) {
      const t0 = now();
      await cases[c]();
      if (i >= warmup) lat[c].push(now() - t0);
    }
  }
  await rawStore.destroy();
  await new Objm(ctx.nc).open("bench_r3").then((os) => os.destroy());

  const out: RowResult[] = [];
  for (const [id, c, label] of [["3a", "plik", "Plik"], ["3b", "objectstore", "Object Store"]] as const) {
    const s = summarize(lat[c]);
    const raw = summarize(lat[`raw_${c}`]);
    log(`row 3 ${label}: p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms (raw p50 ${raw.p50.toFixed(2)} ms)`);
    out.push(result({
      row: 3,
      id,
      name: `0.5 MiB by link via ${label}, upload + download`,
      measured: { label: "p50", value: s.p50, unit: "ms" },
      baseline: { label: "spec", value: SPEC_MS, unit: "ms" },
      ratio: s.p50 / SPEC_MS,
      ratioLabel: "× 1 s (p50)",
      checks: [check("p50 ≤ 20 ms", s.p50, "<=", TARGET_P50_MS), check("p99 ≤ 1 s", s.p99, "<=", SPEC_MS)],
      extra: {
        iterations,
        p99_ms: s.p99,
        max_ms: s.max,
        raw_p50_ms: raw.p50,
        raw_p99_ms: raw.p99,
        p50_vs_raw: s.p50 / raw.p50,
      },
    }));
  }
  return out;
}
