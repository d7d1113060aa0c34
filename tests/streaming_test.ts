/**
 * Streamed payloads against the real stores: sources of unknown size go by
 * link in chunks, hashed as they flow; receivers can take link payloads as
 * streams verified as they flow.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import process from "node:process";
import {
  Bridge,
  digestToHex,
  type FileServer,
  objectStoreFileServer,
  plikFileServer,
  OBJECT_CHUNK_SIZE,
  READ_AHEAD_BYTES,
  smartreceive,
  smartsend,
  type TransferProgress,
  UploadError,
} from "natsbridge";
import { headers } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { jetStreamOf, reservedReadAhead } from "../engine/handlers/object_store_reader.ts";
import { freePort, startNats, startPlik } from "../scripts/servers.ts";
import { bytesOf, forcedGc, piecesOf, rejectsWithCode, withBrowserSeams } from "./_helpers.ts";

const nats = await startNats();
const plik = await startPlik();
const quiet = { log() {} };
const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
const stores: Record<string, FileServer> = {
  plik: plikFileServer({ url: plik.url }),
  objectstore: await objectStoreFileServer({ connection: bridge.connection, bucket: "streams", ttl: 600 }),
};
const dir = mkdtempSync(join(tmpdir(), "natsbridge-stream-"));

after(async () => {
  await bridge.close();
  await nats.stop();
  await plik.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A stream of `chunks` pseudo-random chunks, with no size known up front. */
function generated(chunks: number, chunkSize = 256 * 1024): { stream: ReadableStream<Uint8Array>; sha: string; size: number } {
  const h = createHash("sha256");
  for (let i = 0; i < chunks; i++) h.update(bytesOf(chunkSize, i + 1));
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === chunks) return c.close();
      c.enqueue(bytesOf(chunkSize, ++i));
    },
  });
  return { stream, sha: h.digest("hex"), size: chunks * chunkSize };
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<{ size: number; sha: string }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    h.update(chunk);
    size += chunk.byteLength;
  }
  return { size, sha: h.digest("hex") };
}

for (const name of ["plik", "objectstore"]) {
  test(`[${name}] a ReadableStream of unknown size goes by link and arrives as a verified stream`, async () => {
    const src = generated(40); // 10 MiB
    const ups: TransferProgress[] = [];
    const downs: TransferProgress[] = [];
    const [env, json] = await smartsend("s", [["video", src.stream, "video"]], {
      is_publish: false, fileserver: stores[name], on_progress: (p) => ups.push(p), logger: quiet,
    });
    const p = env.payloads[0];
    assert.equal(p.transport, "link");
    assert.equal(p.size, src.size);
    assert.equal(p.metadata.checksum, src.sha);
    assert.ok(ups.length > 1 && ups.at(-1)!.done === src.size, "upload progress reached the end");
    const r = await smartreceive(json, { fileserver: stores[name], stream: true, on_progress: (p) => downs.push(p), logger: quiet });
    const [, value, type] = r.payloads[0];
    assert.equal(type, "video");
    assert.ok(value instanceof ReadableStream);
    assert.deepEqual(await drain(value as ReadableStream<Uint8Array>), { size: src.size, sha: src.sha });
    assert.equal(downs.at(-1)!.done, src.size);
  });

  test(`[${name}] a streamed link payload reads into the receiver's own buffer (BYOB), verified`, async () => {
    const src = generated(9, 100_000);
    const [, json] = await smartsend("s", [["bin", src.stream, "binary"]], { is_publish: false, fileserver: stores[name], logger: quiet });
    const r = await smartreceive(json, { fileserver: stores[name], stream: true, logger: quiet });
    const reader = (r.payloads[0][1] as ReadableStream<Uint8Array>).getReader({ mode: "byob" });
    const h = createHash("sha256");
    let buffer = new Uint8Array(48 * 1024);
    let size = 0;
    for (;;) {
      const { value, done } = await reader.read(buffer);
      if (done) break;
      h.update(value);
      size += value.byteLength;
      buffer = new Uint8Array(value.buffer);
    }
    assert.deepEqual({ size, sha: h.digest("hex") }, { size: src.size, sha: src.sha });
  });

  test(`[${name}] a Blob and a file path are streamed too, and received as bytes`, async () => {
    const data = bytesOf(1_500_000, 9);
    const path = join(dir, `${name}.bin`);
    writeFileSync(path, data);
    const [env, json] = await smartsend("s", [
      ["blob", new Blob([data as Uint8Array<ArrayBuffer>]), "binary"],
      ["file", path, "audio"],
    ], { is_publish: false, fileserver: stores[name], logger: quiet });
    assert.deepEqual(env.payloads.map((p) => [p.transport, p.size]), [["link", data.length], ["link", data.length]]);
    const r = await smartreceive(json, { fileserver: stores[name], logger: quiet });
    assert.deepEqual(r.payloads[0][1], data);
    assert.deepEqual(r.payloads[1][1], data);
  });

  test(`[${name}] a streamed link whose checksum does not match errors the stream at its end`, async () => {
    const src = generated(8);
    const [, json] = await smartsend("s", [["bin", src.stream, "binary"]], { is_publish: false, fileserver: stores[name], logger: quiet });
    const env = JSON.parse(json);
    env.payloads[0].metadata.checksum = "0".repeat(64);
    const r = await smartreceive(env, { fileserver: stores[name], stream: ["bin"], logger: quiet });
    await rejectsWithCode(() => drain(r.payloads[0][1] as ReadableStream<Uint8Array>), "CHECKSUM_MISMATCH");
    // As bytes, the same envelope is refused outright.
    await rejectsWithCode(() => smartreceive(env, { fileserver: stores[name], logger: quiet }), "CHECKSUM_MISMATCH");
  });
}

test("a missing file is an INVALID_INPUT naming the payload", async () => {
  const e = await rejectsWithCode(
    () => smartsend("s", [["f", join(dir, "nope.bin"), "binary"]], { is_publish: false, fileserver: stores.plik, logger: quiet }),
    "INVALID_INPUT",
  );
  assert.equal(e.dataname, "f");
});

test("a streamed send over a live subscription delivers the whole file", async () => {
  const sub = bridge.subscribe("streamed.live", { receive: { fileserver: stores.objectstore } });
  const got = (async () => { for await (const e of sub) return e; })();
  const src = generated(12);
  await bridge.send("streamed.live", [["clip", src.stream, "video"], ["note", "attached", "text"]], { fileserver: stores.objectstore });
  const env = (await got)!;
  const bytes = env.payloads[0][1] as Uint8Array;
  assert.equal(bytes.byteLength, src.size);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), src.sha);
  assert.equal(env.payloads[1][1], "attached");
});

// Object Store reads ask the server for chunks as the stream is read; a slow
// reader must not make the whole object pile up in memory.
const jsm = await jetstreamManager(bridge.connection);
/** The object name in a link envelope's first payload. */
const nameOf = (json: string) => decodeURIComponent(new URL(JSON.parse(json).payloads[0].data).pathname.slice(1));
const objectConsumers = async () => (await jsm.consumers.list("OBJ_streams").next()).map((c) => c.delivered.consumer_seq);

test("[objectstore] a slow stream reader holds only a few chunks in flight, and its consumer is deleted on cancel", async () => {
  const src = generated(48, 256 * 1024); // 12 MiB
  const chunks = (12 * 1024 * 1024) / OBJECT_CHUNK_SIZE;
  const ahead = READ_AHEAD_BYTES / OBJECT_CHUNK_SIZE;
  const [, json] = await smartsend("s", [["bin", src.stream, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet });
  const r = await smartreceive(json, { fileserver: stores.objectstore, stream: true, logger: quiet });
  const reader = (r.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  assert.equal((await reader.read()).value!.byteLength, OBJECT_CHUNK_SIZE);
  await new Promise((res) => setTimeout(res, 300)); // time enough for the server to send everything, were it asked
  const [delivered] = await objectConsumers();
  assert.ok(delivered <= 1 + ahead + 1, `server delivered ${delivered} of ${chunks} chunks to a reader that took 1`);
  assert.ok(ahead + 2 < chunks, "the object is larger than the read-ahead");
  await reader.cancel();
  for (let i = 0; i < 50 && (await objectConsumers()).length > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.deepEqual(await objectConsumers(), [], "the read's consumer is gone");
});

test("[objectstore] an object that does not match its own digest is refused, as a stream and as bytes", async () => {
  const src = generated(8);
  const [, json] = await smartsend("s", [["bin", src.stream, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet });
  // Rewrite the object's meta record with another digest: the chunks no longer match it.
  const metaSubject = `$O.streams.M.${btoa(nameOf(json)).replace(/\+/g, "-").replace(/\//g, "_")}`;
  const meta = (await jsm.streams.getMessage("OBJ_streams", { last_by_subj: metaSubject }))!.json<Record<string, unknown>>();
  const forged = { ...meta, digest: `SHA-256=${btoa(String.fromCharCode(...new Uint8Array(32).fill(7))).replace(/\+/g, "-").replace(/\//g, "_")}` };
  const h = headers();
  h.set("Nats-Rollup", "sub");
  await jetstream(bridge.connection).publish(metaSubject, JSON.stringify(forged), { headers: h });
  const r = await smartreceive(json, { fileserver: stores.objectstore, stream: true, logger: quiet });
  await rejectsWithCode(() => drain(r.payloads[0][1] as ReadableStream<Uint8Array>), "CHECKSUM_MISMATCH");
  await rejectsWithCode(() => smartreceive(json, { fileserver: stores.objectstore, logger: quiet }), "CHECKSUM_MISMATCH");
});

// natsbridge writes Object Store objects itself (chunks published as views,
// acks pipelined); nats.js's own client is the reference reader.
test("[objectstore] objects natsbridge writes read back through nats.js, digest verified, whatever the source's chunk sizes", async () => {
  const reference = await new Objm(bridge.connection).open("streams");
  const whole = bytesOf(2 * 1024 * 1024 + 12_345, 3);
  // Odd sizes: re-chunked on the way.
  const odd = piecesOf(whole, 1, 4096, OBJECT_CHUNK_SIZE, OBJECT_CHUNK_SIZE + 1, 7);
  const cases: [string, unknown][] = [["bytes", whole], ["odd stream", odd], ["empty Blob", new Blob([])]];
  for (const [label, data] of cases) {
    const [env, json] = await smartsend("s", [["bin", data, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet });
    const want = label === "empty Blob" ? new Uint8Array() : whole;
    const info = (await reference.info(nameOf(json)))!;
    assert.equal(info.size, want.byteLength, label);
    assert.equal(digestToHex(info.digest), createHash("sha256").update(want).digest("hex"), label);
    assert.equal(env.payloads[0].metadata.checksum, digestToHex(info.digest), `${label}: the envelope carries the store's digest`);
    assert.deepEqual(await reference.getBlob(nameOf(json)), want, label); // getBlob fails on a digest mismatch
  }
});

test("[objectstore] a source that fails mid-upload leaves no chunks behind", async () => {
  const before = (await jsm.streams.info("OBJ_streams")).state.messages;
  let n = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n++ === 3) return c.error(new Error("disk went away"));
      c.enqueue(bytesOf(1024 * 1024, n));
    },
  });
  // The source's failure, not the store's: INVALID_INPUT as through Plik, and not retried.
  await rejectsWithCode(
    () => smartsend("s", [["bin", failing, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet }),
    "INVALID_INPUT",
    /the source of "bin" failed after 3145728 bytes: disk went away/,
  );
  assert.equal((await jsm.streams.info("OBJ_streams")).state.messages, before);
});

test("a file whose read fails is INVALID_INPUT on both stores, at once: not read again as if the store had failed", async () => {
  // /proc/self/mem is a regular file whose read at offset 0 fails (EIO).
  for (const name of ["plik", "objectstore"]) {
    const warnings: string[] = [];
    const logger = { log: (level: string, line: string) => level === "warn" && warnings.push(line) };
    await rejectsWithCode(
      () => smartsend("s", [["mem", "/proc/self/mem", "binary"]], { is_publish: false, fileserver: stores[name], logger }),
      "INVALID_INPUT",
      /the source of "mem" failed after 0 bytes/,
    );
    assert.deepEqual(warnings, [], name);
  }
});

test("a FIFO or other special file given as a path is INVALID_INPUT at once, not a send blocked until a writer comes", async () => {
  const fifo = join(dir, "pipe");
  execFileSync("mkfifo", [fifo]);
  for (const name of ["plik", "objectstore"]) {
    const sent = smartsend("s", [["pipe", fifo, "binary"]], { is_publish: false, fileserver: stores[name], logger: quiet });
    const hung = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still waiting after 5 s")), 5000));
    await rejectsWithCode(() => Promise.race([sent, hung]), "INVALID_INPUT", /not a regular file/);
  }
});

test("Bun.file() payloads are read as the file they name: a missing one is INVALID_INPUT, a /proc file goes whole, /dev/zero is refused", {
  skip: typeof (globalThis as { Bun?: unknown }).Bun === "undefined" ? "Bun.file exists on Bun only" : false,
}, async () => {
  const bunFile = (globalThis as unknown as { Bun: { file(path: string): Blob } }).Bun.file;
  for (const name of ["plik", "objectstore"]) {
    await rejectsWithCode(
      () => smartsend("s", [["gone", bunFile(join(dir, "missing.bin")), "binary"]], { is_publish: false, fileserver: stores[name], logger: quiet }),
      "INVALID_INPUT",
      /missing\.bin/,
    );
    const [, json] = await smartsend("s", [["status", bunFile("/proc/self/status"), "binary"]], {
      is_publish: false, fileserver: stores[name], logger: quiet, size_threshold: 0,
    });
    const r = await smartreceive(json, { fileserver: stores[name], logger: quiet });
    const text = new TextDecoder().decode(r.payloads[0][1] as Uint8Array);
    assert.match(text, /^Name:/, name);
    const zero = smartsend("s", [["zero", bunFile("/dev/zero"), "binary"]], { is_publish: false, fileserver: stores[name], logger: quiet });
    const endless = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still reading after 5 s")), 5000));
    await rejectsWithCode(() => Promise.race([zero, endless]), "INVALID_INPUT", /not a regular file/);
  }
});

/**
 * Chunk messages in the "streams" bucket: what uploads leave behind. A deleted
 * object's meta record stays (marked deleted), so whole-stream counts would not do.
 */
async function storedChunks(): Promise<number> {
  const info = await jsm.streams.info("OBJ_streams", { subjects_filter: "$O.streams.C.>" } as never);
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/**
 * A source that sends `chunks` chunks of 256 KiB, 50 ms apart (after a small
 * sibling payload is stored), then fails with "disk went away".
 */
function failingAfter(chunks: number): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      await new Promise((r) => setTimeout(r, 50));
      if (n++ === chunks) return c.error(new Error("disk went away"));
      c.enqueue(bytesOf(256 * 1024, n));
    },
  });
}

test("[objectstore] a payload whose upload fails stops its siblings' uploads and removes what they stored", async () => {
  // The others went on uploading after smartsend had failed, and stayed in the
  // bucket as whole objects no envelope points to, until their TTL.
  const before = await storedChunks();
  const failing = failingAfter(1);
  const done: string[] = [];
  await rejectsWithCode(
    () =>
      smartsend("s", [
        ["small", bytesOf(600_000, 1), "binary"],
        ["large", bytesOf(64 * 1024 * 1024, 2), "binary"],
        ["bad", failing, "binary"],
      ], {
        is_publish: false,
        fileserver: stores.objectstore,
        logger: quiet,
        on_progress: (p) => p.done === p.total && done.push(p.dataname),
      }),
    "INVALID_INPUT",
    /the source of "bad" failed after 262144 bytes: disk went away/,
  );
  const after = await storedChunks();
  assert.equal(after, before, `${after - before} chunks left in the bucket; uploads finished: ${done.join(", ")}`);
});

test("[objectstore] a send whose envelope is refused before it leaves removes the payloads it uploaded", async () => {
  // The envelope cannot fit max_payload, or no stream captures a JetStream
  // subject: nothing was published, so nothing points to the uploads. They
  // stayed in the bucket until its TTL, one more at each retry.
  const before = await storedChunks();
  await rejectsWithCode(
    () => bridge.send("s.tiny", [["big", bytesOf(2_000_000, 3), "binary"], ["t", "x".repeat(400), "text"]], {
      fileserver: stores.objectstore,
      max_payload: 300,
    }),
    "PUBLISH_FAILED",
    /even with every payload by link/,
  );
  assert.equal(await storedChunks(), before, "chunks left after a max_payload refusal");
  await rejectsWithCode(
    () => bridge.send("s.nostream", [["big", bytesOf(2_000_000, 4), "binary"]], {
      fileserver: stores.objectstore,
      jetstream: { timeout: 1000 },
    }),
    "PUBLISH_FAILED",
    /No JetStream stream captures/,
  );
  assert.equal(await storedChunks(), before, "chunks left after a JetStream subject no stream captures");
});

test("[plik] a send that fails before its envelope leaves removes what it uploaded to Plik, with the upload's token", async () => {
  // Plik files no envelope pointed to stayed downloadable until their TTL (24 h,
  // or for ever with ttl -1): the store had no delete, and only the uploader
  // holds the token Plik asks for. An upload cut short stayed as "uploading".
  const created: string[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await realFetch(input, init);
    if (init?.method === "POST" && String(input).endsWith("/upload")) {
      created.push(String((await res.clone().json()).id));
    }
    return res;
  };
  const gone = async (why: string) => {
    for (const id of created.splice(0)) {
      const res = await realFetch(`${plik.url}/upload/${id}`);
      await res.body?.cancel();
      assert.equal(res.status, 404, `${why}: upload ${id} still there (HTTP ${res.status})`);
    }
  };
  try {
    const send = (subject: string, items: unknown[], extra: Record<string, unknown> = {}) =>
      bridge.send(subject, items as never, { fileserver: stores.plik, size_threshold: 1000, ...extra });
    await rejectsWithCode(() => send("s.nostream", [["big", bytesOf(200_000, 4), "binary"]], { jetstream: { timeout: 1000 } }), "PUBLISH_FAILED", /No JetStream stream captures/);
    assert.equal(created.length, 1);
    await gone("no stream captures the subject");
    await rejectsWithCode(() => send("s", [["small", bytesOf(20_000, 1), "binary"], ["bad", failingAfter(2), "binary"]]), "INVALID_INPUT", /disk went away/);
    assert.equal(created.length, 2);
    await gone("a sibling's source failed");
  } finally {
    globalThis.fetch = realFetch;
  }
});

test("[objectstore] a streamed receive with a signal lets each chunk go once read (no whole-object retention)", async () => {
  // 256 MiB read as a stream with an AbortSignal that never fires: chunks must
  // become garbage as they pass. Kept whole, the growth would be >= 256 MiB.
  const chunk = bytesOf(1024 * 1024, 5);
  let n = 0;
  const src = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 256 ? c.enqueue(chunk.slice()) : c.close()) });
  const [, json] = await smartsend("s", [["bin", src, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet });
  const before = process.memoryUsage().rss;
  const r = await smartreceive(json, { fileserver: stores.objectstore, stream: true, signal: new AbortController().signal, logger: quiet });
  let peak = 0;
  let size = 0;
  for await (const c of r.payloads[0][1] as unknown as AsyncIterable<Uint8Array>) {
    size += c.byteLength;
    peak = Math.max(peak, process.memoryUsage().rss - before);
  }
  assert.equal(size, 256 * 1024 * 1024);
  assert.ok(peak < 160 * 1024 * 1024, `RSS grew ${Math.round(peak / 2 ** 20)} MiB while streaming 256 MiB`);
});

test("[plik] a streamed upload lets each chunk go once sent (no whole-body retention, also on Node)", async () => {
  // Node's fetch kept every chunk of a streamed request body until the request
  // ended (nodejs/undici#4058): an 800 MB file took 900 MB.
  const chunk = bytesOf(1024 * 1024, 6);
  let n = 0;
  const src = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 256 ? c.enqueue(chunk.slice()) : c.close()) });
  const before = process.memoryUsage().rss;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - before)), 10);
  try {
    const [env] = await smartsend("s", [["bin", src, "binary"]], { is_publish: false, fileserver: stores.plik, logger: quiet });
    assert.equal(env.payloads[0].size, 256 * 1024 * 1024);
  } finally {
    clearInterval(sampler);
  }
  assert.ok(peak < 160 * 1024 * 1024, `RSS grew ${Math.round(peak / 2 ** 20)} MiB while uploading 256 MiB`);
});

test("[objectstore] an aborted upload stops at its next chunk with ABORTED and leaves no chunks behind", async () => {
  const before = (await jsm.streams.info("OBJ_streams")).state.messages;
  const ac = new AbortController();
  let n = 0;
  const slow = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (n === 40) return c.close();
      if (++n === 3) ac.abort();
      await new Promise((res) => setTimeout(res, 10));
      c.enqueue(bytesOf(1024 * 1024, n));
    },
  });
  await rejectsWithCode(
    () => smartsend("s", [["bin", slow, "binary"]], { is_publish: false, fileserver: stores.objectstore, signal: ac.signal, logger: quiet }),
    "ABORTED",
  );
  assert.ok(n < 40, `the source was read to chunk ${n} of 40`);
  assert.equal((await jsm.streams.info("OBJ_streams")).state.messages, before);
});

test("[objectstore] an upload whose source stalls is ABORTED as soon as its signal aborts, and leaves no chunks", async () => {
  // The signal was looked at only between chunks: a source that stopped
  // producing held the send for ever, aborted or not.
  const before = await storedChunks();
  let n = 0;
  const stalling = new ReadableStream<Uint8Array>({
    pull: (c) => n++ < 8 ? c.enqueue(bytesOf(256 * 1024, n)) : new Promise(() => {}),
  });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 500);
  const t0 = Date.now();
  await rejectsWithCode(
    () => smartsend("s", [["bin", stalling, "binary"]], { is_publish: false, fileserver: stores.objectstore, signal: ac.signal, logger: quiet }),
    "ABORTED",
  );
  assert.ok(Date.now() - t0 < 2500, `settled after ${Date.now() - t0} ms`);
  assert.equal(await storedChunks(), before);
});

test("an upload whose source stops producing fails UPLOAD_FAILED after the store's idleTimeout, on both stores, and leaves no chunks", async () => {
  // Plik gave up on a quiet source after its idle timeout; the Object Store
  // waited for ever when no signal was given.
  const idle = {
    plik: plikFileServer({ url: plik.url, idleTimeout: 400 }),
    objectstore: await objectStoreFileServer({ connection: bridge.connection, bucket: "streams", idleTimeout: 400 }),
  };
  const before = await storedChunks();
  for (const [name, store] of Object.entries(idle)) {
    let n = 0;
    const stalling = new ReadableStream<Uint8Array>({
      pull: (c) => n++ < 4 ? c.enqueue(bytesOf(256 * 1024, n)) : new Promise(() => {}),
    });
    const t0 = Date.now();
    await rejectsWithCode(
      () => smartsend("s", [["bin", stalling, "binary"]], { is_publish: false, fileserver: store, logger: quiet }),
      "UPLOAD_FAILED",
      /0\.4 s/,
    );
    assert.ok(Date.now() - t0 < 3000, `${name}: settled after ${Date.now() - t0} ms`);
  }
  assert.equal(await storedChunks(), before);
  // A slow source is not an idle one: 40 pieces 50 ms apart take 2 s, each within 400 ms of the last.
  let k = 0;
  const slow = new ReadableStream<Uint8Array>({
    pull: async (c) => {
      await new Promise((r) => setTimeout(r, 50));
      if (k++ < 40) c.enqueue(bytesOf(1024, k));
      else c.close();
    },
  });
  const [env] = await smartsend("s", [["bin", slow, "binary"]], { is_publish: false, fileserver: idle.objectstore, logger: quiet });
  assert.equal(env.payloads[0].size, 40 * 1024);
  await rejectsWithCode(() => objectStoreFileServer({ connection: bridge.connection, bucket: "streams", idleTimeout: 0 }), "INVALID_OPTION");
});

test("[objectstore] a nats-obj link that is malformed (a raw % in the name, no name) is ENVELOPE_INVALID at once, not retried", async () => {
  // decodeURIComponent threw a URIError, taken as a passing failure: 5 attempts
  // per delivery, then a nak, then a dead letter as DOWNLOAD_FAILED.
  const [, json] = await smartsend("s", [["blob", bytesOf(600_000, 7), "binary"]], {
    is_publish: false, fileserver: stores.objectstore, logger: quiet,
  });
  for (const link of ["nats-obj://streams/50%.bin", "nats-obj://streams/", "nats-obj://streams/%E0%A4%A"]) {
    const env = JSON.parse(json);
    env.payloads[0].data = link;
    const t0 = Date.now();
    await rejectsWithCode(() => smartreceive(env, { fileserver: stores.objectstore, logger: quiet }), "ENVELOPE_INVALID", /Object Store link/);
    assert.ok(Date.now() - t0 < 500, `${link}: ${Date.now() - t0} ms`);
  }
});

test("[objectstore] an object whose metadata lies about its chunk size is still read a few MiB ahead, not whole", async () => {
  // max_chunk_size: 1 made a read ask for 4 million chunks ahead: the whole
  // object came at once, and the server dropped the connection as a slow consumer.
  const src = generated(96); // 24 MiB in 256 KiB chunks
  const [, json] = await smartsend("s", [["bin", src.stream, "binary"]], { is_publish: false, fileserver: stores.objectstore, logger: quiet });
  const metaSubject = `$O.streams.M.${btoa(nameOf(json)).replace(/\+/g, "-").replace(/\//g, "_")}`;
  const meta = (await jsm.streams.getMessage("OBJ_streams", { last_by_subj: metaSubject }))!.json<Record<string, unknown>>();
  const h = headers();
  h.set("Nats-Rollup", "sub");
  await jetstream(bridge.connection).publish(metaSubject, JSON.stringify({ ...meta, options: { max_chunk_size: 1 } }), { headers: h });
  const r = await smartreceive(json, { fileserver: stores.objectstore, stream: true, logger: quiet });
  const reader = (r.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  let size = (await reader.read()).value!.byteLength;
  await new Promise((res) => setTimeout(res, 500)); // a slow reader: the rest waits on the server
  const delivered = Math.max(...await objectConsumers());
  assert.ok(delivered <= 40, `${delivered} of 96 chunks delivered ahead of a reader that took one`);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
  }
  assert.equal(size, 96 * 256 * 1024);
});

test("a Blob's upload reports progress as its bytes go, not once at the start", async () => {
  // Blob.stream() hands over a Blob held in memory as one chunk on Deno and
  // Node: progress said 100% before the first byte was stored.
  for (const store of ["plik", "objectstore"]) {
    const seen: number[] = [];
    const blob = new Blob([bytesOf(8 * 1024 * 1024, 9) as Uint8Array<ArrayBuffer>]);
    await smartsend("s", [["blob", blob, "binary"]], {
      is_publish: false, fileserver: stores[store], fileserver_url: plik.url, logger: quiet,
      on_progress: (p) => seen.push(p.done),
    });
    assert.ok(seen.length >= 8, `${store}: ${seen.length} progress calls for 8 MiB`);
    assert.equal(seen.at(-1), blob.size);
    assert.ok(seen.every((d, i) => i === 0 || d >= seen[i - 1]), `${store}: progress goes forward`);
  }
});

test("[objectstore] an object deleted while it is read as a stream fails PAYLOAD_GONE within seconds", async () => {
  // The read waited 30 s for chunks that no longer existed and then failed
  // DOWNLOAD_FAILED, which consumers retry.
  const [, json] = await smartsend("s", [["bin", bytesOf(24 * 1024 * 1024, 4), "binary"]], {
    is_publish: false, fileserver: stores.objectstore, logger: quiet,
  });
  const env = await smartreceive(json, { fileserver: stores.objectstore, stream: true, logger: quiet });
  const reader = (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  let got = 0;
  while (got < 4 * 1024 * 1024) got += (await reader.read()).value!.byteLength;
  await stores.objectstore.delete!(JSON.parse(json).payloads[0].data);
  const t0 = Date.now();
  const err = await rejectsWithCode(async () => {
    for (;;) if ((await reader.read()).done) break;
  }, "PAYLOAD_GONE");
  assert.ok(Date.now() - t0 < 15_000, `failed after ${Date.now() - t0} ms`);
  assert.equal(err.dataname, "bin");
});

test("[objectstore] a bucket deleted while an object of it is read fails PAYLOAD_GONE within seconds, saying so", async () => {
  // The object's deletion was noticed; the bucket's was not: the read waited
  // out its 30 s stall timer and failed DOWNLOAD_FAILED, which consumers retry.
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "gone_midread" });
  const [, json] = await smartsend("s", [["bin", bytesOf(24 * 1024 * 1024, 4), "binary"]], {
    is_publish: false, fileserver: store, logger: quiet,
  });
  const env = await smartreceive(json, { fileserver: store, stream: true, logger: quiet });
  const reader = (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
  let got = 0;
  while (got < 4 * 1024 * 1024) got += (await reader.read()).value!.byteLength;
  await (await new Objm(bridge.connection).open("gone_midread")).destroy();
  const t0 = Date.now();
  const err = await rejectsWithCode(async () => {
    for (;;) if ((await reader.read()).done) break;
  }, "PAYLOAD_GONE", /bucket "gone_midread" was deleted while it was read/);
  assert.ok(Date.now() - t0 < 15_000, `failed after ${Date.now() - t0} ms`);
  assert.equal(err.dataname, "bin");
});

test("[objectstore] a link into a bucket that was deleted is PAYLOAD_GONE at once, not retried", async () => {
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "soon_gone" });
  const [, json] = await smartsend("s", [["bin", bytesOf(600_000, 6), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
  await (await new Objm(bridge.connection).open("soon_gone")).destroy();
  const t0 = Date.now();
  await rejectsWithCode(() => smartreceive(json, { fileserver: store, logger: quiet }), "PAYLOAD_GONE", /soon_gone/);
  assert.ok(Date.now() - t0 < 1000, `failed after ${Date.now() - t0} ms`);
});

test("[objectstore] an upload into a bucket that was deleted fails at once, saying so", async () => {
  // It logged "jetstream is not enabled" while resuming four times.
  const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "gone_before_put" });
  await (await new Objm(bridge.connection).open("gone_before_put")).destroy();
  const lines: string[] = [];
  const t0 = Date.now();
  await rejectsWithCode(
    () => smartsend("s", [["bin", bytesOf(600_000, 7), "binary"]], { is_publish: false, fileserver: store, logger: { log: (_l, line) => lines.push(line) } }),
    "UPLOAD_FAILED",
    /bucket "gone_before_put" no longer exists/,
  );
  assert.ok(Date.now() - t0 < 1000, `failed after ${Date.now() - t0} ms`);
  assert.ok(!lines.some((l) => /jetstream is not enabled/.test(l)), lines.join("\n"));
});

test("[objectstore] streams of a receive that fails on another payload give back their read-ahead", async () => {
  // They were left open: each such receive kept 4 MiB of the connection's
  // 24 MiB read-ahead for good, and its consumer pulling.
  const js = jetStreamOf(bridge.connection);
  const before = reservedReadAhead(js);
  for (let i = 0; i < 3; i++) {
    const [, json] = await smartsend("s", [["a", bytesOf(2_000_000, i + 1), "binary"], ["b", "text", "text"]], {
      is_publish: false, fileserver: stores.objectstore, logger: quiet,
    });
    const bad = JSON.parse(json);
    bad.payloads[1].metadata.checksum = "0".repeat(64);
    await rejectsWithCode(() => smartreceive(bad, { fileserver: stores.objectstore, stream: true, logger: quiet }), "CHECKSUM_MISMATCH");
  }
  assert.equal(reservedReadAhead(js), before);
});

test("[objectstore] an upload whose signal aborted before it began cancels its source", async () => {
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}), cancel: () => void (cancelled = true) });
  const ac = new AbortController();
  ac.abort();
  await rejectsWithCode(
    () => stores.objectstore.uploadStream!("", "x", source, { correlationId: "c", signal: ac.signal }),
    "ABORTED",
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(cancelled, "the source was cancelled");
});

test("[objectstore] a server whose max_payload is below the chunk size gets chunks that fit", async () => {
  const small = await startNats({ config: "max_payload: 65536" });
  const nc = await Bridge.connect({ broker_url: small.url, logger: quiet });
  try {
    const store = await objectStoreFileServer({ connection: nc.connection, bucket: "small_payload" });
    const data = bytesOf(1_200_000, 4); // over the 1 MB threshold: by link
    const [, json] = await smartsend("s", [["bin", data, "binary"]], { is_publish: false, fileserver: store, logger: quiet });
    const r = await smartreceive(json, { fileserver: store, logger: quiet });
    assert.deepEqual(r.payloads[0][1], data);
    const info = (await (await new Objm(nc.connection).open("small_payload")).info(nameOf(json)))!;
    assert.ok(info.options!.max_chunk_size! <= 65536, `chunks of ${info.options!.max_chunk_size}`);
  } finally {
    await nc.close();
    await small.stop();
  }
});

test("a file or Blob whose streamed upload fails transiently is uploaded again from the start; a ReadableStream is not", async () => {
  // The real Plik store, with its first streamed upload refused after part of the stream was read.
  let attempts = 0;
  const flaky: FileServer = {
    ...stores.plik,
    async uploadStream(url, dataname, data, context) {
      if (++attempts === 1) {
        const reader = data.getReader();
        await reader.read();
        reader.releaseLock();
        throw new UploadError("Plik answered HTTP 503", { status: 503, dataname });
      }
      return await stores.plik.uploadStream!(url, dataname, data, context);
    },
  };
  const bytes = bytesOf(3_000_000, 21) as Uint8Array<ArrayBuffer>;
  const want = createHash("sha256").update(bytes).digest("hex");
  const path = join(dir, "flaky.bin");
  writeFileSync(path, bytes);
  for (const source of [path, new Blob([bytes])]) {
    attempts = 0;
    const [env, json] = await smartsend("s", [["bin", source, "binary"]], { is_publish: false, fileserver: flaky, logger: quiet });
    assert.equal(attempts, 2);
    assert.equal(env.payloads[0].metadata.checksum, want);
    assert.deepEqual((await smartreceive(json, { fileserver: stores.plik, logger: quiet })).payloads[0][1], bytes);
  }
  attempts = 0;
  await rejectsWithCode(
    () => smartsend("s", [["bin", new Blob([bytes]).stream(), "binary"]], { is_publish: false, fileserver: flaky, logger: quiet }),
    "UPLOAD_FAILED",
  );
  assert.equal(attempts, 1, "a ReadableStream cannot be read twice");
});

test("many link sends and receives at once sharing one signal add one listener to it, not one each (no MaxListenersExceededWarning on Node)", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on("warning", onWarning);
  const shutdown = new AbortController();
  try {
    for (const name of ["plik", "objectstore"]) {
      const sent = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          smartsend("s", [["bin", bytesOf(300_000, i + 1), "binary"]], {
            is_publish: false, fileserver: stores[name], size_threshold: 1000, signal: shutdown.signal, logger: quiet,
          })),
      );
      const got = await Promise.all(
        sent.map(([, json]) => smartreceive(json, { fileserver: stores[name], signal: shutdown.signal, logger: quiet })),
      );
      got.forEach((r, i) => assert.deepEqual(r.payloads[0][1], bytesOf(300_000, i + 1)));
    }
    await new Promise((r) => setTimeout(r, 50)); // warnings are emitted on the next tick
  } finally {
    process.off("warning", onWarning);
  }
  assert.deepEqual(warnings.filter((w) => /MaxListeners|listeners added/.test(w)), []);
});

test("[plik] a streamed receive aborted mid-read stops, also after the runtime collected garbage", async () => {
  // On Deno the abort reached the download only through AbortSignal.any,
  // which a collection cut: the whole stream still arrived, 5 runs out of 5.
  const size = 5_000_000;
  const [, json] = await smartsend("s", [["d", bytesOf(size, 3), "binary"]], { is_publish: false, fileserver: stores.plik, logger: quiet });
  for (let run = 0; run < 3; run++) {
    const ac = new AbortController();
    const env = await smartreceive(json, { fileserver: stores.plik, stream: true, signal: ac.signal, logger: quiet });
    const reader = (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    // An application allocating as it goes, before Cancel is pressed.
    for (let k = 0; k < 2; k++) {
      let junk: unknown[] | undefined = [];
      for (let i = 0; i < 200; i++) junk.push(new Array(10_000).fill({ i }));
      junk = undefined;
      await new Promise((r) => setTimeout(r, 25));
    }
    ac.abort();
    let after = 0;
    await rejectsWithCode(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        after += value.byteLength;
      }
    }, "ABORTED");
    assert.ok(after < size / 2, `read ${after} bytes after the abort`);
  }
});

/** Established TCP connections to `port` on loopback, as the kernel counts them (any process). */
function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)
    .filter((line) => line.trim().split(/\s+/)[1]?.endsWith(`:${hex}`) && line.trim().split(/\s+/)[3] === "01").length;
}

test("[plik] link streams dropped unread or half read let their connections go once collected", async (t) => {
  // On Node each kept its connection to the file server open for as long as
  // the process lived: a service skipping payloads it did not want ran out of
  // file descriptors.
  const gc = forcedGc();
  if (!gc) return t.skip("no way to force a garbage collection on this runtime");
  // A server of its own: the shared one's connections come and go with other tests'.
  const own = await startPlik();
  t.after(() => own.stop());
  const store = plikFileServer({ url: own.url });
  const port = Number(new URL(own.url).port);
  const [, json] = await smartsend("s", [["d", bytesOf(2_000_000, 5), "binary"]], { is_publish: false, fileserver: store, logger: quiet });
  const before = connectionsTo(port);
  // In a function of its own: a variable of this frame would keep the last stream.
  const dropOne = async (read: boolean) => {
    const env = await smartreceive(json, { fileserver: store, stream: true, logger: quiet });
    if (read) await (env.payloads[0][1] as ReadableStream<Uint8Array>).getReader().read();
  };
  for (let i = 0; i < 8; i++) await dropOne(i % 2 === 1);
  for (let i = 0; i < 100 && connectionsTo(port) > before + 1; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(connectionsTo(port) <= before + 1, `${connectionsTo(port) - before} connections to the file server left open`);
});

test("a 0-byte link payload reports progress 0 of 0 in each direction, from every source, on both stores", async () => {
  // Nothing flowed, so nothing was reported: a progress bar waiting for
  // done === total never completed.
  const path = join(dir, "empty.bin");
  writeFileSync(path, new Uint8Array(0));
  for (const name of ["plik", "objectstore"]) {
    const sources: [string, unknown][] = [
      ["bytes", new Uint8Array(0)], ["blob", new Blob([])], ["path", path],
      ["stream", new ReadableStream({ start: (c) => c.close() })],
    ];
    for (const [kind, source] of sources) {
      const ups: TransferProgress[] = [];
      const downs: TransferProgress[] = [];
      const [, json] = await smartsend("s", [["e", source, "binary"]] as never, {
        is_publish: false, fileserver: stores[name], size_threshold: 0, on_progress: (p) => ups.push(p), logger: quiet,
      });
      assert.ok(json.includes('"transport":"link"'), `${name} ${kind} went by link`);
      const env = await smartreceive(json, { fileserver: stores[name], on_progress: (p) => downs.push(p), logger: quiet });
      assert.deepEqual(env.payloads[0][1], new Uint8Array(0));
      const last = (l: TransferProgress[]) => l.at(-1) && [l.at(-1)!.done, l.at(-1)!.total];
      assert.deepEqual(last(ups), [0, 0], `${name} ${kind} upload`);
      assert.deepEqual(last(downs), [0, 0], `${name} ${kind} download`);
      const streamed: TransferProgress[] = [];
      const s = await smartreceive(json, { fileserver: stores[name], stream: true, on_progress: (p) => streamed.push(p), logger: quiet });
      assert.equal((await drain(s.payloads[0][1] as ReadableStream<Uint8Array>)).size, 0);
      assert.deepEqual(last(streamed), [0, 0], `${name} ${kind} streamed download`);
    }
  }
});

test("[plik] the browser build, which uploads a Blob or a collected stream whole, reports it done only once Plik has it", async () => {
  // Browsers cannot stream a request body, so a Blob or stream is read (and
  // hashed) first and then posted whole. The hashing pass reported its bytes
  // as uploaded: a 20 MB File reached 100% within 0.2 s of a 5 s upload.
  const browser = await withBrowserSeams(["request_streams"]);
  const size = 3 * 1024 * 1024 + 5;
  const sources: [string, () => Blob | ReadableStream<Uint8Array>][] = [
    ["blob", () => new Blob([bytesOf(size, 7) as Uint8Array<ArrayBuffer>])],
    ["stream", () => new Blob([bytesOf(size, 7) as Uint8Array<ArrayBuffer>]).stream()],
  ];
  for (const [kind, source] of sources) {
    const seen: [number, number | undefined][] = [];
    // The file's POST (a FormData body) answered: Plik has the bytes.
    let uploaded = false;
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (input, init) => {
      const res = await realFetch(input, init);
      if (init?.body instanceof FormData) uploaded = true;
      return res;
    };
    try {
      await browser.smartsend("s", [["f", source(), "binary"]] as never, {
        is_publish: false, fileserver: browser.plikFileServer({ url: plik.url }), size_threshold: 0, logger: quiet,
        on_progress: (p) => seen.push([p.done, uploaded ? p.total : -1]),
      });
    } finally {
      globalThis.fetch = realFetch;
    }
    const early = seen.filter(([done, total]) => total === -1 && done > 0);
    assert.deepEqual(early, [], `${kind}: bytes reported as uploaded before the upload ended`);
    assert.deepEqual(seen.at(-1), [size, size], kind);
  }
});

test("the browser build says that a file server it cannot reach may be one whose CORS headers refuse the page", async () => {
  // A browser reports both as the same bare TypeError ("Failed to fetch").
  const browser = await withBrowserSeams(["fetch_failures"]);
  const closed = `http://127.0.0.1:${await freePort()}`;
  await assert.rejects(
    browser.smartsend("s", [["f", new Uint8Array(10), "binary"]], {
      is_publish: false, fileserver: browser.plikFileServer({ url: closed }), size_threshold: 0, logger: quiet,
    }),
    (err: Error & { code?: string }) => err.code === "UPLOAD_FAILED" && /Cannot reach the Plik server.*CORS/.test(err.message),
  );
  const [, json] = await smartsend("s", [["f", new Uint8Array(10), "binary"]], {
    is_publish: false, fileserver: stores.plik, size_threshold: 0, logger: quiet,
  });
  const moved = json.replace(plik.url, closed);
  await assert.rejects(
    browser.smartreceive(moved, { fileserver_url: closed, max_retries: 1, logger: quiet }),
    (err: Error & { code?: string }) => err.code === "DOWNLOAD_FAILED" && /CORS/.test(err.message),
  );
  // Outside browsers the error says what it is, with no such hint.
  await assert.rejects(
    smartreceive(moved, { fileserver_url: closed, max_retries: 1, logger: quiet }),
    (err: Error & { code?: string }) => err.code === "DOWNLOAD_FAILED" && !/CORS/.test(err.message),
  );
});

test("[plik] link payloads under 1 MiB sent at once do not each hold copies of their bytes", async () => {
  // Below 1 MiB each upload attempt copied its bytes into a Blob and then a
  // multipart body, outside the JS heap: 300 sends of 600 KB at once held
  // 340-380 MiB more than idle (the bytes themselves are held once, 0.6 MB).
  const data = bytesOf(600_000, 14);
  const send = () => smartsend("s", [["b", data, "binary"]], { is_publish: false, fileserver_url: plik.url, logger: quiet });
  await Promise.all(Array.from({ length: 20 }, send)); // warm: connections, pool, code
  const idle = process.memoryUsage().rss;
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    await Promise.all(Array.from({ length: 300 }, send));
  } finally {
    clearInterval(sampler);
  }
  const grew = (peak - idle) / 1048576;
  assert.ok(grew < 250, `300 sends of 600 KB at once held ${grew.toFixed(0)} MiB more than idle`);
});
