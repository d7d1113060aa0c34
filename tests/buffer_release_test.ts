/**
 * Buffers natsbridge made for an upload are freed as soon as they are done
 * with (engine/platform/buffer_release.ts), and an application's never are.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Bridge, type FileServer, OBJECT_CHUNK_SIZE, objectStoreFileServer, plikFileServer, smartreceive } from "natsbridge";
import { startNats, startPlik } from "../scripts/servers.ts";
import { bytesOf, concatBytes, freedDuring, NO_TRANSFER, readByob } from "./_helpers.ts";

const nats = await startNats();
const plik = await startPlik();
const quiet = { log() {} };
const bridge = await Bridge.connect({ broker_url: nats.url, logger: quiet });
const store = await objectStoreFileServer({ connection: bridge.connection, bucket: "release", ttl: 600 });
const dir = mkdtempSync(join(tmpdir(), "natsbridge-release-"));
const MiB = 1024 * 1024;

after(async () => {
  await bridge.close();
  await nats.stop();
  await plik.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("[objectstore] a file and a Blob sent by link have their read buffers and publish frames freed once stored, and arrive whole", { skip: NO_TRANSFER }, async () => {
  const data = bytesOf(3 * MiB + 12_345, 4);
  const path = join(dir, "file.bin");
  writeFileSync(path, data);
  const sub = bridge.subscribe("release.file", { receive: { fileserver: store } });
  const it = sub[Symbol.asyncIterator]();
  const freed = await freedDuring(() =>
    bridge.send("release.file", [
      ["file", path, "binary"],
      ["blob", new Blob([data as Uint8Array<ArrayBuffer>]), "binary"],
    ], { fileserver: store })
  );
  // Three whole 1 MiB reads of each source (the last, partial read is left to the GC).
  assert.equal(freed.filter((n) => n === MiB).length, 6, `freed: ${freed.join(", ")}`);
  // Each 256 KiB chunk went out in a frame of its own packing, freed once written.
  assert.ok(freed.filter((n) => n > 256 * 1024 && n < 256 * 1024 + 1024).length >= 24, `freed: ${freed.join(", ")}`);
  const env = (await it.next()).value!;
  assert.equal(sha(env.payloads[0][1] as Uint8Array), sha(data));
  assert.equal(sha(env.payloads[1][1] as Uint8Array), sha(data));
  await it.return?.();
});

test("an application's buffers are never freed: bytes, a stream's chunks, a stream a custom handler tees, a payload published on the connection", async () => {
  const bytes = bytesOf(2 * MiB, 1);
  // Whole chunks of the store's size: what an owned stream's would be freed as.
  const chunks = [0, 1, 2, 3, 4].map((i) => bytesOf(OBJECT_CHUNK_SIZE, 10 + i));
  const kept = [bytes, ...chunks];
  const before = kept.map(sha);
  const path = join(dir, "teed.bin");
  writeFileSync(path, bytesOf(2 * MiB + 7, 2));
  const teedChunks: Uint8Array[] = [];
  const teeing: FileServer = {
    ...store,
    uploadStream: (url, dataname, stream, context) => {
      const [mine, theirs] = stream.tee();
      void (async () => {
        for await (const c of theirs as unknown as AsyncIterable<Uint8Array>) teedChunks.push(c);
      })();
      return store.uploadStream!(url, dataname, mine, context);
    },
  };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === chunks.length) return c.close();
      c.enqueue(chunks[i++]);
    },
  });
  const [, json] = await bridge.send("release.app", [
    ["bytes", bytes, "binary"],
    ["stream", stream, "binary"],
  ], { fileserver: store, is_publish: false });
  const [, teedJson] = await bridge.send("release.app", [["file", path, "binary"]], { fileserver: teeing, is_publish: false });
  const got = new Promise<Uint8Array>((resolve) => {
    const s = bridge.connection.subscribe("release.raw", { max: 1, callback: (_e, m) => resolve(m.data) });
    void s;
  });
  const published = bytesOf(100_000, 3);
  kept.push(published);
  before.push(sha(published));
  bridge.connection.publish("release.raw", published);
  await bridge.connection.flush();
  assert.equal(sha(await got), sha(published));
  assert.deepEqual(kept.map(sha), before);
  const r = await smartreceive(json, { fileserver: store, logger: quiet });
  assert.equal(sha(r.payloads[0][1] as Uint8Array), before[0]);
  assert.equal((r.payloads[1][1] as Uint8Array).byteLength, 5 * OBJECT_CHUNK_SIZE);
  const teed = await smartreceive(teedJson, { fileserver: store, logger: quiet });
  const total = teedChunks.reduce((n, c) => n + c.byteLength, 0);
  assert.equal(total, 2 * MiB + 7, "the teed branch kept every byte");
  assert.equal((teed.payloads[0][1] as Uint8Array).byteLength, 2 * MiB + 7);
});

test("[objectstore] a link payload received whole has each chunk nats.js assembled freed once copied, and arrives intact", { skip: NO_TRANSFER }, async () => {
  const data = bytesOf(3 * MiB + 999, 5);
  const [, json] = await bridge.send("release.down", [["d", data, "binary"]], { fileserver: store, is_publish: false });
  let got: Uint8Array | undefined;
  const freed = await freedDuring(async () => {
    got = (await smartreceive(json, { fileserver: store, logger: quiet })).payloads[0][1] as Uint8Array;
  });
  assert.equal(sha(got!), sha(data));
  assert.ok(freed.filter((n) => n === OBJECT_CHUNK_SIZE).length >= 12, `freed: ${freed.join(", ")}`);
});

test("[objectstore] a link payload read as a stream into the receiver's own buffer has each chunk nats.js assembled freed once copied", { skip: NO_TRANSFER }, async () => {
  const data = bytesOf(3 * MiB + 999, 7);
  const [, json] = await bridge.send("release.byob", [["d", data, "binary"]], { fileserver: store, is_publish: false });
  const h = createHash("sha256");
  const freed = await freedDuring(async () => {
    const r = await smartreceive(json, { fileserver: store, logger: quiet, stream: true });
    for (const part of await readByob(r.payloads[0][1] as ReadableStream<Uint8Array>, 100_000)) h.update(part);
  });
  assert.equal(h.digest("hex"), sha(data));
  assert.ok(freed.filter((n) => n === OBJECT_CHUNK_SIZE).length >= 12, `freed: ${freed.join(", ")}`);
});

test("[objectstore] chunks of a link payload received as a stream are the application's: none is freed, however long it keeps them", async () => {
  const data = bytesOf(2 * MiB + 5, 6);
  const [, json] = await bridge.send("release.stream", [["d", data, "binary"]], { fileserver: store, is_publish: false });
  const r = await smartreceive(json, { fileserver: store, logger: quiet, stream: true });
  const chunks: Uint8Array[] = [];
  for await (const c of r.payloads[0][1] as AsyncIterable<Uint8Array>) chunks.push(c);
  assert.equal(chunks.reduce((n, c) => n + c.byteLength, 0), data.byteLength);
  const whole = new Uint8Array(data.byteLength);
  let at = 0;
  for (const c of chunks) {
    whole.set(c, at);
    at += c.byteLength;
  }
  assert.equal(sha(whole), sha(data));
});

/** Reads `stream` whole, with a BYOB reader of 64 KiB or a default one. */
async function readAll(stream: ReadableStream<Uint8Array>, byob: boolean): Promise<Uint8Array> {
  if (byob) return concatBytes(await readByob(stream, 64 * 1024));
  const parts: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return concatBytes(parts);
}

for (const byob of [true, false]) {
  test(`[objectstore] a fileserver wrapping the Object Store that tees each download keeps its branch whole while the receiver reads the other (${byob ? "BYOB" : "default"} reader)`, async () => {
    const data = bytesOf(MiB + 17, byob ? 8 : 9);
    const branches: Promise<Uint8Array[]>[] = [];
    const wrapper: FileServer = {
      ...store,
      downloadStream: async (...args: Parameters<NonNullable<FileServer["downloadStream"]>>) => {
        const [mine, theirs] = (await store.downloadStream!(...args)).tee();
        branches.push((async () => {
          const kept: Uint8Array[] = [];
          for await (const c of theirs as unknown as AsyncIterable<Uint8Array>) kept.push(c);
          return kept;
        })());
        return mine;
      },
    };
    const [, json] = await bridge.send("release.tee", [["d", data, "binary"]], { fileserver: wrapper, is_publish: false });
    const r = await smartreceive(json, { fileserver: wrapper, logger: quiet, stream: true });
    assert.equal(sha(await readAll(r.payloads[0][1] as ReadableStream<Uint8Array>, byob)), sha(data));
    const kept = await branches[0];
    assert.equal(kept.reduce((n, c) => n + c.byteLength, 0), data.byteLength, "the wrapper's branch kept every byte");
  });
}

test("[objectstore] a download stream an application tees and uploads elsewhere leaves its own branch whole", async () => {
  const other = await objectStoreFileServer({ connection: bridge.connection, bucket: "release_copy", ttl: 600 });
  const data = bytesOf(2 * MiB, 10);
  const [env] = await bridge.send("release.copy", [["d", data, "binary"]], { fileserver: store, is_publish: false });
  const source = await store.downloadStream!(env.payloads[0].data as string, 0, 100, 1000, "c-copy", { dataname: "d" });
  const [up, mine] = source.tee();
  const kept: Uint8Array[] = [];
  const keeping = (async () => {
    for await (const c of mine as unknown as AsyncIterable<Uint8Array>) kept.push(c);
  })();
  const [copied] = await bridge.send("release.copy", [["d", up, "binary"]], { fileserver: other, is_publish: false });
  await keeping;
  assert.equal(copied.payloads[0].metadata.checksum, sha(data));
  assert.equal(kept.reduce((n, c) => n + c.byteLength, 0), data.byteLength, "the application's branch kept every byte");
});

/** Whether this runtime's fetch hands a body out as a byte stream, whose chunks are then the reader's alone (not Bun's). */
async function fetchBodyIsByteStream(url: string): Promise<boolean> {
  const res = await fetch(url);
  try {
    res.body!.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  } finally {
    await res.body?.cancel();
  }
}

test("[plik] a link payload read as a stream into the receiver's own buffer has each chunk of the HTTP body freed once copied, where the body is a byte stream", { skip: NO_TRANSFER }, async () => {
  const plikStore = plikFileServer({ url: plik.url });
  const data = bytesOf(4 * MiB + 3, 11);
  const [env, json] = await bridge.send("release.plik", [["d", data, "binary"]], { fileserver: plikStore, is_publish: false });
  const h = createHash("sha256");
  const freed = await freedDuring(async () => {
    const r = await smartreceive(json, { fileserver: plikStore, logger: quiet, stream: true });
    for (const part of await readByob(r.payloads[0][1] as ReadableStream<Uint8Array>, 100_000)) h.update(part);
  });
  assert.equal(h.digest("hex"), sha(data));
  const total = freed.reduce((n, b) => n + b, 0);
  if (await fetchBodyIsByteStream(env.payloads[0].data as string)) {
    assert.ok(total >= data.byteLength / 2, `freed ${total} of ${data.byteLength} bytes`);
  } else {
    assert.equal(total, 0, "a body that is not a byte stream may share its chunks: none is freed");
  }
});

