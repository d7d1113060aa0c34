/**
 * The stream a receiver is handed for a payload (engine/payload_stream.ts):
 * a byte stream that a reader may read into its own buffer, that hands over
 * without a copy only what natsbridge alone holds, and frees such chunks
 * once a reader's buffer has taken them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { payloadStream, payloadStreamOf, verifiedStream, watchPayloadStream } from "../engine/payload_stream.ts";
import { ownStream } from "../engine/platform/buffer_release.ts";
import { bytesOf, concatBytes, NO_TRANSFER, readByob, rejectsWithCode } from "./_helpers.ts";

/** A default stream of exactly these chunks. */
function chunksOf(chunks: unknown[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === chunks.length) c.close();
      else c.enqueue(chunks[i++] as Uint8Array);
    },
  }, { highWaterMark: 0 });
}

test("a BYOB reader gets every byte whatever its buffer's size against the chunks'", async () => {
  const data = bytesOf(300_001, 3);
  const cuts = [0, 1, 65_536, 65_537, 200_000, 299_999, 300_001];
  for (const size of [1, 7, 4096, 65_536, 1_000_000]) {
    const chunks = cuts.slice(1).map((end, i) => data.subarray(cuts[i], end));
    const reads = await readByob(payloadStream(chunksOf(chunks)), size);
    assert.deepEqual(concatBytes(reads), data, `buffer of ${size} bytes`);
    assert.ok(reads.every((r) => r.byteLength > 0 && r.byteLength <= size), `buffer of ${size} bytes: no empty or overlong read`);
  }
});

test("a default reader gets a copy of a chunk others may hold, and the owner's chunk stays intact", async () => {
  const read = bytesOf(1000, 4);
  const expected = read.slice();
  const chunks = [read.subarray(0, 400), read.subarray(400)];
  const got: Uint8Array[] = [];
  for await (const c of payloadStream(chunksOf(chunks)) as unknown as AsyncIterable<Uint8Array>) got.push(c);
  assert.deepEqual(concatBytes(got), expected);
  assert.equal(read.byteLength, 1000, "the source's buffer was not taken over");
  assert.deepEqual(read, expected);
});

test("a chunk that is a Node Buffer view is copied too (Buffer's slice is a view), leaving the rest of its buffer whole", async () => {
  const read = Buffer.from(bytesOf(1000, 11));
  const expected = Uint8Array.from(read);
  const got: Uint8Array[] = [];
  for await (const c of payloadStream(chunksOf([read.subarray(0, 300)])) as unknown as AsyncIterable<Uint8Array>) got.push(c);
  assert.deepEqual(concatBytes(got), expected.subarray(0, 300));
  assert.equal(read.byteLength, 1000, "the buffer the view is of was not taken over");
  assert.deepEqual(Uint8Array.from(read), expected);
});

test("a default reader gets a chunk of a stream natsbridge alone reads without a copy", async () => {
  const chunk = bytesOf(5000, 5);
  const expected = chunk.slice();
  const reader = payloadStream(ownStream(chunksOf([chunk]))).getReader();
  const { value } = await reader.read();
  assert.deepEqual(value, expected);
  assert.equal(chunk.byteLength, 0, "the chunk's buffer moved to the reader");
});

test("a BYOB reader frees each chunk of a stream natsbridge alone reads once its last byte is copied out, and no other", { skip: NO_TRANSFER }, async () => {
  const mine = [bytesOf(3000, 6), bytesOf(3000, 7)];
  const expected = concatBytes(mine);
  const reader = payloadStream(ownStream(chunksOf(mine))).getReader({ mode: "byob" });
  const got: Uint8Array[] = [];
  let r = await reader.read(new Uint8Array(2000));
  got.push(r.value!);
  assert.equal(mine[0].byteLength, 3000, "kept while 1000 of its bytes are still to be read");
  r = await reader.read(new Uint8Array(2000));
  got.push(r.value!);
  assert.equal(mine[0].byteLength, 0, "freed once read to its end");
  for (;;) {
    r = await reader.read(new Uint8Array(2000));
    if (r.done) break;
    got.push(r.value!);
  }
  assert.deepEqual(concatBytes(got), expected);
  assert.equal(mine[1].byteLength, 0);

  // The same chunks from a stream anyone may read (a tee() branch of it shares them) stay.
  const theirs = [bytesOf(3000, 8)];
  const [branch, other] = chunksOf(theirs).tee();
  assert.deepEqual(concatBytes(await readByob(payloadStream(branch), 2000)), bytesOf(3000, 8));
  assert.equal(theirs[0].byteLength, 3000, "a chunk others may hold is never freed");
  assert.deepEqual((await other.getReader().read()).value, bytesOf(3000, 8));
});

test("a chunk that is not bytes errors the stream with DOWNLOAD_FAILED naming the payload", async () => {
  for (const bad of ["text", [1, 2], new ArrayBuffer(4)]) {
    const stream = payloadStream(chunksOf([new Uint8Array(3), bad]), {}, { correlationId: "c-1", dataname: "scan" });
    const err = await rejectsWithCode(() => new Response(stream).arrayBuffer(), "DOWNLOAD_FAILED");
    assert.match(err.message, /"scan"/);
    assert.equal((err as { correlationId?: string }).correlationId, "c-1");
  }
});

test("a verified stream read into a reader's buffer still errors at its end on a checksum or size mismatch", async () => {
  const data = bytesOf(10_000, 9);
  const ctx = { correlationId: "c-2", dataname: "d" };
  const bad = verifiedStream(chunksOf([data]), { ...ctx, size: data.byteLength, checksum: "0".repeat(64) });
  await rejectsWithCode(() => readByob(bad, 4096), "CHECKSUM_MISMATCH");
  const short = verifiedStream(chunksOf([data]), { ...ctx, size: data.byteLength + 1, checksum: undefined });
  await rejectsWithCode(() => readByob(short, 4096), "SIZE_MISMATCH");
  const long = verifiedStream(chunksOf([data, data]), { ...ctx, size: data.byteLength, checksum: undefined });
  await rejectsWithCode(() => readByob(long, 65_536), "PAYLOAD_TOO_LARGE");
});

test("a watched stream reports the error a read raised, and stop ends it for a reader that holds it", async () => {
  const errors: unknown[] = [];
  const bad = verifiedStream(chunksOf([new Uint8Array(10)]), { correlationId: "c", dataname: "d", size: 11, checksum: undefined });
  watchPayloadStream(bad, (e) => errors.push(e));
  await rejectsWithCode(() => readByob(bad, 64), "SIZE_MISMATCH");
  assert.equal(errors.length, 1);

  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}), cancel: () => void (cancelled = true) });
  const stream = verifiedStream(endless, { correlationId: "c", dataname: "e", size: 100, checksum: undefined });
  const seen: unknown[] = [];
  const stop = watchPayloadStream(stream, (e) => seen.push(e));
  const reader = stream.getReader({ mode: "byob" });
  const pending = reader.read(new Uint8Array(16));
  await stop();
  assert.equal((await pending).done, true, "the waiting read ends");
  assert.ok(cancelled, "the download was cancelled");
  assert.deepEqual(seen, [], "an end asked for is no error");
});

test("bytes already received read as a stream either way, and the bytes are not taken over", async () => {
  const data = bytesOf(70_000, 10);
  assert.deepEqual(concatBytes(await readByob(payloadStreamOf(data), 4096)), data);
  assert.deepEqual(new Uint8Array(await new Response(payloadStreamOf(data)).arrayBuffer()), data);
  assert.equal(data.byteLength, 70_000);
  assert.deepEqual(await readByob(payloadStreamOf(new Uint8Array(0)), 16), []);
});

test("where the runtime has no byte streams (Safari before 26.4), a default stream hands over the same chunks, checked the same way", async () => {
  const read = bytesOf(1000, 12);
  const expected = read.slice();
  const chunks = [read.subarray(0, 400), read.subarray(400)];
  const got: Uint8Array[] = [];
  const stream = payloadStream(chunksOf(chunks), {}, {}, false);
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) got.push(c);
  assert.deepEqual(concatBytes(got), expected);
  assert.equal(got[0].buffer, read.buffer, "handed over as they came: a default stream takes nothing over");
  const bad = payloadStream(chunksOf([read]), { end() { throw new Error("checked at the end"); } }, {}, false);
  await assert.rejects(new Response(bad).arrayBuffer(), /checked at the end/);
});
