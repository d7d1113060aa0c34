import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CodecPool, NatsBridgeError, smartreceive, smartsend } from "natsbridge";
import { bytesOf, rejectsWithCode } from "./_helpers.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("CodecPool keeps small tasks inline and sends large owned buffers to a worker by transfer", async () => {
  const pool = new CodecPool({ maxThreads: 1, offload_threshold: 1024 });
  try {
    const small = bytesOf(100);
    assert.equal((await pool.checksum(small, { owned: true })).checksum, sha(small));
    assert.equal(pool.offloaded, 0);

    const big = bytesOf(4 * 1024 * 1024).slice();
    const expected = sha(big);
    const copy = big.slice();
    const r = await pool.checksum(big, { owned: true });
    assert.equal(r.checksum, expected);
    assert.equal(pool.offloaded, 1);
    assert.equal(big.byteLength, 0, "the source buffer was transferred, not copied");
    assert.deepEqual(r.bytes, copy, "and came back intact");

    const enc = await pool.encodeDirect(copy.slice(), { owned: true, checksum: true });
    assert.equal(enc.checksum, expected);
    assert.equal(enc.base64, Buffer.from(copy).toString("base64"));
    const dec = await pool.decodeDirect(enc.base64);
    assert.equal(dec.checksum, expected);
    assert.deepEqual(dec.bytes, copy);
    assert.equal(pool.offloaded, 3);
  } finally {
    await pool.destroy();
  }
});

test("CodecPool never detaches an application's buffer", async () => {
  const pool = new CodecPool({ maxThreads: 1, offload_threshold: 1024 });
  try {
    const user = bytesOf(3 * 1024 * 1024 + 17);
    const r = await pool.checksum(user, { owned: false });
    assert.equal(user.byteLength, 3 * 1024 * 1024 + 17);
    assert.equal(r.checksum, sha(user));
    const e = await pool.encodeDirect(user, { owned: false, checksum: true });
    assert.equal(e.checksum, sha(user));
    assert.equal(user.byteLength, 3 * 1024 * 1024 + 17);
  } finally {
    await pool.destroy();
  }
});

test("CodecPool with maxThreads 0 runs everything inline with the same results", async () => {
  const pool = new CodecPool({ maxThreads: 0, offload_threshold: 1 });
  const b = bytesOf(2 * 1024 * 1024);
  const e = await pool.encodeDirect(b.slice(), { owned: true, checksum: true });
  assert.equal(e.checksum, sha(b));
  assert.equal(pool.offloaded, 0);
  await assert.rejects(() => pool.decodeDirect("a$b="), /base64/i);
});

test("a receive that verifies no checksum hashes nothing (verify_checksum: false, or none announced)", async () => {
  const { smartreceive, smartsend } = await import("natsbridge");
  class CountingPool extends CodecPool {
    hashed = 0;
    override checksum(bytes: Uint8Array, options: { owned: boolean }) {
      this.hashed++;
      return super.checksum(bytes, options);
    }
    override decodeDirectSync(text: string, options: { checksum?: boolean } = {}) {
      const r = super.decodeDirectSync(text, options);
      if (r?.checksum !== undefined) this.hashed++;
      return r;
    }
  }
  const pool = new CountingPool({ maxThreads: 0 });
  const [, withSum] = await smartsend("s", [["b", bytesOf(10_240), "binary"]], { is_publish: false });
  const [, noSum] = await smartsend("s", [["b", bytesOf(10_240), "binary"]], { is_publish: false, checksum: false });
  await smartreceive(withSum, { verify_checksum: false, pool });
  await smartreceive(noSum, { pool });
  assert.equal(pool.hashed, 0);
  await smartreceive(withSum, { pool });
  assert.equal(pool.hashed, 1);
});

test("CodecPool options out of range are INVALID_OPTION at construction, not a failure on the first large payload", async () => {
  // maxThreads "2" or idleTimeout -5 were accepted and failed later, inside
  // piscina, as DECODE_FAILED "not valid base64"; -1 and NaN silently ran inline.
  for (const options of [
    { maxThreads: "2" }, { maxThreads: -1 }, { maxThreads: NaN }, { maxThreads: 1.5 },
    { idleTimeout: -5 }, { idleTimeout: NaN }, { offload_threshold: -1 }, { offload_threshold: "1" },
  ]) {
    await rejectsWithCode(() => new CodecPool(options as never), "INVALID_OPTION", new RegExp(Object.keys(options)[0]));
  }
  new CodecPool({ maxThreads: 0, idleTimeout: 0, offload_threshold: 0 });
  // offloadThreshold was ignored: the pool kept its default cutoff.
  await rejectsWithCode(() => new CodecPool({ offloadThreshold: 1 } as never), "INVALID_OPTION", /"offloadThreshold" \(did you mean "offload_threshold"\?\)/);
  // null from plain JavaScript: no options (it was a TypeError).
  await new CodecPool(null as never).destroy();
  // A string cap was a plain RangeError, with no code.
  const { setMaxArrowDecompressedBytes } = await import("../engine/codecs/arrow_compression.ts");
  await rejectsWithCode(() => setMaxArrowDecompressedBytes("100" as never), "INVALID_OPTION", /non-negative integer of bytes, got 100/);
});

test("a worker that fails is WORKER_FAILED on send and receive, not corrupt data or a plain Error", async () => {
  // Its failure was reported as DECODE_FAILED "not valid base64" on receive,
  // which consume dead-letters as permanent, and escaped send as a plain Error.
  const pool = new CodecPool({ maxThreads: 1, offload_threshold: 1024 });
  const big = "x".repeat(300_000);
  const [, json] = await smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: { log() {} } });
  const sends = Array.from({ length: 4 }, () => smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: { log() {} } }));
  const receives = Array.from({ length: 4 }, () => smartreceive(json, { pool, logger: { log() {} } }));
  const outcomes = Promise.allSettled([...sends, ...receives]); // handled before they fail
  await new Promise((r) => setTimeout(r, 0));
  await pool.destroy();
  const settled = await outcomes;
  const failures = settled.filter((s) => s.status === "rejected").map((s) => (s as PromiseRejectedResult).reason);
  assert.ok(failures.length > 0, "destroy() failed some tasks in flight");
  for (const e of failures) {
    assert.ok(e instanceof NatsBridgeError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, "WORKER_FAILED", e.message);
    assert.notEqual(e.correlationId, "");
  }
  // The pool starts again on the next task.
  assert.equal((await smartreceive(json, { pool })).payloads[0][1], big);
  await pool.destroy();
});

test("a codec worker that dies mid-task fails only its own task; the tasks queued behind it, or behind one dying as it starts, run on a new worker", async () => {
  // They waited for the next task to start a worker (piscina keeps no minimum
  // here), and on Deno piscina handed one to the dead worker and its assertion
  // ended the process. Terminated from outside, as a crash or an OOM would.
  const wt = (await import("node:worker_threads")).default as { Worker: typeof import("node:worker_threads").Worker };
  const Original = wt.Worker;
  const started: InstanceType<typeof Original>[] = [];
  wt.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      started.push(this);
    }
  };
  const pool = new CodecPool({ maxThreads: 1, offload_threshold: 1024 });
  const quiet = { log() {} };
  try {
    const big = "x".repeat(300_000);
    await smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: quiet });
    assert.equal(started.length, 1, "the pool started its worker");
    const sends = Array.from({ length: 5 }, () => smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: quiet }));
    const settled = Promise.allSettled(sends.map((s) =>
      Promise.race([s, new Promise((_, reject) => setTimeout(() => reject(new Error("still pending after 10 s")), 10_000))])
    ));
    await new Promise((r) => setImmediate(r));
    await started[0].terminate();
    const outcomes = await settled;
    const failed = outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason);
    for (const e of failed) assert.equal(e.code, "WORKER_FAILED", e.message);
    assert.ok(failed.length <= 1, `${failed.length} of 5 sends failed: ${failed.map((e) => e.message).join("; ")}`);
    assert.equal((await smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: quiet }))[0].payloads.length, 1);
    // A worker that dies while it starts, before any task reached it: the task
    // waited in the queue for a worker none would start.
    await pool.destroy();
    const before = started.length;
    const send = smartsend("s", [["t", big, "text"]], { is_publish: false, pool, logger: quiet });
    await new Promise((r) => setImmediate(r));
    assert.equal(started.length, before + 1, "a worker was started for the send");
    await started[before].terminate();
    const outcome = await Promise.race([
      send.then(() => "sent", (e) => e.code),
      new Promise((r) => setTimeout(() => r("still pending after 10 s"), 10_000)),
    ]);
    assert.equal(outcome, "sent");
  } finally {
    wt.Worker = Original;
    await pool.destroy();
  }
});

test("a direct payload too long for a base64 string is INVALID_INPUT from a worker too, not WORKER_FAILED", async () => {
  // Thrown in the worker, the payload's fault was reported as the pool's (nak
  // rather than dead-letter, says the README). Bun's strings hold it: sent.
  const pool = new CodecPool({ maxThreads: 1 });
  try {
    const text = "a".repeat(420_000_000); // base64: 560 M characters, past V8's longest string
    const outcome = await smartsend("s", [["t", text, "text"]], { is_publish: false, size_threshold: 1e9, pool, logger: { log() {} } })
      .then(() => "sent", (e) => e.code);
    assert.ok(outcome === "INVALID_INPUT" || (outcome === "sent" && "Bun" in globalThis), outcome);
  } finally {
    await pool.destroy();
  }
});

test("a pool loaded from a URL that is not a file (Deno from JSR) codes inline instead of crashing", async () => {
  // piscina takes every worker URL for a path: https://jsr.io/…/codec_worker.ts
  // became file:///cwd/https:/…, and the first 256 KiB payload killed the process.
  const { workersLoadableFrom } = await import("../workers/pool.ts");
  assert.equal(workersLoadableFrom("file:///app/node_modules/natsbridge/workers/pool.ts"), true);
  assert.equal(workersLoadableFrom("https://jsr.io/@natsbridge/natsbridge/0.1.0/workers/pool.ts"), false);
  assert.equal(workersLoadableFrom("http://127.0.0.1:8000/workers/pool.ts"), false);
});
